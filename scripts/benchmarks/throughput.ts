import { chmodSync, writeFileSync } from "node:fs";
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
import { commandStats } from "./swarmLoad.js";
import { InvariantChecker, type InvariantCounts } from "./invariants.js";
import { totalCpuSeconds } from "./processCpu.js";
import { calibratedRate, combine, mixInfoHash, rateOf, runWrk, type Mix, type WrkResult } from "./wrk.js";

const MIX: Mix = { transfers: 10, hosts: 4000, racks: 100 };
const CONNECTIONS = 32;
/** The tracker's defaults, which the bench runs with. */
const MAX_REPR_RACK = 2;
const PEER_TTL = 90;

/** A server under test: started on demand, reached at one or more URLs. */
interface Target {
  readonly name: string;
  start(): Promise<{
    urls: string[];
    /** The server's processes (every replica), whose CPU time is measured. */
    pids: number[];
    stop(): Promise<void>;
    redisUsecPerCall?: () => Promise<number>;
  }>;
}

const ms = (us: number) => (us / 1000).toFixed(2);

/**
 * Workload 1: announce throughput and latency of p2ptracker (1 and 2 replicas), opentracker,
 * bittorrent-tracker and a bare node:http floor, each under the same wrk announce mix, with a
 * new connection per announce and with keep-alive.
 */
export const throughput: Workload = {
  name: "throughput",
  description: "announce rate and latency, side by side with opentracker, bittorrent-tracker and bare node:http",
  async run(context: BenchContext): Promise<Table[]> {
    const seconds = context.quick ? 2 : 15;
    const warmup = context.quick ? 1 : 3;
    const redis = await startRedis(context);
    const admin = createClient({ url: `redis://127.0.0.1:${redis.port}` });
    await admin.connect();
    const redisUsecPerCall = async () => {
      const { calls, usec } = commandStats(await admin.info("commandstats"), "evalsha");
      return calls > 0 ? usec / calls : 0;
    };
    const p2ptracker = (replicas: number): Target => ({
      name: replicas === 1 ? "p2ptracker" : `p2ptracker ×${replicas}`,
      async start() {
        await admin.flushAll();
        const url = `redis://127.0.0.1:${redis.port}`;
        const trackers: Started[] = [];
        for (let i = 0; i < replicas; i++) {
          trackers.push(
            await startTracker(url, {
              PROXYPASS: "true",
              AUTO_ACTIVATE: "true",
              SWEEP_INTERVAL: "60",
              // wrk picks hosts at random, so a representative announces a given transfer
              // about once a minute, not every REP_INTERVAL as a real client does: leases
              // that live as long as peers keep the measured announces in steady state.
              LEASE_TTL: String(PEER_TTL),
            }),
          );
        }
        return {
          urls: trackers.map((t) => `http://127.0.0.1:${(t as Started & { port: number }).port}/announce`),
          pids: trackers.map((t) => t.child.pid!),
          stop: async () => void (await Promise.all(trackers.map((t) => t.stop()))),
          redisUsecPerCall,
        };
      },
    });
    // opentracker drops root before it reads its whitelist: the file must be world-readable.
    const whitelistDir = scratchDir(context, "opentracker");
    chmodSync(whitelistDir, 0o755);
    chmodSync(context.workDir, 0o755);
    const whitelist = join(whitelistDir, "whitelist.txt");
    const hashes = Array.from({ length: MIX.transfers }, (_, t) => mixInfoHash(t).toString("hex"));
    writeFileSync(whitelist, `${hashes.join("\n")}\n`, { mode: 0o644 });
    const simple = (name: string, command: (port: number) => [string, string[]]): Target => ({
      name,
      async start() {
        const port = await freePort();
        const [bin, args] = command(port);
        const server = await startServer(name, bin, args, port);
        return { urls: [`http://127.0.0.1:${port}/announce`], pids: [server.child.pid!], stop: () => server.stop() };
      },
    });
    const targets: Target[] = [
      p2ptracker(1),
      p2ptracker(2),
      // Debian builds opentracker with a whitelist; it chroots to -d and drops root to -u.
      simple("opentracker", (port) => [
        "opentracker",
        ["-i", "127.0.0.1", "-p", String(port), "-P", String(port), "-w", whitelist, "-d", "/", "-u", "nobody"],
      ]),
      simple("bittorrent-tracker", (port) => [
        process.execPath,
        [join(BENCH_DIST, "servers/bittorrentTracker.js"), String(port)],
      ]),
      simple("bare node:http", (port) => [process.execPath, [join(BENCH_DIST, "servers/bareNode.js"), String(port)]]),
    ];

    /** CPU µs per answered request of the server's processes and of redis-server (p2ptracker only). */
    interface Cpu {
      readonly server: number;
      readonly redis?: number;
    }
    const results = new Map<string, { result: WrkResult; redisUs?: number; cpu?: Cpu }>();
    const redisPid = redis.process.pid!;
    const invariants = new Map<string, InvariantCounts>();
    const watched = Array.from({ length: MIX.transfers }, (_, t) => t);
    const newChecker = (url: string) =>
      new InvariantChecker(url, `redis://127.0.0.1:${redis.port}`, MAX_REPR_RACK, PEER_TTL, watched);
    const measure = async (target: Target, keepalive: boolean) => {
      const mode = keepalive ? "keep-alive" : "conn/request";
      context.progress(`throughput: ${target.name}, ${mode}`);
      const running = await target.start();
      try {
        const share = Math.max(1, Math.floor(CONNECTIONS / running.urls.length));
        const runAll = (secs: number, rate?: number) =>
          Promise.all(
            running.urls.map((url) =>
              runWrk({
                url,
                mix: MIX,
                keepalive,
                connections: share,
                seconds: secs,
                ...(rate ? { rate: rate / running.urls.length } : {}),
              }),
            ),
          ).then((rs) => rs.reduce(combine));
        await runAll(warmup);
        if (running.redisUsecPerCall) await admin.configResetStat();
        const serverBefore = totalCpuSeconds(running.pids);
        const redisBefore = totalCpuSeconds([redisPid]);
        const result = await runAll(seconds);
        const perRequest = (cpu: number) => (1e6 * cpu) / Math.max(1, result.requests);
        const redisUs = running.redisUsecPerCall ? await running.redisUsecPerCall() : undefined;
        const cpu: Cpu = {
          server: perRequest(totalCpuSeconds(running.pids) - serverBefore),
          ...(redisUs === undefined ? {} : { redis: perRequest(totalCpuSeconds([redisPid]) - redisBefore) }),
        };
        results.set(`${target.name}|${mode}`, redisUs === undefined ? { result, cpu } : { result, redisUs, cpu });
        if (target.name === "p2ptracker" && keepalive) {
          const half = rateOf(result) / 2;
          context.progress(`throughput: ${target.name}, ${mode} at 50% of peak (${half.toFixed(0)}/s)`);
          const ask = await calibratedRate(half, async (rate) => rateOf(await runAll(warmup + 1, rate)));
          results.set(`${target.name} @50% peak|${mode}`, { result: await runAll(seconds, ask) });
        }
        if (running.redisUsecPerCall && keepalive) {
          // Workload 4: its own run under full load, so the checker's work does not skew the rows above.
          context.progress(`throughput: ${target.name}, ${mode}, checking the two-tier invariants`);
          const checker = newChecker(running.urls[0]!);
          await checker.start();
          await runAll(seconds);
          invariants.set(target.name, await checker.stop());
        }
      } finally {
        await running.stop();
      }
    };
    try {
      for (const keepalive of [false, true]) for (const target of targets) await measure(target, keepalive);
    } finally {
      await admin.quit();
      await redis.stop();
    }

    const rows: Array<Array<string | number>> = [];
    for (const [key, { result, redisUs, cpu }] of results) {
      const [name, mode] = key.split("|") as [string, string];
      const own = results.get(`p2ptracker|${mode}`)!.result;
      rows.push([
        name,
        mode,
        rateOf(result).toFixed(0),
        ms(result.p50Us),
        ms(result.p99Us),
        ms(result.p999Us),
        result.errors + result.failures,
        redisUs === undefined ? "-" : redisUs.toFixed(1),
        cpu === undefined ? "-" : cpu.server.toFixed(0),
        cpu?.redis === undefined ? "-" : cpu.redis.toFixed(0),
        name.startsWith("p2ptracker") ? "-" : ratio(rateOf(own), rateOf(result)),
      ]);
    }
    const r = (name: string, mode: string) => rateOf(results.get(`${name}|${mode}`)!.result);
    let errors = 0;
    for (const [key, { result }] of results)
      if (key.startsWith("p2ptracker")) errors += result.errors + result.failures;
    const notes = [
      `${MIX.transfers} transfers, ${MIX.hosts} hosts in ${MIX.racks} racks (X-Forwarded-For through a trusted proxy), numwant 50, binary info_hash/peer_id; wrk -t1 -c${CONNECTIONS}, ${seconds} s per row after ${warmup} s warm-up.`,
      `targets (1 replica): conn/request ≥ 0.5× opentracker: ${ratio(r("p2ptracker", "conn/request"), r("opentracker", "conn/request"))}; keep-alive ≥ 0.4× bare node: ${ratio(r("p2ptracker", "keep-alive"), r("bare node:http", "keep-alive"))}; ≥ 1.0× bittorrent-tracker: ${ratio(r("p2ptracker", "conn/request"), r("bittorrent-tracker", "conn/request"))} / ${ratio(r("p2ptracker", "keep-alive"), r("bittorrent-tracker", "keep-alive"))}.`,
      "@50% peak: wrk paced to half of the row above: each connection pauses a random 0-2× the mean before each request, so they do not fire in lockstep; the mean is calibrated by up to three probes.",
      "redis µs/announce: INFO commandstats usec_per_call of EVALSHA (the announce script) over the measured run.",
      "server CPU µs/req: user + system CPU time of the server's processes (all replicas, all threads; from /proc/<pid>/stat) over the measured run, per answered request; redis-server CPU µs/req the same for the whole redis-server process (script, network, event loop). On this 2-core machine the server, redis-server and wrk share the cores: (server + redis-server + wrk) CPU per request × rate cannot exceed 2 s/s.",
    ];
    const violations = [...invariants.values()].reduce(
      (n, c) => n + c.crossRackToMember + c.seederGotSeeder + c.racksOverMaxRepr,
      0,
    );
    const invariantTable: Table = {
      title: "Two-tier invariants under load",
      columns: [
        "tracker",
        "checked announces",
        "non-representative given another rack's peer",
        "seeder given a seeder",
        "Redis samples",
        `rack with > ${MAX_REPR_RACK} live representatives`,
      ],
      rows: [...invariants].map(([name, c]) => [
        name,
        c.announces,
        c.crossRackToMember,
        c.seederGotSeeder,
        c.samples,
        c.racksOverMaxRepr,
      ]),
      notes: [
        "In a run of its own under the full keep-alive mix, a checker drives 240 hosts of its own (10 racks, 2 transfers) through the same cycle and checks every reply; Redis is sampled every 250 ms over all racks of its and the mix's transfers. Target: 0 of each.",
      ],
      ...(violations > 0 ? { failed: `${violations} two-tier invariant violations` } : {}),
    };
    return [
      {
        title: "Announce throughput and latency",
        columns: [
          "tracker",
          "mode",
          "announces/s",
          "p50 ms",
          "p99 ms",
          "p99.9 ms",
          "errors",
          "redis µs/announce",
          "server CPU µs/req",
          "redis-server CPU µs/req",
          "p2ptracker / this",
        ],
        rows,
        notes,
        ...(errors > 0 ? { failed: `${errors} errors or failure replies from p2ptracker` } : {}),
      },
      invariantTable,
    ];
  },
};
