import { chmodSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createClient } from "redis";
import {
  BENCH_DIST,
  ratio,
  scratchDir,
  startRedis,
  startServer,
  startTracker,
  type BenchContext,
  type Started,
  type Table,
  type Workload,
} from "./bench.js";
import { freePort } from "../../src/net/ports.js";
import { totalCpuSeconds } from "./processCpu.js";
import { buildUdpLoad, combineUdp, runUdpLoad, type UdpLoadResult } from "./udpLoad.js";
import { mixInfoHash, type Mix } from "./wrk.js";

/** The HTTP throughput workload's mix: 10 transfers, 4,000 hosts in 100 racks. */
const MIX: Mix = { transfers: 10, hosts: 4000, racks: 100 };
/** Saturated: 32 announces in flight, as wrk's 32 connections. */
const SOCKETS = 32;
const PEER_TTL = 90;

/** A UDP server under test: its addresses and the processes whose CPU time is measured. */
interface Target {
  readonly name: string;
  start(): Promise<{ ports: number[]; pids: number[]; stop(): Promise<void> }>;
}

const ms = (us: number) => (us / 1000).toFixed(2);

/**
 * UDP (BEP 15) announces: rate, latency and CPU per announce of p2ptracker (1 and 2
 * replicas), opentracker and a bare node:dgram floor under the HTTP workload's announce
 * mix, saturated and at one fixed rate for all.
 */
export const udp: Workload = {
  name: "udp",
  description: "UDP (BEP 15) announces: p2ptracker ×1/×2, opentracker, bare node:dgram; saturated and at a fixed rate",
  async run(context: BenchContext): Promise<Table[]> {
    const seconds = context.quick ? 1 : 10;
    const warmup = context.quick ? 0.5 : 2;
    const fixedRate = context.quick ? 500 : 1000;
    const binary = buildUdpLoad(context);
    const redis = await startRedis(context);
    const admin = createClient({ url: `redis://127.0.0.1:${redis.port}` });
    await admin.connect();
    const redisPid = redis.process.pid!;

    const p2ptracker = (replicas: number): Target => ({
      name: replicas === 1 ? "p2ptracker" : `p2ptracker ×${replicas}`,
      async start() {
        await admin.flushAll();
        const ports = await Promise.all(Array.from({ length: replicas }, () => freePort()));
        // Started together: a replica takes seconds to boot on a slow machine.
        const trackers: Started[] = await Promise.all(
          ports.map((port) =>
            startTracker(`redis://127.0.0.1:${redis.port}`, {
              UDP_PORT: String(port),
              AUTO_ACTIVATE: "true",
              // Racks come from the announce's ip field, as the HTTP workload's come from X-Forwarded-For.
              ACCEPT_IP_PARAM: "true",
              // As in the HTTP workload: hosts are picked in turn, so a representative announces a
              // given transfer far less often than every REP_INTERVAL; leases live as long as peers.
              LEASE_TTL: String(PEER_TTL),
            }),
          ),
        );
        return {
          ports,
          pids: trackers.map((t) => t.child.pid!),
          stop: async () => void (await Promise.all(trackers.map((t) => t.stop()))),
        };
      },
    });
    // opentracker drops root before it reads its whitelist: the file must be world-readable.
    const whitelistDir = scratchDir(context, "opentracker-udp");
    chmodSync(whitelistDir, 0o755);
    chmodSync(context.workDir, 0o755);
    const whitelist = join(whitelistDir, "whitelist.txt");
    const hashes = Array.from({ length: MIX.transfers }, (_, t) => mixInfoHash(t).toString("hex"));
    writeFileSync(whitelist, `${hashes.join("\n")}\n`, { mode: 0o644 });
    const opentracker: Target = {
      name: "opentracker",
      async start() {
        const port = await freePort();
        // -P: its UDP port (and TCP on -p, which startServer waits for).
        const args = [
          "-i",
          "127.0.0.1",
          "-p",
          String(port),
          "-P",
          String(port),
          "-w",
          whitelist,
          "-d",
          "/",
          "-u",
          "nobody",
        ];
        const server = await startServer("opentracker", "opentracker", args, port);
        return { ports: [port], pids: [server.child.pid!], stop: () => server.stop() };
      },
    };
    const floor: Target = {
      name: "bare node:dgram",
      async start() {
        const port = await freePort();
        const child = spawn(process.execPath, [join(BENCH_DIST, "servers/bareDgram.js"), String(port)], {
          stdio: "ignore",
        });
        const exited = new Promise((done) => child.once("exit", done));
        // The load generator retries its connects for 5 s: enough for the floor to bind.
        return {
          ports: [port],
          pids: [child.pid!],
          stop: async () => {
            child.kill("SIGTERM");
            await exited;
          },
        };
      },
    };
    const targets = [p2ptracker(1), p2ptracker(2), opentracker, floor];

    interface Row {
      readonly result: UdpLoadResult;
      readonly serverUs: number;
      readonly redisUs?: number;
    }
    const rows = new Map<string, Row>();
    const paced = `${fixedRate}/s`;
    try {
      for (const target of targets) {
        context.progress(`udp: ${target.name}`);
        const running = await target.start();
        try {
          const runAll = (secs: number, rate: number) =>
            Promise.all(
              running.ports.map((port) =>
                runUdpLoad(binary, {
                  host: "127.0.0.1",
                  port,
                  mix: MIX,
                  seconds: secs,
                  rate: rate / running.ports.length,
                  sockets: Math.max(1, Math.floor((rate > 0 ? 16 : SOCKETS) / running.ports.length)),
                  // Open loop: room for replies that lag; closed loop: one announce in flight per socket.
                  window: rate > 0 ? 256 : 1,
                }),
              ),
            ).then((rs) => rs.reduce(combineUdp));
          await runAll(warmup, 0);
          for (const [mode, rate] of [
            ["saturated", 0],
            [paced, fixedRate],
          ] as const) {
            const serverBefore = totalCpuSeconds(running.pids);
            const redisBefore = totalCpuSeconds([redisPid]);
            const result = await runAll(seconds, rate);
            const per = (cpu: number) => (1e6 * cpu) / Math.max(1, result.answered);
            const ownsRedis = target.name.startsWith("p2ptracker");
            rows.set(`${target.name}|${mode}`, {
              result,
              serverUs: per(totalCpuSeconds(running.pids) - serverBefore),
              ...(ownsRedis ? { redisUs: per(totalCpuSeconds([redisPid]) - redisBefore) } : {}),
            });
          }
        } finally {
          await running.stop();
        }
      }
    } finally {
      await admin.quit();
      await redis.stop();
    }

    const floorAt = (mode: string) => rows.get(`bare node:dgram|${mode}`)!;
    const table: Array<Array<string | number>> = [];
    for (const [key, { result, serverUs, redisUs }] of rows) {
      const [name, mode] = key.split("|") as [string, string];
      const rate = result.answered / (result.durationUs / 1e6);
      table.push([
        name,
        mode,
        rate.toFixed(0),
        ms(result.p50Us),
        ms(result.p99Us),
        ms(result.p999Us),
        result.errors,
        result.timeouts,
        serverUs.toFixed(0),
        redisUs === undefined ? "-" : redisUs.toFixed(0),
        (result.loadCpuUs / Math.max(1, result.answered)).toFixed(0),
        ratio(serverUs, floorAt(mode).serverUs),
      ]);
    }
    const own = rows.get(`p2ptracker|${paced}`)!;
    const errors = [...rows].filter(([k]) => k.startsWith("p2ptracker")).reduce((n, [, r]) => n + r.result.errors, 0);
    return [
      {
        title: "UDP announces (BEP 15)",
        columns: [
          "tracker",
          "mode",
          "announces/s",
          "p50 ms",
          "p99 ms",
          "p99.9 ms",
          "errors",
          "lost",
          "server CPU µs/announce",
          "redis-server CPU µs/announce",
          "load generator CPU µs/announce",
          "server CPU / floor's",
        ],
        rows: table,
        notes: [
          `${MIX.transfers} transfers, ${MIX.hosts} hosts in ${MIX.racks} racks (each host's address in the announce's ip field, which p2ptracker believes with ACCEPT_IP_PARAM), numwant 50, the HTTP throughput workload's event cycle; a C load generator (scripts/benchmarks/udp/load.c), ${seconds} s per row after ${warmup} s warm-up.`,
          `saturated: ${SOCKETS} sockets, one announce in flight each (as wrk's ${SOCKETS} connections); ${paced}: an open loop at that rate from 16 sockets, gaps drawn uniformly from 0 to twice the mean. Replicas: each gets its own load generator with half the sockets and half the rate.`,
          "server CPU µs/announce: user + system CPU time of the server's processes (all replicas; from /proc/<pid>/stat) per answered announce; redis-server the same for the whole redis-server process. lost: no reply within 1 s.",
          `target: at ${paced}, p2ptracker's CPU per announce ≤ 2× the bare node:dgram floor's: ${ratio(own.serverUs, floorAt(paced).serverUs)}.`,
        ],
        ...(errors > 0 ? { failed: `${errors} error replies from p2ptracker` } : {}),
      },
    ];
  },
};
