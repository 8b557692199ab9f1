import { Agent } from "node:http";
import {
  ratio,
  sleep,
  startRedis,
  startTracker,
  type BenchContext,
  type Started,
  type Table,
  type Workload,
} from "./bench.js";
import { cpuSeconds } from "./processCpu.js";
import { announceOnce, announcePath, peersIn } from "./httpAnnounce.js";
import {
  BENCH_SLOTS,
  benchInfoHash,
  commandStats,
  connectBenchRedis,
  infoField,
  loadSwarm,
  percentile,
  preloadPolicy,
  seededRandom,
  subnetPrefix,
  type BenchRedis,
  type LoadedPeer,
  type SwarmSpec,
} from "./swarmLoad.js";

/** Long enough that no preloaded peer dies during a run: the cost of a live swarm is measured. */
const PEER_TTL = 3600;
const SEEDER_SHARE = 0.3;
const ORIGINS = 2;
/** The shape the README's other tables use, and the one every other shape is compared with. */
const REFERENCE = "40 per rack";
/** Persistence off: an AOF rewrite or RDB save during the load would distort memory and timing. */
const NO_PERSISTENCE = ["--appendonly", "no", "--save", ""];

/** One swarm shape: how its clients spread over racks. */
export interface Shape {
  readonly name: string;
  /** Hosts per rack; undefined for flat mode (RACK_AWARE off, one location for all). */
  readonly hostsPerRack: number | undefined;
  readonly peers: number;
}

export const rackShape = (hostsPerRack: number, peers: number): Shape => ({
  name: peers === 10_000 ? `${hostsPerRack} per rack` : `${peers / hostsPerRack} racks × ${hostsPerRack}`,
  hostsPerRack,
  peers,
});
export const flatShape = (peers: number): Shape => ({
  name: `flat ${peers.toLocaleString("en-US")}`,
  hostsPerRack: undefined,
  peers,
});

const FULL_SHAPES: Shape[] = [
  rackShape(10, 10_000),
  rackShape(40, 10_000),
  rackShape(50, 10_000),
  rackShape(100, 10_000),
  rackShape(250, 10_000),
  rackShape(1000, 10_000),
  rackShape(5000, 10_000),
  rackShape(40, 100_000),
  flatShape(1000),
  flatShape(10_000),
  flatShape(100_000),
];
const QUICK_SHAPES: Shape[] = [rackShape(40, 10_000), rackShape(1000, 10_000), flatShape(10_000)];

/** The swarm a shape loads: 30 % seeders and two origins, over racks of its size or flat. */
export function shapeSwarm(shape: Shape, infoHash: Buffer, seed: number): SwarmSpec {
  return {
    infoHash,
    hosts: shape.peers - ORIGINS,
    // Flat mode files every client under one location; the addresses still come in racks.
    hostsPerRack: shape.hostsPerRack ?? 250,
    seederShare: SEEDER_SHARE,
    origins: ORIGINS,
    seed,
    flat: shape.hostsPerRack === undefined,
  };
}

/** What Redis, the tracker and the client saw over one phase of one shape. */
interface Tally {
  readonly latencies: number[];
  count: number;
  errors: number;
  peers: number;
  redisUsec: number;
  redisCalls: number;
  trackerCpu: number;
  /** Representatives' announces: each also renews its rack lease (a second script call). */
  renewals: number;
}

const emptyTally = (): Tally => ({
  latencies: [],
  count: 0,
  errors: 0,
  peers: 0,
  redisUsec: 0,
  redisCalls: 0,
  trackerCpu: 0,
  renewals: 0,
});

/** One loaded shape: its swarm, the tracker configured for it, and its tallies. */
interface Loaded {
  readonly shape: Shape;
  readonly infoHashHex: string;
  readonly members: readonly LoadedPeer[];
  readonly reps: readonly LoadedPeer[];
  readonly racks: number;
  readonly bytesPerPeer: number;
  readonly loadSeconds: number;
  readonly tracker: Started & { port: number };
  readonly random: () => number;
  readonly tallies: { member: Tally; rep: Tally };
}

/** The tracker settings a shape needs: rack-aware at the shape's subnet size, or flat. */
function trackerKey(shape: Shape): string {
  return shape.hostsPerRack === undefined ? "flat" : `/${subnetPrefix(shape.hostsPerRack)}`;
}

/**
 * `count` sequential periodic announces through the shape's tracker of peers drawn from
 * `pool`, with Redis's command statistics reset first; adds what Redis, the tracker's
 * process and the client saw to `tally`.
 */
async function block(
  redis: BenchRedis,
  agent: Agent,
  loaded: Loaded,
  pool: readonly LoadedPeer[],
  count: number,
  tally: Tally,
) {
  const picks = Array.from({ length: count }, () => pool[Math.floor(loaded.random() * pool.length)]!);
  const pid = loaded.tracker.child.pid!;
  await redis.admin.configResetStat();
  const cpuBefore = cpuSeconds(pid);
  for (const peer of picks) {
    try {
      const { us, body } = await announceOnce(
        agent,
        loaded.tracker.port,
        announcePath(loaded.infoHashHex, peer),
        peer.host.ip,
      );
      const got = peersIn(body);
      if (got < 0) tally.errors++;
      else tally.peers += got;
      tally.latencies.push(us);
    } catch {
      tally.errors++;
    }
  }
  tally.trackerCpu += cpuSeconds(pid) - cpuBefore;
  const stats = commandStats(await redis.admin.info("commandstats"), "evalsha");
  tally.count += count;
  tally.renewals += picks.filter((p) => p.role === "rep").length;
  tally.redisCalls += stats.calls;
  tally.redisUsec += stats.usec;
}

const usedMemory = async (redis: BenchRedis) => infoField(await redis.admin.info("memory"), "used_memory");

/**
 * Workload: the cost of an announce and of a live peer at every swarm shape users run,
 * side by side in one redis-server: small and large racks, flat mode, many racks.
 */
export const shapes: Workload = {
  name: "shapes",
  description: "Redis µs, tracker CPU µs per announce and Redis bytes per peer at every rack size and in flat mode",
  async run(context: BenchContext): Promise<Table[]> {
    const shapeList = context.quick ? QUICK_SHAPES : FULL_SHAPES;
    const perPhase = context.quick ? 200 : 3000;
    const blockSize = context.quick ? 100 : 250;
    const redis = await startRedis(context, NO_PERSISTENCE);
    const trackers = new Map<string, Started & { port: number }>();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const loaded: Loaded[] = [];
    const problems: string[] = [];
    let client: BenchRedis | undefined;
    try {
      client = await connectBenchRedis(redis.port);
      // First allocations (Lua, per-command histograms, a rack map of each kind) are no
      // shape's cost: a small racked and a small flat swarm go first, unmeasured.
      for (const flat of [false, true]) {
        await loadSwarm(
          client.runner,
          {
            infoHash: benchInfoHash(2999 - Number(flat)),
            hosts: 1000,
            hostsPerRack: 500,
            seederShare: SEEDER_SHARE,
            origins: ORIGINS,
            seed: 7,
            flat,
          },
          preloadPolicy(PEER_TTL, !flat),
        );
      }
      for (const [i, shape] of shapeList.entries()) {
        const flat = shape.hostsPerRack === undefined;
        const policy = preloadPolicy(PEER_TTL, !flat);
        const infoHash = benchInfoHash(2000 + i);
        context.progress(`shapes: loading ${shape.name} (${shape.peers} peers)`);
        await sleep(100);
        const before = await usedMemory(client);
        const loadStart = process.hrtime.bigint();
        const spec = shapeSwarm(shape, infoHash, i + 1);
        const hostsPerRack = spec.hostsPerRack;
        // Its own connection, closed before memory is read: its buffers are no peer's cost.
        const loader = await connectBenchRedis(redis.port);
        const { peers, roles } = await loadSwarm(loader.runner, spec, policy, { keep: true }).finally(() =>
          loader.close(),
        );
        const loadSeconds = Number(process.hrtime.bigint() - loadStart) / 1e9;
        await sleep(100);
        const bytesPerPeer = ((await usedMemory(client)) - before) / shape.peers;
        const racks = flat ? 1 : Math.ceil((shape.peers - ORIGINS) / hostsPerRack);
        // Two per rack, or as many leechers as a small rack has (seeders never claim a slot).
        const leechers = new Map<string, number>();
        for (const p of peers) if (p.left > 0n) leechers.set(p.host.rack, (leechers.get(p.host.rack) ?? 0) + 1);
        const expectedReps = [...leechers.values()].reduce((sum, n) => sum + Math.min(2, n), 0);
        if (!flat && roles.rep !== expectedReps)
          problems.push(`${shape.name}: ${roles.rep} representatives, expected ${expectedReps}`);
        if (flat && roles.rep !== 0) problems.push(`${shape.name}: ${roles.rep} representatives in flat mode`);
        const key = trackerKey(shape);
        let tracker = trackers.get(key);
        if (!tracker) {
          tracker = await startTracker(`redis://127.0.0.1:${redis.port}`, {
            PROXYPASS: "true",
            PEER_TTL: String(PEER_TTL),
            RACK_AWARE: String(!flat),
            ...(flat ? {} : { SUBNET_PREFIX_V4: String(subnetPrefix(hostsPerRack)) }),
            // Each transfer its own two representatives per rack, as loaded; leases live as
            // long as the preloaded peers, so a representative's announce is a renewal.
            RACK_UPLINK_SLOTS: String(BENCH_SLOTS),
            LEASE_TTL: String(PEER_TTL),
            // The sweep runs through EVALSHA too: keep it out of the counts.
            SWEEP_INTERVAL: "86400",
          });
          trackers.set(key, tracker);
        }
        loaded.push({
          shape,
          infoHashHex: infoHash.toString("hex"),
          members: peers.filter((p) => p.role === "member"),
          reps: peers.filter((p) => p.role === "rep"),
          racks,
          bytesPerPeer,
          loadSeconds,
          tracker,
          random: seededRandom(1000 + i),
          tallies: { member: emptyTally(), rep: emptyTally() },
        });
      }
      for (const l of loaded) await block(client, agent, l, l.members, 200, emptyTally());
      // Shapes take turns block by block, so a change of background load on a shared machine
      // hits every shape alike.
      context.progress(`shapes: ${perPhase} member and representative announces per shape`);
      for (let done = 0; done < perPhase; done += blockSize) {
        for (let k = 0; k < loaded.length; k++) {
          const l = loaded[(k + done / blockSize) % loaded.length]!;
          await block(client, agent, l, l.members, blockSize, l.tallies.member);
          if (l.reps.length > 0) await block(client, agent, l, l.reps, blockSize, l.tallies.rep);
        }
      }
      for (const l of loaded) {
        for (const [phase, t] of Object.entries(l.tallies)) {
          if (t.errors > 0) problems.push(`${l.shape.name}, ${phase}: ${t.errors} failed announces`);
          else if (t.redisCalls !== t.count + t.renewals) {
            problems.push(
              `${l.shape.name}, ${phase}: Redis counted ${t.redisCalls} EVALSHA for ${t.count} announces (${t.renewals} renewals)`,
            );
          }
        }
      }
    } catch (error) {
      problems.push((error as Error).message);
    } finally {
      agent.destroy();
      await client?.close();
      for (const tracker of trackers.values()) await tracker.stop();
      await redis.stop();
    }

    const per = (t: Tally) => ({
      redisUs: t.count > 0 ? t.redisUsec / t.count : 0,
      cpuUs: t.count > 0 ? (t.trackerCpu * 1e6) / t.count : 0,
      p50: percentile(
        [...t.latencies].sort((a, b) => a - b),
        50,
      ),
      peers: t.count > t.errors ? t.peers / (t.count - t.errors) : 0,
    });
    const reference = loaded.find((l) => l.shape.name === REFERENCE);
    const refMember = reference ? per(reference.tallies.member) : undefined;
    const refRep = reference ? per(reference.tallies.rep) : undefined;
    const dash = "-";
    const rows = loaded.map((l) => {
      const m = per(l.tallies.member);
      const r = l.reps.length > 0 ? per(l.tallies.rep) : undefined;
      return [
        l.shape.name,
        l.shape.peers,
        l.racks,
        l.loadSeconds.toFixed(1),
        l.bytesPerPeer.toFixed(0),
        m.redisUs.toFixed(1),
        m.cpuUs.toFixed(0),
        (m.p50 / 1000).toFixed(2),
        m.peers.toFixed(1),
        r ? r.redisUs.toFixed(1) : dash,
        r ? r.cpuUs.toFixed(0) : dash,
        refMember ? ratio(m.redisUs, refMember.redisUs) : dash,
        r && refRep ? ratio(r.redisUs, refRep.redisUs) : dash,
      ];
    });
    const worst = (pick: (l: Loaded) => number) => loaded.reduce((a, b) => (pick(b) > pick(a) ? b : a), loaded[0]!);
    const notes = [
      `Each shape is one transfer loaded into the same redis-server (redis.conf, no persistence): ${SEEDER_SHARE * 100}% seeders, ${ORIGINS} origin seeders, racks as the subnet resolver names them at the smallest prefix that holds the rack (SUBNET_PREFIX_V4), flat mode with RACK_AWARE off. Loaded through the announce script (pipelined, numwant 0); bytes/peer = used_memory growth over the load / peers.`,
      `Then ${perPhase} sequential periodic announces (no event, numwant 50, keep-alive HTTP, X-Forwarded-For) per shape of its members, and as many of its representatives (each also renews its rack lease: a second script call), through one p2ptracker process per tracker setting; shapes take turns in blocks of ${blockSize}. redis µs: EVALSHA µs per announce from INFO commandstats; tracker CPU µs: the tracker process's user+system CPU per announce (/proc, 10 ms ticks).`,
    ];
    if (reference && loaded.length > 1) {
      const memWorst = worst((l) => l.bytesPerPeer);
      const memberWorst = worst((l) => per(l.tallies.member).redisUs);
      const repWorst = worst((l) => (l.reps.length > 0 ? per(l.tallies.rep).redisUs : 0));
      const verdict = (ok: boolean) => (ok ? "met" : "not met");
      const memberRatio = per(memberWorst.tallies.member).redisUs / refMember!.redisUs;
      const repRatio = per(repWorst.tallies.rep).redisUs / refRep!.redisUs;
      notes.push(
        `targets: Redis per announce within 1.3× of "${REFERENCE}" at every shape: members worst ${memberRatio.toFixed(2)}× (${memberWorst.shape.name}, ${verdict(memberRatio <= 1.3)}), representatives worst ${repRatio.toFixed(2)}× (${repWorst.shape.name}, ${verdict(repRatio <= 1.3)}); a member's periodic announce ≤ 30 µs of Redis at every shape: worst ${per(memberWorst.tallies.member).redisUs.toFixed(1)} µs (${verdict(per(memberWorst.tallies.member).redisUs <= 30)}); ≤ 200 bytes per live peer (aim 150): worst ${memWorst.bytesPerPeer.toFixed(0)} (${memWorst.shape.name}, ${verdict(memWorst.bytesPerPeer <= 200)}).`,
      );
    }
    return [
      {
        title: "Announce cost and memory at every swarm shape",
        columns: [
          "shape",
          "peers",
          "racks",
          "load s",
          "bytes/peer",
          "member redis µs",
          "member tracker CPU µs",
          "member p50 ms",
          "peers/reply",
          "rep redis µs",
          "rep tracker CPU µs",
          "member redis / 40 per rack",
          "rep redis / 40 per rack",
        ],
        rows,
        notes,
        ...(problems.length > 0 ? { failed: problems.join("; ") } : {}),
      },
    ];
  },
};
