import { readFileSync } from "node:fs";
import { sleep, startRedis, startTracker, type BenchContext, type Table, type Workload } from "./bench.js";
import { transferKeys } from "../../src/store/keys.js";
import {
  HOSTS_PER_RACK,
  PAYLOAD_BYTES,
  benchInfoHash,
  connectBenchRedis,
  infoField,
  loadSwarm,
  preloadPolicy,
  pipelined,
  rackedHost,
  seededRandom,
  type BenchRedis,
} from "./swarmLoad.js";
import { calibratedRate, rateOf, runWrk, type Mix, type WrkResult } from "./wrk.js";

/** The fleet: every host takes part in every transfer (250 racks × 40 hosts). */
const RACKS = 250;
const HOSTS = RACKS * HOSTS_PER_RACK;
const SEEDER_SHARE = 0.3;
/** Persistence off: an AOF rewrite or RDB save during the load would distort its timing. */
const NO_PERSISTENCE = ["--appendonly", "no", "--save", ""];
const POLICY = preloadPolicy(86_400);
const SOAK_MIX: Mix = { transfers: 10, hosts: 4000, racks: 100 };
const SOAK_CONNECTIONS = 32;

/** One measured model: bytes of used_memory per live peer. */
interface ModelResult {
  readonly model: string;
  readonly peers: number;
  readonly transfers: number;
  readonly keys: number;
  readonly bytes: number;
  readonly seconds: number;
}

/** One structure's share of one transfer's memory. */
interface Part {
  readonly model: string;
  readonly structure: string;
  readonly keys: number;
  readonly encoding: string;
  readonly bytes: number;
  readonly peers: number;
}

const usedMemory = async (redis: BenchRedis) => infoField(await redis.admin.info("memory"), "used_memory");
const dbSize = async (redis: BenchRedis) => Number(await redis.admin.dbSize());

/** MEMORY USAGE (exact: SAMPLES 0) of the keys given that exist: their count, bytes and encodings. */
async function usage(
  redis: BenchRedis,
  keys: readonly string[],
): Promise<{ keys: number; bytes: number; encoding: string }> {
  const sizes = await Promise.all(keys.map((k) => redis.admin.sendCommand(["MEMORY", "USAGE", k, "SAMPLES", "0"])));
  const existing = keys.filter((_, i) => sizes[i] !== null);
  const found = new Set<string>();
  for (const key of existing.slice(0, 100)) found.add(String(await redis.admin.objectEncoding(key)));
  return {
    keys: existing.length,
    bytes: sizes.reduce<number>((sum, s) => sum + Number(s ?? 0), 0),
    encoding: [...found].sort().join("/"),
  };
}

/**
 * Measures `load` in a fresh redis-server (no persistence): used_memory and DBSIZE before
 * and after, with only an idle admin connection open at both points (the loader's buffers
 * would count otherwise), then `breakdown` of what it loaded. `warm` runs first and is
 * flushed: Redis allocates a latency histogram per command on its first call (tens of
 * KB each), which is no peer's cost.
 */
async function measureModel(
  context: BenchContext,
  model: string,
  peers: number,
  transfers: number,
  warm: (redis: BenchRedis) => Promise<void>,
  load: (redis: BenchRedis) => Promise<void>,
  breakdown: (redis: BenchRedis) => Promise<Part[]>,
): Promise<{ result: ModelResult; parts: Part[] }> {
  const server = await startRedis(context, NO_PERSISTENCE);
  try {
    const admin = await connectBenchRedis(server.port);
    try {
      const warmer = await connectBenchRedis(server.port);
      await warm(warmer);
      await warmer.close();
      await admin.admin.sendCommand(["FLUSHALL", "SYNC"]);
      await usedMemory(admin);
      await dbSize(admin);
      await sleep(200);
      const before = await usedMemory(admin);
      const keysBefore = await dbSize(admin);
      const loader = await connectBenchRedis(server.port);
      const start = process.hrtime.bigint();
      try {
        await load(loader);
      } finally {
        await loader.close();
      }
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      await sleep(200);
      const bytes = (await usedMemory(admin)) - before;
      const keys = (await dbSize(admin)) - keysBefore;
      return { result: { model, peers, transfers, keys, bytes, seconds }, parts: await breakdown(admin) };
    } finally {
      await admin.close();
    }
  } finally {
    await server.stop();
  }
}

/** p2ptracker's model: `transfers` swarms of the whole fleet, loaded through the announce script. */
async function loadOurs(context: BenchContext, redis: BenchRedis, transfers: number, hosts = HOSTS): Promise<void> {
  for (let t = 0; t < transfers; t++) {
    await loadSwarm(
      redis.runner,
      {
        infoHash: benchInfoHash(t),
        hosts,
        hostsPerRack: HOSTS_PER_RACK,
        seederShare: SEEDER_SHARE,
        origins: 0,
        seed: t,
      },
      POLICY,
    );
    if (hosts === HOSTS && ((t + 1) % 10 === 0 || t + 1 === transfers)) {
      context.progress(`memory: p2ptracker model, ${((t + 1) * HOSTS).toLocaleString("en-US")} peers loaded`);
    }
  }
}

/** Where one transfer's bytes go in p2ptracker's model (transfer 0). */
async function oursBreakdown(redis: BenchRedis, peers: number): Promise<Part[]> {
  const keys = transferKeys(benchInfoHash(0).toString("hex"));
  const racks = (await redis.admin.sMembers(keys.racks)).map(String);
  const rackKeys = (set: string) => racks.map((r) => `${keys.rackPrefix}${r}:${set}`);
  const part = async (structure: string, list: string[]): Promise<Part> => ({
    model: "p2ptracker",
    structure,
    ...(await usage(redis, list)),
    peers,
  });
  return [
    await part("{H}:peers (peer records)", [keys.peers]),
    await part("{H}:rack:<rack>:L and :S (rack members by last seen)", [...rackKeys("L"), ...rackKeys("S")]),
    await part("{H}:rack:<rack>:R (representatives)", rackKeys("R")),
    await part("{H}:RL, :RS, :O (transfer-wide tier)", [keys.repsLeeching, keys.repsSeeding, keys.origins]),
    await part("{H}:info, {H}:racks", [keys.info, keys.racks]),
  ];
}

const pythonTime = (seconds: number) => {
  const d = new Date(seconds * 1000);
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}.${String(d.getMilliseconds() * 1000 + 123).padStart(6, "0")}`;
};

/** The origin's per-peer key prefix and set names (its README's "Redis storage model"). */
const origin = {
  peer: (hash: string, ip: string) => `${hash}:peer:${ip}`,
  peers: (hash: string, set: "N" | "R" | "S" | "L") => `${hash}:peers:${set}`,
  rack: (hash: string, rack: string, set: "N" | "R" | "S") => `${hash}:rack:${rack}:${set}`,
  hosts: (rack: string) => `rack:${rack}`,
};

/** The per-peer string keys of the origin's model (event:completed only for seeders). */
const ORIGIN_FIELDS = [
  "compact",
  "port",
  "peer_id",
  "key",
  "last_event",
  "event:started",
  "event:completed",
  "seeder",
  "downloaded",
  "left",
  "uploaded",
  "rack",
  "hostname",
];

/**
 * The origin's model: per peer 13–14 string keys `hash:peer:<ip>:<field>` with the values
 * its Python tracker wrote (str() of Python values), plus its memberships of
 * hash:peers:N/L/S/R, hash:rack:<rack>:N/S/R and the global rack:<rack>; written with
 * pipelined MSET/SADD.
 */
async function loadOrigin(redis: BenchRedis, transfers: number, hosts = HOSTS): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const globals: Array<Promise<unknown>> = [];
  for (let t = 0; t < transfers; t++) {
    const hash = benchInfoHash(t).toString("hex").toUpperCase();
    globals.push(
      redis.admin.sAdd("transfers", hash),
      redis.admin.sAdd("active_transfers", hash),
      redis.admin.mSet([
        [`${hash}:name`, "bench-build"],
        [`${hash}:length`, PAYLOAD_BYTES.toString()],
        [`${hash}:registered`, pythonTime(now - 600)],
        [`${hash}:first_started`, pythonTime(now - 590)],
        [`${hash}:last_started`, pythonTime(now - 10)],
        [`${hash}:first_completed`, pythonTime(now - 300)],
        [`${hash}:last_completed`, pythonTime(now - 5)],
      ]),
    );
    const random = seededRandom(t);
    const chunk = 100;
    const repsSeen = new Map<string, number>();
    await pipelined(Math.ceil(hosts / chunk), 16, async (c) => {
      const strings: Array<[string, string | Buffer]> = [];
      const sets = new Map<string, string[]>();
      const add = (key: string, member: string) => {
        const members = sets.get(key);
        if (members) members.push(member);
        else sets.set(key, [member]);
      };
      for (let h = c * chunk; h < Math.min(hosts, (c + 1) * chunk); h++) {
        const host = rackedHost(h);
        const seeder = random() < SEEDER_SHARE;
        const left = seeder ? 0n : (PAYLOAD_BYTES * BigInt(1 + Math.floor(random() * 999))) / 1000n;
        const p = origin.peer(hash, host.ip);
        const started = now - 600 + Math.floor(random() * 300);
        strings.push(
          [`${p}:compact`, "True"],
          [`${p}:port`, String(host.compact.readUInt16BE(4))],
          [`${p}:peer_id`, host.peerId],
          [`${p}:key`, host.keyText],
          [`${p}:last_event`, seeder ? "completed" : "started"],
          [`${p}:event:started`, pythonTime(started)],
          [`${p}:seeder`, seeder ? "True" : "False"],
          [`${p}:downloaded`, String(PAYLOAD_BYTES - left)],
          [`${p}:left`, String(left)],
          [`${p}:uploaded`, String(Math.floor(random() * Number(PAYLOAD_BYTES)))],
          [`${p}:rack`, host.rack],
          [`${p}:hostname`, `node${String(h).padStart(5, "0")}.r${Math.floor(h / HOSTS_PER_RACK)}.dc1.example.net`],
        );
        if (seeder) strings.push([`${p}:event:completed`, pythonTime(started + 120)]);
        const member = `${host.ip}:${host.compact.readUInt16BE(4)}`;
        add(origin.peers(hash, "N"), member);
        add(origin.peers(hash, seeder ? "S" : "L"), member);
        add(origin.rack(hash, host.rack, "N"), member);
        if (seeder) add(origin.rack(hash, host.rack, "S"), member);
        const reps = repsSeen.get(host.rack) ?? 0;
        if (reps < 2) {
          repsSeen.set(host.rack, reps + 1);
          add(origin.peers(hash, "R"), member);
          add(origin.rack(hash, host.rack, "R"), member);
        }
        add(origin.hosts(host.rack), host.ip);
        add("racks", host.rack);
      }
      await Promise.all([
        redis.admin.mSet(strings),
        ...[...sets].map(([key, members]) => redis.admin.sAdd(key, members)),
      ]);
    });
  }
  await Promise.all(globals);
}

/** Where one transfer's bytes go in the origin's model (transfer 0). */
async function originBreakdown(redis: BenchRedis, peers: number, transfers: number): Promise<Part[]> {
  const hash = benchInfoHash(0).toString("hex").toUpperCase();
  const racks = Array.from({ length: RACKS }, (_, r) => rackedHost(r * HOSTS_PER_RACK).rack);
  const part = async (structure: string, list: string[], perPeers: number): Promise<Part> => ({
    model: "origin",
    structure,
    ...(await usage(redis, list)),
    peers: perPeers,
  });
  // The string keys of one rack's hosts (seeders and leechers) stand for every peer's.
  const sample = Array.from({ length: HOSTS_PER_RACK }, (_, h) =>
    ORIGIN_FIELDS.map((f) => `${origin.peer(hash, rackedHost(h).ip)}:${f}`),
  ).flat();
  const rackSets = (set: "N" | "R" | "S") => racks.map((r) => origin.rack(hash, r, set));
  return [
    await part(`hash:peer:<ip>:<field> strings (${HOSTS_PER_RACK} peers sampled)`, sample, HOSTS_PER_RACK),
    await part(
      "hash:peers:N/L/S/R",
      (["N", "L", "S", "R"] as const).map((s) => origin.peers(hash, s)),
      peers,
    ),
    await part("hash:rack:<rack>:N/S/R", [...rackSets("N"), ...rackSets("S"), ...rackSets("R")], peers),
    // Hosts of a rack are shared by all transfers: a per-peer share is 1/transfers of them.
    await part(
      "rack:<rack> (hosts ever seen, all transfers)",
      racks.map((r) => origin.hosts(r)),
      peers * transfers,
    ),
  ];
}

/** VmRSS of a process, bytes. */
function rssOf(pid: number): number {
  const kb = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb ?? 0) * 1024;
}

/** What the soak measured: RSS samples are [seconds into the soak, bytes]. */
interface Soak {
  readonly peak: WrkResult;
  readonly target: number;
  readonly run: WrkResult;
  readonly samples: Array<[number, number]>;
  readonly bootRss: number;
}

/**
 * The tracker's RSS over a soak: peak rate under the wrk mix first, then `seconds` at half
 * of it (wrk's pacing calibrated by probes, see calibratedRate), sampling
 * /proc/<pid>/status every 5 s.
 */
async function soak(context: BenchContext, seconds: number): Promise<Soak> {
  const redis = await startRedis(context, NO_PERSISTENCE);
  try {
    const tracker = await startTracker(`redis://127.0.0.1:${redis.port}`, { PROXYPASS: "true", AUTO_ACTIVATE: "true" });
    try {
      const pid = tracker.child.pid!;
      const bootRss = rssOf(pid);
      const url = `http://127.0.0.1:${tracker.port}/announce`;
      const wrk = (secs: number, rate?: number) =>
        runWrk({
          url,
          mix: SOAK_MIX,
          keepalive: true,
          connections: SOAK_CONNECTIONS,
          seconds: secs,
          ...(rate ? { rate } : {}),
        });
      context.progress("memory: soak: peak rate (3 s warm-up, 15 s)");
      await wrk(3);
      const peak = await wrk(15);
      const target = rateOf(peak) / 2;
      const ask = await calibratedRate(target, async (rate) => rateOf(await wrk(10, rate)));
      context.progress(
        `memory: soak: ${seconds} s at ${target.toFixed(0)} announces/s (50% of peak; asking wrk for ${ask.toFixed(0)}), sampling RSS`,
      );
      const samples: Array<[number, number]> = [[0, rssOf(pid)]];
      const start = Date.now();
      const timer = setInterval(() => samples.push([(Date.now() - start) / 1000, rssOf(pid)]), 5000);
      try {
        const run = await wrk(seconds, ask);
        samples.push([(Date.now() - start) / 1000, rssOf(pid)]);
        return { peak, target, run, samples, bootRss };
      } finally {
        clearInterval(timer);
      }
    } finally {
      await tracker.stop();
    }
  } finally {
    await redis.stop();
  }
}

/** The highest RSS of the samples taken from `from` up to (not including) `to` seconds. */
function highestRss(samples: ReadonlyArray<[number, number]>, from: number, to: number): number {
  return Math.max(0, ...samples.filter(([t]) => t >= from && t < to).map(([, bytes]) => bytes));
}

/** The median RSS of the samples taken from `from` up to (not including) `to` seconds. */
function medianRss(samples: ReadonlyArray<[number, number]>, from: number, to: number): number {
  const window = samples
    .filter(([t]) => t >= from && t < to)
    .map(([, bytes]) => bytes)
    .sort((a, b) => a - b);
  return window[Math.floor(window.length / 2)] ?? 0;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const perPeer = (bytes: number, peers: number) => (bytes / peers).toFixed(0);

/**
 * Workload 3: Redis memory per live peer with p2ptracker's key model (1,000,000 peers over
 * 100 transfers and 250 racks) against the origin's model, and the tracker's RSS over a soak.
 */
export const memory: Workload = {
  name: "memory",
  description: "Redis bytes per live peer (1M peers) against the origin's key model; tracker RSS over a 10-minute soak",
  async run(context: BenchContext): Promise<Table[]> {
    const transfers = context.quick ? 2 : 100;
    const sameSize = context.quick ? 2 : 10;
    const results: ModelResult[] = [];
    const parts: Part[] = [];
    const problems: string[] = [];
    const ours = async (count: number) => {
      const peers = count * HOSTS;
      context.progress(`memory: p2ptracker model, ${peers.toLocaleString("en-US")} peers in ${count} transfers`);
      const measured = await measureModel(
        context,
        "p2ptracker",
        peers,
        count,
        (redis) => loadOurs(context, redis, count, 2 * HOSTS_PER_RACK),
        (redis) => loadOurs(context, redis, count),
        async (redis) => {
          let live = 0;
          for (let t = 0; t < count; t++)
            live += Number(await redis.admin.hLen(transferKeys(benchInfoHash(t).toString("hex")).peers));
          if (live !== peers) problems.push(`p2ptracker model: ${live} peer records, expected ${peers}`);
          return oursBreakdown(redis, HOSTS);
        },
      );
      results.push(measured.result);
      return measured.parts;
    };
    try {
      const main = await ours(transfers);
      if (sameSize !== transfers) await ours(sameSize);
      parts.push(...main);
      const originPeers = sameSize * HOSTS;
      context.progress(`memory: origin model, ${originPeers.toLocaleString("en-US")} peers in ${sameSize} transfers`);
      const measured = await measureModel(
        context,
        "origin (Python tracker's README layout)",
        originPeers,
        sameSize,
        (redis) => loadOrigin(redis, 1, 2 * HOSTS_PER_RACK),
        (redis) => loadOrigin(redis, sameSize),
        (redis) => originBreakdown(redis, HOSTS, sameSize),
      );
      results.push(measured.result);
      parts.push(...measured.parts);
    } catch (error) {
      problems.push((error as Error).message);
    }

    const failed = problems.length > 0 ? { failed: problems.join("; ") } : {};
    const main = results[0];
    const originResult = results.find((r) => r.model.startsWith("origin"));
    const mainPerPeer = main ? main.bytes / main.peers : 0;
    const verdict = mainPerPeer <= 150 ? "met, aim too" : mainPerPeer <= 200 ? "met (aim 150 not met)" : "not met";
    const tables: Table[] = [
      {
        title: "Redis memory per live peer",
        columns: [
          "model",
          "peers",
          "transfers",
          "racks",
          "keys",
          "used_memory Δ MB",
          "bytes/peer",
          "load s",
          "peers/s",
        ],
        rows: results.map((r) => [
          r.model,
          r.peers,
          r.transfers,
          RACKS,
          r.keys,
          mb(r.bytes),
          perPeer(r.bytes, r.peers),
          r.seconds.toFixed(1),
          (r.peers / r.seconds).toFixed(0),
        ]),
        notes: [
          `${HOSTS_PER_RACK} hosts per rack, every host in every transfer, ${SEEDER_SHARE * 100}% seeders; first 2 hosts of each rack are representatives. Each model in a fresh redis-server from redis.conf plus \`${NO_PERSISTENCE.map((a) => a || '""').join(" ")}\` (no AOF/RDB during the load); bytes/peer = (used_memory after − before) / peers, both taken with only an idle admin connection open (Lua scripts already loaded).`,
          "p2ptracker: loaded through the announce script (runAnnounce, pipelined, numwant 0). origin: per peer 12 strings hash:peer:<ip>:<field> (compact, port, peer_id, key, last_event, event:started, seeder, downloaded, left, uploaded, rack, hostname; seeders also event:completed) with Python str() values and datetimes, plus set members hash:peers:N/L|S/R, hash:rack:<rack>:N/S/R and rack:<rack>; no TTLs (its README names none), written with pipelined MSET/SADD.",
          `target ≤ 200 bytes/peer, aim 150: ${main ? `${perPeer(main.bytes, main.peers)} bytes/peer at ${main.peers.toLocaleString("en-US")} peers (${verdict})` : "not measured"}${originResult && main ? `; the origin's model costs ${(originResult.bytes / originResult.peers / mainPerPeer).toFixed(1)}× as much per peer` : ""}.`,
        ],
        ...failed,
      },
    ];
    if (parts.length > 0) {
      tables.push({
        title: "Where a transfer's bytes go (one transfer of each model, MEMORY USAGE SAMPLES 0)",
        columns: ["model", "structure", "keys", "encoding", "bytes", "bytes/peer"],
        rows: parts.map((p) => [p.model, p.structure, p.keys, p.encoding, p.bytes, perPeer(p.bytes, p.peers)]),
        notes: [
          `One transfer of ${HOSTS.toLocaleString("en-US")} peers in ${RACKS} racks. MEMORY USAGE counts each key's value, name and keyspace entry, but not the keyspace's bucket array, and it counts a hash or set entry (dictEntry) at its 24-byte struct size where jemalloc allocates 32: the rows add up to a little less than bytes/peer above.`,
        ],
      });
    }

    if (!context.quick) {
      const minutes = 10;
      try {
        const { peak, target, run, samples, bootRss } = await soak(context, minutes * 60);
        const seconds = minutes * 60;
        const settled = medianRss(samples, 60, 120);
        const final = medianRss(samples, seconds - 60, Infinity);
        const medianGrowth = ((final - settled) / settled) * 100;
        // The collector swings RSS by tens of MB over minutes, so two one-minute windows can
        // land at any point of its cycle; the highest RSS of each half (after the first
        // minute) spans several cycles, and only growth moves it.
        const firstHalfTop = highestRss(samples, 60, 60 + (seconds - 60) / 2);
        const secondHalfTop = highestRss(samples, 60 + (seconds - 60) / 2, Infinity);
        const growth = ((secondHalfTop - firstHalfTop) / firstHalfTop) * 100;
        const errors = peak.errors + peak.failures + run.errors + run.failures;
        tables.push({
          title: "Tracker RSS over a soak at 50% of peak",
          columns: [
            "peak announces/s",
            "target announces/s",
            "soak announces/s",
            "soak p99 ms",
            "errors",
            "RSS boot MB",
            "RSS soak start MB",
            "RSS 2nd min MB",
            "RSS last min MB",
            "median growth %",
            "highest RSS 1st half MB",
            "highest RSS 2nd half MB",
            "growth %",
          ],
          rows: [
            [
              rateOf(peak).toFixed(0),
              target.toFixed(0),
              rateOf(run).toFixed(0),
              (run.p99Us / 1000).toFixed(2),
              errors,
              mb(bootRss),
              mb(samples[0]![1]),
              mb(settled),
              mb(final),
              medianGrowth.toFixed(1),
              mb(firstHalfTop),
              mb(secondHalfTop),
              growth.toFixed(1),
            ],
          ],
          notes: [
            `One p2ptracker process (PROXYPASS, AUTO_ACTIVATE, default PEER_TTL and sweep) on its own redis-server (no persistence); wrk -t1 -c${SOAK_CONNECTIONS} keep-alive with the throughput workload's mix (${SOAK_MIX.transfers} transfers, ${SOAK_MIX.hosts} hosts, ${SOAK_MIX.racks} racks): 3 s warm-up, 15 s at full speed (peak), up to three 10 s probes to calibrate wrk's pacing to half of it, then ${minutes} min at half the peak rate. VmRSS from /proc/<pid>/status every 5 s.`,
            "median growth = median RSS of the last minute vs the median of the 2nd minute (the first minute settles after the peak run). RSS swings by tens of MB with V8's garbage collector over minutes, so this figure follows where the heap stands in its cycle at the two windows (the same code measured −13% to +13% in different runs).",
            "growth = the highest RSS of the soak's second half vs the highest of its first half (both after the first minute): each half spans several collection cycles, so it moves only when memory grows.",
            `target: RSS growth ≤ 10% over the soak: ${growth.toFixed(1)}% (${growth <= 10 ? "met" : "not met"}).`,
          ],
          ...(errors > 0 ? { failed: `${errors} errors or failure replies during the soak` } : {}),
        });
      } catch (error) {
        tables.push({
          title: "Tracker RSS over a soak at 50% of peak",
          columns: [],
          rows: [],
          failed: (error as Error).message,
        });
      }
    }
    return tables;
  },
};
