import { Agent } from "node:http";
import {
  ratio,
  startRedis,
  startTracker,
  type BenchContext,
  type Started,
  type Table,
  type Workload,
} from "./bench.js";
import {
  HOSTS_PER_RACK,
  benchInfoHash,
  commandStats,
  connectBenchRedis,
  BENCH_SLOTS,
  loadSwarm,
  preloadPolicy,
  percentile,
  seededRandom,
  type BenchRedis,
  type LoadedPeer,
} from "./swarmLoad.js";
import { NUMWANT, announceOnce, announcePath, peersIn } from "./httpAnnounce.js";

/** Long enough that no preloaded peer dies during a run; the cost of a live swarm is measured. */
const PEER_TTL = 3600;
const CONCURRENCY = 16;
const SEEDER_SHARE = 0.3;
const ORIGINS = 2;

/** What the client and Redis saw over the blocks of one phase for one swarm size. */
interface Tally {
  readonly latencies: number[];
  count: number;
  errors: number;
  peers: number;
  seconds: number;
  redisUsec: number;
  redisCalls: number;
  /** Announces by representatives: each also renews its rack lease (a second script). */
  renewals: number;
}

const emptyTally = (): Tally => ({
  latencies: [],
  count: 0,
  errors: 0,
  peers: 0,
  seconds: 0,
  redisUsec: 0,
  redisCalls: 0,
  renewals: 0,
});

/** One loaded swarm (one transfer) of the run. */
interface Swarm {
  readonly size: number;
  readonly racks: number;
  readonly infoHashHex: string;
  readonly peers: readonly LoadedPeer[];
  readonly reps: readonly LoadedPeer[];
  readonly loadSeconds: number;
  readonly random: () => number;
}

const ms = (us: number) => (us / 1000).toFixed(2);

/**
 * Announces `count` times as peers drawn from `pool` (`lanes` at a time, over `agent`)
 * through the tracker, with Redis's command statistics reset first, and adds what the
 * client and Redis saw to `tally`.
 */
async function block(
  redis: BenchRedis,
  agent: Agent,
  trackerPort: number,
  swarm: Swarm,
  pool: readonly LoadedPeer[],
  count: number,
  lanes: number,
  tally: Tally,
): Promise<void> {
  const picks = Array.from({ length: count }, () => pool[Math.floor(swarm.random() * pool.length)]!);
  let next = 0;
  await redis.admin.configResetStat();
  const start = process.hrtime.bigint();
  const lane = async () => {
    while (next < count) {
      const peer = picks[next++]!;
      try {
        const path = announcePath(swarm.infoHashHex, peer);
        const { us, body } = await announceOnce(agent, trackerPort, path, peer.host.ip);
        const got = peersIn(body);
        if (got < 0) tally.errors++;
        else tally.peers += got;
        tally.latencies.push(us);
      } catch {
        tally.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  tally.seconds += Number(process.hrtime.bigint() - start) / 1e9;
  const stats = commandStats(await redis.admin.info("commandstats"), "evalsha");
  tally.count += count;
  tally.renewals += picks.filter((p) => p.role === "rep").length;
  tally.redisCalls += stats.calls;
  tally.redisUsec += stats.usec;
}

/**
 * Workload 2: the cost of one announce as one transfer's swarm grows from 100 to 100,000
 * live peers, through a real tracker process over HTTP.
 */
export const swarmSize: Workload = {
  name: "swarmSize",
  description: "announce latency and Redis µs per announce as one swarm grows from 100 to 100,000 peers",
  async run(context: BenchContext): Promise<Table[]> {
    const sizes = context.quick ? [100, 10_000] : [100, 1_000, 10_000, 100_000];
    const phases = [
      { name: "seq", total: context.quick ? 300 : 4000, block: 100, lanes: 1, repsOnly: false },
      { name: "reps", total: context.quick ? 150 : 2000, block: 50, lanes: 1, repsOnly: true },
      { name: "conc", total: context.quick ? 800 : 8000, block: 400, lanes: CONCURRENCY, repsOnly: false },
    ] as const;
    const redis = await startRedis(context);
    let client: BenchRedis | undefined;
    let tracker: (Started & { port: number }) | undefined;
    const agents = [
      new Agent({ keepAlive: true, maxSockets: 1 }),
      new Agent({ keepAlive: true, maxSockets: CONCURRENCY }),
    ];
    const swarms: Swarm[] = [];
    const tallies = new Map<string, Tally>();
    const problems: string[] = [];
    try {
      client = await connectBenchRedis(redis.port);
      const policy = preloadPolicy(PEER_TTL);
      for (const [i, size] of sizes.entries()) {
        const infoHash = benchInfoHash(1000 + i);
        const hosts = size - ORIGINS;
        context.progress(`swarmSize: loading ${size} peers`);
        const loadStart = process.hrtime.bigint();
        const { peers, roles } = await loadSwarm(
          client.runner,
          { infoHash, hosts, hostsPerRack: HOSTS_PER_RACK, seederShare: SEEDER_SHARE, origins: ORIGINS, seed: size },
          policy,
          { keep: true },
        );
        const loadSeconds = Number(process.hrtime.bigint() - loadStart) / 1e9;
        const racks = Math.ceil(hosts / HOSTS_PER_RACK);
        if (roles.rep !== racks * 2) {
          problems.push(`${size} peers: ${roles.rep} representatives elected, expected ${racks * 2}`);
        }
        const reps = peers.filter((p) => p.role === "rep");
        const random = seededRandom(size + 1);
        swarms.push({ size, racks, infoHashHex: infoHash.toString("hex"), peers, reps, loadSeconds, random });
      }
      tracker = await startTracker(`redis://127.0.0.1:${redis.port}`, {
        PROXYPASS: "true",
        PEER_TTL: String(PEER_TTL),
        // Every transfer its own two representatives per rack, as loaded, and leases that
        // live as long as the preloaded peers: a representative's announce is a renewal.
        RACK_UPLINK_SLOTS: String(BENCH_SLOTS),
        LEASE_TTL: String(PEER_TTL),
        // The sweep runs the sweep script through EVALSHA too: keep it out of the counts.
        SWEEP_INTERVAL: "86400",
      });
      // Warm the tracker (JIT, connections) and Redis on every swarm before counting.
      for (const swarm of swarms) {
        await block(client, agents[0]!, tracker.port, swarm, swarm.peers, 200, 1, emptyTally());
      }
      // Sizes take turns block by block, so a change of background load on a shared
      // machine hits every size alike instead of whichever ran at that moment.
      for (const phase of phases) {
        context.progress(`swarmSize: ${phase.name}, ${phase.total} announces per size`);
        for (let round = 0; round * phase.block < phase.total; round++) {
          for (let k = 0; k < swarms.length; k++) {
            const swarm = swarms[(k + round) % swarms.length]!;
            const key = `${swarm.size}|${phase.name}`;
            const tally = tallies.get(key) ?? emptyTally();
            tallies.set(key, tally);
            const count = Math.min(phase.block, phase.total - round * phase.block);
            const pool = phase.repsOnly ? swarm.reps : swarm.peers;
            const agent = agents[phase.lanes === 1 ? 0 : 1]!;
            await block(client, agent, tracker.port, swarm, pool, count, phase.lanes, tally);
          }
        }
      }
      for (const swarm of swarms) {
        for (const phase of phases) {
          const tally = tallies.get(`${swarm.size}|${phase.name}`)!;
          const where = `${swarm.size} peers, ${phase.name}`;
          if (tally.errors > 0) problems.push(`${where}: ${tally.errors} failed announces`);
          else if (tally.redisCalls !== tally.count + tally.renewals) {
            problems.push(
              `${where}: Redis counted ${tally.redisCalls} EVALSHA for ${tally.count} announces, ${tally.renewals} of them representatives' (announce + lease renewal)`,
            );
          }
        }
        const live = Number(await client.admin.hLen(`{${swarm.infoHashHex.toUpperCase()}}:peers`));
        if (live !== swarm.size) problems.push(`${swarm.size} peers: ${live} peer records after the run`);
      }
    } catch (error) {
      problems.push((error as Error).message);
    } finally {
      for (const agent of agents) agent.destroy();
      await client?.close();
      await tracker?.stop();
      await redis.stop();
    }

    const stat = (size: number, phase: string) => {
      const t = tallies.get(`${size}|${phase}`) ?? emptyTally();
      const sorted = [...t.latencies].sort((a, b) => a - b);
      return {
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        redisUs: t.count > 0 ? t.redisUsec / t.count : 0,
        perSecond: t.seconds > 0 ? t.count / t.seconds : 0,
        meanPeers: t.count > t.errors ? t.peers / (t.count - t.errors) : 0,
      };
    };
    const base = swarms[0];
    const rows = swarms.map((s) => {
      const seq = stat(s.size, "seq");
      const reps = stat(s.size, "reps");
      const conc = stat(s.size, "conc");
      const first = (phase: string) => stat(base!.size, phase);
      return [
        s.size,
        s.racks,
        s.loadSeconds.toFixed(1),
        ms(seq.p50),
        ms(seq.p99),
        seq.redisUs.toFixed(1),
        seq.meanPeers.toFixed(1),
        ms(reps.p50),
        reps.redisUs.toFixed(1),
        ms(conc.p50),
        ms(conc.p99),
        conc.perSecond.toFixed(0),
        conc.redisUs.toFixed(1),
        ratio(seq.redisUs, first("seq").redisUs),
        ratio(reps.redisUs, first("reps").redisUs),
        ratio(conc.redisUs, first("conc").redisUs),
        ratio(seq.p50, first("seq").p50),
      ];
    });
    const [seq, reps, conc] = phases;
    const notes = [
      `One transfer per size, all loaded in one redis-server: ${HOSTS_PER_RACK} hosts per /24 rack (rack names as the subnet resolver gives them, e.g. 10.0.3.0/24), ${SEEDER_SHARE * 100}% seeders, ${ORIGINS} origin seeders; preloaded through the announce script (runAnnounce over one pipelined node-redis connection, 512 in flight, numwant 0), then measured through one p2ptracker process over HTTP keep-alive (PROXYPASS, X-Forwarded-For per client): periodic announces (no event) of existing peers, numwant ${NUMWANT}.`,
      `seq: ${seq.total} sequential announces per size of peers drawn uniformly from its swarm (~5% representatives, as in a deploy); reps: ${reps.total} sequential announces of representatives only (they also draw from the transfer-wide RL/RS/O sets); ×${CONCURRENCY}: ${conc.total} announces, ${CONCURRENCY} in flight. Sizes take turns in blocks of ${seq.block}/${reps.block}/${conc.block} announces, after 200 warm-up announces each.`,
      `redis µs: EVALSHA time per announce (the announce script; a representative's announce also renews its rack lease, a second script) from INFO commandstats, reset before each block. Sequential calls cost Redis more µs than concurrent ones (probably caches gone cold between calls). PEER_TTL ${PEER_TTL} s and no sweep during the run (the sweep also runs through EVALSHA), so every preloaded peer stays live. "/ first": ratio to the ${base?.size ?? 100}-peer row.`,
    ];
    const largest = swarms.at(-1);
    if (largest && base && largest !== base) {
      const verdict = (value: string) => `${value}× (${value !== "-" && Number(value) <= 1.5 ? "met" : "not met"})`;
      const [l, b] = [largest.size, base.size];
      notes.push(
        `target: the ${l.toLocaleString("en-US")}-peer cost ≤ 1.5× the ${b}-peer cost${context.quick ? " (set at 100,000 peers; --quick stops at 10,000)" : ""}: redis µs/announce ${verdict(ratio(stat(l, "seq").redisUs, stat(b, "seq").redisUs))} sequential, ${verdict(ratio(stat(l, "conc").redisUs, stat(b, "conc").redisUs))} concurrent, ${verdict(ratio(stat(l, "reps").redisUs, stat(b, "reps").redisUs))} representatives only; p50 latency ${verdict(ratio(stat(l, "seq").p50, stat(b, "seq").p50))} sequential.`,
      );
    }
    return [
      {
        title: "Announce cost versus swarm size",
        columns: [
          "peers",
          "racks",
          "load s",
          "seq p50 ms",
          "seq p99 ms",
          "seq redis µs",
          "peers/reply",
          "reps p50 ms",
          "reps redis µs",
          `×${CONCURRENCY} p50 ms`,
          `×${CONCURRENCY} p99 ms`,
          `×${CONCURRENCY} announces/s`,
          `×${CONCURRENCY} redis µs`,
          "seq redis µs / first",
          "reps redis µs / first",
          `×${CONCURRENCY} redis µs / first`,
          "seq p50 / first",
        ],
        rows,
        notes,
        ...(problems.length > 0 ? { failed: problems.join("; ") } : {}),
      },
    ];
  },
};
