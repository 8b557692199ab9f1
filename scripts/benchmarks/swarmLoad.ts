import { createClient, RESP_TYPES } from "redis";
import { transferKeys } from "../../src/store/keys.js";
import { FLAT_LOCATION } from "../../src/racks/location.js";
import { announceWithBudget } from "../../src/store/rackBudget.js";
import {
  SCRIPTS,
  runActivate,
  type AnnouncePolicy,
  type LeasePolicy,
  type Role,
  type ScriptRunner,
} from "../../src/store/scripts.js";

/**
 * Rack slots for the benches that measure one transfer at a time: enough that each
 * transfer elects its own two representatives per rack, as it would alone, although
 * every transfer uses the same hosts. Sharing slots across transfers is btlab's to measure.
 */
export const BENCH_SLOTS = 1000;

/** The rack budget for a preloaded swarm: leases live as long as its peers (the load takes longer than a tracker's lease). */
export function preloadBudget(ttl: number): LeasePolicy {
  return { slots: BENCH_SLOTS, leaseTtl: ttl, headStart: 300, waitTtl: ttl };
}

/**
 * The policy a preloaded swarm is announced under: two representatives a rack, peers and
 * leases that live `ttl` seconds, no auto-activation; rack-aware or flat.
 */
export function preloadPolicy(ttl: number, rackAware = true): AnnouncePolicy & LeasePolicy {
  return { maxRepr: 2, peerTtl: ttl, autoActivate: false, rackAware, pruneLimit: 16, ...preloadBudget(ttl) };
}

/** Hosts per rack, as in a rack of 1U servers behind one top-of-rack switch. */
export const HOSTS_PER_RACK = 40;
/** Every simulated client listens on the same port: hosts are told apart by address. */
export const PEER_PORT = 6881;
/** Payload size of the simulated build, bytes. */
export const PAYLOAD_BYTES = 734_003_200n;

/** A small seeded PRNG (mulberry32), so a run loads the same swarm every time. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** One simulated server: its address, the rack the tracker's subnet resolver gives it, its ids. */
export interface Host {
  readonly index: number;
  readonly ip: string;
  /** 4-byte IPv4 then the 2-byte port, as the announce script stores it. */
  readonly compact: Buffer;
  /** The /24 network, exactly as the subnet resolver names it. */
  readonly rack: string;
  readonly peerId: Buffer;
  /** The `key` parameter as the client sends it (8 hex characters, as rtorrent does). */
  readonly keyText: string;
}

function makeHost(index: number, octets: readonly [number, number, number, number]): Host {
  const [a, b, c, d] = octets;
  const compact = Buffer.from([a, b, c, d, PEER_PORT >> 8, PEER_PORT & 255]);
  const peerId = Buffer.alloc(20);
  peerId.write("-lt0D60-", "latin1");
  const random = seededRandom(index * 7919 + 17);
  for (let i = 8; i < 20; i++) peerId[i] = Math.floor(random() * 256);
  const keyText = Math.floor(random() * 2 ** 32)
    .toString(16)
    .toUpperCase()
    .padStart(8, "0");
  return { index, ip: `${a}.${b}.${c}.${d}`, compact, rack: `${a}.${b}.${c}.0/24`, peerId, keyText };
}

/**
 * Host `index` of the racked fleet: rack r = index / hostsPerRack sits in the /24 10.<r/256>.<r%256>.0,
 * hosts numbered from .1 (so at most 65,280 racks of at most 254 hosts). Larger racks take
 * the smallest subnet that holds them (see subnetPrefix), numbered up from 10.0.0.0.
 */
export function rackedHost(index: number, hostsPerRack = HOSTS_PER_RACK): Host {
  const rack = Math.floor(index / hostsPerRack);
  if (hostsPerRack <= 254) return makeHost(index, [10, (rack >> 8) & 255, rack & 255, 1 + (index % hostsPerRack)]);
  const prefix = subnetPrefix(hostsPerRack);
  const address = (10 << 24) + rack * 2 ** (32 - prefix) + 1 + (index % hostsPerRack);
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) & 255) as [
    number,
    number,
    number,
    number,
  ];
  const host = makeHost(index, octets);
  const network = (10 << 24) + rack * 2 ** (32 - prefix);
  const name = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) & 255).join(".");
  return { ...host, rack: `${name}/${prefix}` };
}

/** The IPv4 prefix length of the subnet rackedHost puts a rack of this many hosts in (SUBNET_PREFIX_V4). */
export function subnetPrefix(hostsPerRack: number): number {
  return hostsPerRack <= 254 ? 24 : 32 - Math.ceil(Math.log2(hostsPerRack + 2));
}

/** Build server `index`: in its own /24 (10.255.255.0/24), complete at its first announce. */
export function originHost(index: number): Host {
  return makeHost(-1 - index, [10, 255, 255, 1 + index]);
}

/** The 20 info hash bytes of simulated transfer `t` (distinct from the wrk mix's hashes). */
export function benchInfoHash(t: number): Buffer {
  return Buffer.from(Array.from({ length: 20 }, (_, i) => (t * 131 + i * 17 + 0xa5) % 256));
}

/** What a loaded peer announced, so the bench can announce again as the same client. */
export interface LoadedPeer {
  readonly host: Host;
  readonly left: bigint;
  readonly downloaded: bigint;
  readonly role: Role;
}

/** One transfer's swarm to load. */
export interface SwarmSpec {
  readonly infoHash: Buffer;
  /** Racked hosts taking part (hosts 0 … hosts-1 of the fleet). */
  readonly hosts: number;
  readonly hostsPerRack: number;
  /** Share of the racked hosts that have completed (seeders); the rest are leechers. */
  readonly seederShare: number;
  /** Build servers seeding the transfer (origins). */
  readonly origins: number;
  readonly seed: number;
  /** Flat mode (RACK_AWARE off): every client in the one location "*". */
  readonly flat?: boolean;
}

/** A node-redis client with our scripts, in the two views the bench needs. */
export interface BenchRedis {
  /** Plain replies (INFO, MEMORY USAGE, admin commands). */
  readonly admin: ReturnType<typeof createBenchClient>;
  /** The announce script's runner; binary replies come back as Buffers. */
  readonly runner: ScriptRunner;
  close(): Promise<void>;
}

function createBenchClient(url: string) {
  return createClient({ url, scripts: SCRIPTS });
}

/** Connects to the bench's redis-server and loads the scripts (so EVALSHA never misses). */
export async function connectBenchRedis(port: number): Promise<BenchRedis> {
  const admin = createBenchClient(`redis://127.0.0.1:${port}`);
  await admin.connect();
  for (const script of Object.values(SCRIPTS)) await admin.scriptLoad(script.SCRIPT);
  const runner = admin.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }) as unknown as ScriptRunner;
  return { admin, runner, close: () => admin.quit().then(() => undefined) };
}

/** Runs `count` jobs with at most `inFlight` pending: node-redis pipelines their commands. */
export async function pipelined(count: number, inFlight: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
}

/**
 * Loads one transfer's swarm through the production announce wrapper: activates it, then
 * one announce per peer (origins first, then hosts in order; seeders announce `completed`
 * with left 0, leechers `started`), numwant 0 since the replies are not needed. Returns
 * the peers with the role the script gave each when `keep`, else only role counts.
 */
export async function loadSwarm(
  runner: ScriptRunner,
  spec: SwarmSpec,
  policy: AnnouncePolicy & LeasePolicy,
  options: { readonly inFlight?: number; readonly keep?: boolean } = {},
): Promise<{ peers: LoadedPeer[]; roles: Record<Role, number> }> {
  const keys = transferKeys(spec.infoHash.toString("hex"));
  await runActivate(runner, keys, "bench-build", PAYLOAD_BYTES.toString());
  const random = seededRandom(spec.seed);
  const total = spec.origins + spec.hosts;
  const plan = Array.from({ length: total }, (_, i) => {
    const host = i < spec.origins ? originHost(i) : rackedHost(i - spec.origins, spec.hostsPerRack);
    const seeder = i < spec.origins || random() < spec.seederShare;
    const left = seeder ? 0n : (PAYLOAD_BYTES * BigInt(1 + Math.floor(random() * 999))) / 1000n;
    return { host, seeder, left, downloaded: PAYLOAD_BYTES - left };
  });
  const peers: LoadedPeer[] = [];
  const roles: Record<Role, number> = { rep: 0, origin: 0, member: 0, "": 0 };
  await pipelined(total, options.inFlight ?? 512, async (i) => {
    const { host, seeder, left, downloaded } = plan[i]!;
    const isOrigin = i < spec.origins;
    const { result } = await announceWithBudget(
      runner,
      spec.infoHash.toString("hex"),
      {
        address: host.compact,
        rack: spec.flat ? FLAT_LOCATION : host.rack,
        peerId: host.peerId,
        event: isOrigin ? "started" : seeder ? "completed" : "started",
        left,
        uploaded: 0n,
        downloaded,
        numwant: 0,
        withPeerIds: false,
      },
      policy,
    );
    if (!result.active) throw new Error(`transfer ${spec.infoHash.toString("hex")} is not active`);
    roles[result.role]++;
    if (options.keep) peers[i] = { host, left, downloaded, role: result.role };
  });
  return { peers, roles };
}

/** One field of an INFO section (`INFO memory` → used_memory), as a number. */
export function infoField(info: string, field: string): number {
  const match = new RegExp(`^${field}:(\\S+)`, "m").exec(info);
  if (!match) throw new Error(`INFO has no ${field}`);
  return Number(match[1]);
}

/** calls and total usec of one command from INFO commandstats (0 when it never ran). */
export function commandStats(info: string, command: string): { calls: number; usec: number } {
  const line = info.split("\n").find((l) => l.startsWith(`cmdstat_${command}:`)) ?? "";
  return {
    calls: Number(/calls=(\d+)/.exec(line)?.[1] ?? 0),
    usec: Number(/[:,]usec=(\d+)/.exec(line)?.[1] ?? 0),
  };
}

/** Percentile `p` (0–100) of values sorted ascending (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
