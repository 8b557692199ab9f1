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
import { networkOf, parseIp } from "../../src/net/ip.js";
import { transferKeys } from "../../src/store/keys.js";
import { commandStats } from "./swarmLoad.js";
import { InvariantChecker, type InvariantCounts } from "./invariants.js";
import { totalCpuSeconds } from "./processCpu.js";
import { calibratedRate, combine, mixAddress, mixInfoHash, rateOf, runWrk, type Mix, type WrkResult } from "./wrk.js";

const TRANSFERS = 10;
const HOSTS = 4000;
const CONNECTIONS = 32;
/** The tracker's defaults, which the bench runs with. */
const MAX_REPR_RACK = 2;
const PEER_TTL = 90;

/** How the mix's hosts spread over racks, and the subnet prefix that has the tracker see them so. */
interface Shape {
  readonly label: string;
  readonly mix: Mix;
  /** The tracker's SUBNET_PREFIX_V4: its subnet fallback names each host's rack at this prefix. */
  readonly subnetPrefixV4: number;
}

const shape = (racks: number, subnetPrefixV4: number): Shape => ({
  label: racks === 1 ? `one /${subnetPrefixV4} subnet` : `${racks} racks × ${HOSTS / racks}`,
  mix: { transfers: TRANSFERS, hosts: HOSTS, racks },
  subnetPrefixV4,
});
const RACKED = shape(100, 24);
/** Every host in 10.0.0.0/16, as at a site without a rack map: the subnet fallback makes it one rack. */
const ONE_SUBNET = shape(1, 16);

/** The racks the tracker filed the mix's peers under, and what is wrong with them. */
interface RackCheck {
  /** Distinct racks over every transfer's {H}:racks. */
  readonly racks: number;
  readonly problems: string[];
}

/**
 * Reads every transfer's {H}:racks: each must hold only racks of the shape's addresses, and
 * together they must hold all of them (exactly one rack in the one-subnet shape).
 */
async function checkRacks(sMembers: (key: string) => Promise<unknown[]>, shape: Shape): Promise<RackCheck> {
  const expected = new Set(
    Array.from({ length: shape.mix.hosts }, (_, h) =>
      networkOf(parseIp(mixAddress(shape.mix, h))!, shape.subnetPrefixV4),
    ),
  );
  const problems: string[] = [];
  if (expected.size !== shape.mix.racks) {
    problems.push(`${shape.label}: the mix's addresses make ${expected.size} racks, not ${shape.mix.racks}`);
  }
  const seen = new Set<string>();
  for (let t = 0; t < shape.mix.transfers; t++) {
    const racks = (await sMembers(transferKeys(mixInfoHash(t).toString("hex")).racks)).map(String);
    const stray = racks.filter((rack) => !expected.has(rack));
    if (racks.length === 0 || stray.length > 0) {
      problems.push(
        `${shape.label}: transfer ${t} has ${racks.length} racks, unexpected: ${stray.slice(0, 3).join(", ")}`,
      );
    }
    for (const rack of racks) seen.add(rack);
  }
  if (seen.size !== expected.size)
    problems.push(`${shape.label}: peers in ${seen.size} racks, expected ${expected.size}`);
  return { racks: seen.size, problems };
}

/** A server under test: started on demand, reached at one or more URLs. */
interface Target {
  readonly name: string;
  start(): Promise<{
    urls: string[];
    /** The server's processes (every replica), whose CPU time is measured. */
    pids: number[];
    stop(): Promise<void>;
    redisUsecPerCall?: () => Promise<number>;
    checkRacks?: () => Promise<RackCheck>;
  }>;
}

const ms = (us: number) => (us / 1000).toFixed(2);

/**
 * Workload 1: announce throughput and latency of p2ptracker (1 and 2 replicas), opentracker,
 * bittorrent-tracker and a bare node:http floor, each under the same wrk announce mix, with a
 * new connection per announce and with keep-alive; then p2ptracker and opentracker again with
 * every host of the mix in one subnet.
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
    const p2ptracker = (replicas: number, shape: Shape): Target => ({
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
              SUBNET_PREFIX_V4: String(shape.subnetPrefixV4),
            }),
          );
        }
        return {
          urls: trackers.map((t) => `http://127.0.0.1:${(t as Started & { port: number }).port}/announce`),
          pids: trackers.map((t) => t.child.pid!),
          stop: async () => void (await Promise.all(trackers.map((t) => t.stop()))),
          redisUsecPerCall,
          checkRacks: () => checkRacks((key) => admin.sMembers(key), shape),
        };
      },
    });
    // opentracker drops root before it reads its whitelist: the file must be world-readable.
    const whitelistDir = scratchDir(context, "opentracker");
    chmodSync(whitelistDir, 0o755);
    chmodSync(context.workDir, 0o755);
    const whitelist = join(whitelistDir, "whitelist.txt");
    const hashes = Array.from({ length: TRANSFERS }, (_, t) => mixInfoHash(t).toString("hex"));
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
    // Debian builds opentracker with a whitelist; it chroots to -d and drops root to -u.
    const opentracker = simple("opentracker", (port) => [
      "opentracker",
      ["-i", "127.0.0.1", "-p", String(port), "-P", String(port), "-w", whitelist, "-d", "/", "-u", "nobody"],
    ]);
    const rowSets: Array<{ shape: Shape; targets: Target[] }> = [
      {
        shape: RACKED,
        targets: [
          p2ptracker(1, RACKED),
          p2ptracker(2, RACKED),
          opentracker,
          simple("bittorrent-tracker", (port) => [
            process.execPath,
            [join(BENCH_DIST, "servers/bittorrentTracker.js"), String(port)],
          ]),
          simple("bare node:http", (port) => [
            process.execPath,
            [join(BENCH_DIST, "servers/bareNode.js"), String(port)],
          ]),
        ],
      },
      // bittorrent-tracker and bare node:http answer alike whatever the racks: opentracker stays
      // as the reference of the conn/request target.
      { shape: ONE_SUBNET, targets: [p2ptracker(1, ONE_SUBNET), p2ptracker(2, ONE_SUBNET), opentracker] },
    ];

    /** CPU µs per answered request of the server's processes and of redis-server (p2ptracker only). */
    interface Cpu {
      readonly server: number;
      readonly redis?: number;
    }
    /** Keyed `<shape>|<tracker>|<mode>`. */
    const results = new Map<string, { result: WrkResult; redisUs?: number; cpu?: Cpu; racks?: number }>();
    const redisPid = redis.process.pid!;
    /** Keyed `<shape>|<tracker>`. */
    const invariants = new Map<string, InvariantCounts>();
    const rackProblems: string[] = [];
    const watched = Array.from({ length: TRANSFERS }, (_, t) => t);
    const newChecker = (url: string, shape: Shape) =>
      new InvariantChecker(
        url,
        `redis://127.0.0.1:${redis.port}`,
        MAX_REPR_RACK,
        PEER_TTL,
        watched,
        shape.subnetPrefixV4,
      );
    const measure = async (shape: Shape, target: Target, keepalive: boolean) => {
      const mode = keepalive ? "keep-alive" : "conn/request";
      const row = `${shape.label}|${target.name}`;
      context.progress(`throughput: ${shape.label}, ${target.name}, ${mode}`);
      const running = await target.start();
      try {
        const share = Math.max(1, Math.floor(CONNECTIONS / running.urls.length));
        const runAll = (secs: number, rate?: number) =>
          Promise.all(
            running.urls.map((url) =>
              runWrk({
                url,
                mix: shape.mix,
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
        const racks = running.checkRacks ? await running.checkRacks() : undefined;
        if (racks) rackProblems.push(...racks.problems.map((p) => `${target.name}, ${mode}: ${p}`));
        results.set(`${row}|${mode}`, {
          result,
          ...(redisUs === undefined ? { cpu } : { redisUs, cpu }),
          ...(racks ? { racks: racks.racks } : {}),
        });
        if (shape === RACKED && target.name === "p2ptracker" && keepalive) {
          const half = rateOf(result) / 2;
          context.progress(`throughput: ${target.name}, ${mode} at 50% of peak (${half.toFixed(0)}/s)`);
          const ask = await calibratedRate(half, async (rate) => rateOf(await runAll(warmup + 1, rate)));
          results.set(`${row} @50% peak|${mode}`, { result: await runAll(seconds, ask) });
        }
        if (running.redisUsecPerCall && keepalive) {
          // Workload 4: its own run under full load, so the checker's work does not skew the rows above.
          context.progress(`throughput: ${shape.label}, ${target.name}, ${mode}, checking the two-tier invariants`);
          const checker = newChecker(running.urls[0]!, shape);
          await checker.start();
          await runAll(seconds);
          invariants.set(row, await checker.stop());
        }
      } finally {
        await running.stop();
      }
    };
    try {
      for (const { shape, targets } of rowSets) {
        for (const keepalive of [false, true]) for (const target of targets) await measure(shape, target, keepalive);
      }
    } finally {
      await admin.quit();
      await redis.stop();
    }

    const rows: Array<Array<string | number>> = [];
    for (const [key, { result, redisUs, cpu, racks }] of results) {
      const [label, name, mode] = key.split("|") as [string, string, string];
      const own = results.get(`${label}|p2ptracker|${mode}`)!.result;
      rows.push([
        label,
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
        racks ?? "-",
        name.startsWith("p2ptracker") ? "-" : ratio(rateOf(own), rateOf(result)),
      ]);
    }
    const r = (shape: Shape, name: string, mode: string) =>
      rateOf(results.get(`${shape.label}|${name}|${mode}`)!.result);
    const conn = (shape: Shape) =>
      `${ratio(r(shape, "p2ptracker", "conn/request"), r(shape, "opentracker", "conn/request"))} (${shape.label})`;
    const racked = (name: string, mode: string) => r(RACKED, name, mode);
    let errors = 0;
    for (const [key, { result }] of results) {
      if (key.split("|")[1]!.startsWith("p2ptracker")) errors += result.errors + result.failures;
    }
    const failures = [...(errors > 0 ? [`${errors} errors or failure replies from p2ptracker`] : []), ...rackProblems];
    const notes = [
      `${TRANSFERS} transfers, ${HOSTS} hosts (X-Forwarded-For through a trusted proxy), numwant 50, binary info_hash/peer_id; wrk -t1 -c${CONNECTIONS}, ${seconds} s per row after ${warmup} s warm-up.`,
      `shapes: "${RACKED.label}": host h in rack h % ${RACKED.mix.racks} at 10.0.<rack>.<1 + h / ${RACKED.mix.racks}>, p2ptracker with SUBNET_PREFIX_V4 ${RACKED.subnetPrefixV4}; "${ONE_SUBNET.label}": host h at 10.0.<h / 254>.<1 + h % 254>, p2ptracker with SUBNET_PREFIX_V4 ${ONE_SUBNET.subnetPrefixV4}, as a site without a rack map whose subnet fallback puts every host in one rack. bittorrent-tracker and bare node:http do not look at racks and run the first shape only.`,
      "tracker racks: distinct racks in the transfers' {H}:racks after the measured run; the bench fails unless every transfer's racks are the shape's and together all of them.",
      `targets (1 replica): conn/request ≥ 0.5× opentracker: ${conn(RACKED)}, ${conn(ONE_SUBNET)}; keep-alive ≥ 0.4× bare node: ${ratio(racked("p2ptracker", "keep-alive"), racked("bare node:http", "keep-alive"))}; ≥ 1.0× bittorrent-tracker: ${ratio(racked("p2ptracker", "conn/request"), racked("bittorrent-tracker", "conn/request"))} / ${ratio(racked("p2ptracker", "keep-alive"), racked("bittorrent-tracker", "keep-alive"))}.`,
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
        "shape",
        "tracker",
        "checked announces",
        "non-representative given another rack's peer",
        "seeder given a seeder",
        "Redis samples",
        `rack with > ${MAX_REPR_RACK} live representatives`,
      ],
      rows: [...invariants].map(([key, c]) => [
        ...key.split("|"),
        c.announces,
        c.crossRackToMember,
        c.seederGotSeeder,
        c.samples,
        c.racksOverMaxRepr,
      ]),
      notes: [
        "In a run of its own under the full keep-alive mix, a checker drives 240 hosts of its own (10 racks, 2 transfers) through the same cycle and checks every reply; Redis is sampled every 250 ms over all racks of its and the mix's transfers. Target: 0 of each.",
        `${ONE_SUBNET.label}: the checker's hosts (10.200.0.0/16) are one rack as well, so no reply can hold another rack's peer and that column is 0 by construction; the other two still mean something: no seeder given a seeder, and at most ${MAX_REPR_RACK} live representatives in a rack of ${HOSTS} hosts (each mix transfer) and of 240 (the checker's).`,
      ],
      ...(violations > 0 ? { failed: `${violations} two-tier invariant violations` } : {}),
    };
    return [
      {
        title: "Announce throughput and latency",
        columns: [
          "shape",
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
          "tracker racks",
          "p2ptracker / this",
        ],
        rows,
        notes,
        ...(failures.length > 0 ? { failed: failures.join("; ") } : {}),
      },
      invariantTable,
    ];
  },
};
