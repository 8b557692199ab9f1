import { defineScript, type RedisArgument, type CommandParser } from "redis";
import { loadLuaScript } from "./luaScripts.js";
import { rackBudgetKeyList, transferKeyList, type RackBudgetKeys, type TransferKeys } from "./keys.js";

function script(name: string) {
  const lua = loadLuaScript(name);
  return defineScript({
    SCRIPT: lua.source,
    NUMBER_OF_KEYS: lua.numberOfKeys,
    parseCommand(parser: CommandParser, keys: readonly string[], args: readonly RedisArgument[]) {
      if (keys.length !== lua.numberOfKeys) {
        throw new Error(`${name} takes ${lua.numberOfKeys} keys, got ${keys.length}`);
      }
      parser.pushKeys([...keys]);
      parser.push(...args);
    },
    transformReply: (reply: unknown) => reply as never,
  });
}

/** The scripts, loaded from lua/ with includes inlined: per transfer, and the rack's lease. */
export const SCRIPTS = {
  announce: script("announce"),
  lease: script("lease"),
  sweep: script("sweep"),
  register: script("register"),
  archive: script("archive"),
  seen: script("seen"),
};

export type ScriptName = keyof typeof SCRIPTS;

/** The minimal surface of a node-redis client (or cluster) that runs our scripts. */
export interface ScriptRunner {
  announce(keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
  lease(keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
  sweep(keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
  register(keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
  archive(keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
  seen(keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
}

/** What one announce asks of the announce script. */
export interface AnnounceRequest {
  readonly address: Uint8Array;
  readonly rack: string;
  /** The client's 20-byte peer_id, raw. */
  readonly peerId: Uint8Array;
  readonly event: "" | "started" | "completed" | "stopped" | "paused";
  readonly left: bigint;
  readonly uploaded: bigint;
  readonly downloaded: bigint;
  readonly numwant: number;
  readonly withPeerIds: boolean;
}

/** Tracker-wide settings the announce script needs on every call. */
export interface AnnouncePolicy {
  readonly maxRepr: number;
  readonly peerTtl: number;
  readonly autoActivate: boolean;
  readonly rackAware: boolean;
  readonly pruneLimit: number;
  /** RACK_UPLINK_SLOTS */
  readonly slots: number;
  /** Seconds a representative's lease lives without a renewal. */
  readonly leaseTtl: number;
}

/** The rack's verdict on a lease, as the announce script's second call takes it. */
export type LeaseGrant = { readonly slot: number; readonly token: number; readonly expiresAt: number } | "none";

/** What the caller must ask the rack's lease script after an announce's first call. */
export type LeaseAsk = "claim" | "renew" | "release" | "";

/** Transfer priorities, as stored ({H}:info priority) and passed to the lease script. */
export const PRIORITIES = ["urgent", "normal", "background"] as const;
export type Priority = (typeof PRIORITIES)[number];

export type Role = "rep" | "origin" | "member" | "";

/** The announce script's reply, by name. */
export interface AnnounceResult {
  readonly active: boolean;
  readonly seeders: number;
  readonly leechers: number;
  readonly peers4: Uint8Array;
  readonly peers6: Uint8Array;
  readonly role: Role;
  readonly activated: boolean;
  readonly peerIds: ReadonlyArray<{ address: Uint8Array; peerId: Uint8Array }>;
  /** This call made the client a representative. */
  readonly elected: boolean;
  /** That election took the slot of a representative that went silent (see the script). */
  readonly failover: boolean;
  readonly leaseAsk: LeaseAsk;
  /** renew: the lease the transfer holds for this client. */
  readonly leaseSlot: number;
  readonly leaseToken: number;
  /** Live representatives of the client's rack in this transfer. */
  readonly rackReps: number;
  /** The transfer's priority: 0 urgent, 1 normal, 2 background. */
  readonly priority: number;
}

const bit = (flag: boolean) => (flag ? "1" : "0");

/** Runs the announce script; the only code that knows its argument and reply positions. */
export async function runAnnounce(
  redis: Pick<ScriptRunner, "announce">,
  keys: TransferKeys,
  request: AnnounceRequest,
  policy: AnnouncePolicy,
  seed: number = Math.floor(Math.random() * 2 ** 31),
  lease?: LeaseGrant,
): Promise<AnnounceResult> {
  const reply = (await redis.announce(transferKeyList(keys), [
    keys.rackPrefix,
    Buffer.from(request.address.buffer, request.address.byteOffset, request.address.byteLength),
    request.rack,
    Buffer.from(request.peerId.buffer, request.peerId.byteOffset, request.peerId.byteLength),
    request.event,
    request.left.toString(),
    request.uploaded.toString(),
    request.downloaded.toString(),
    String(request.numwant),
    bit(request.withPeerIds),
    String(policy.maxRepr),
    String(policy.peerTtl),
    bit(policy.autoActivate),
    bit(policy.rackAware),
    String(seed),
    String(policy.pruneLimit),
    lease === undefined ? "" : lease === "none" ? "-" : `${lease.slot} ${lease.token} ${lease.expiresAt}`,
    String(policy.slots),
    String(policy.leaseTtl),
  ])) as [
    number,
    number,
    number,
    Buffer,
    Buffer,
    Buffer,
    number,
    Buffer[],
    number,
    number,
    Buffer,
    number,
    number,
    number,
    number,
  ];
  const [status, seeders, leechers, peers4, peers6, role, activated, ids, elected, failover] = reply;
  const [leaseAsk, leaseSlot, leaseToken, rackReps, priority] = reply.slice(10) as [
    Buffer,
    number,
    number,
    number,
    number,
  ];
  const peerIds: Array<{ address: Uint8Array; peerId: Uint8Array }> = [];
  for (let i = 0; i + 1 < ids.length; i += 2) peerIds.push({ address: ids[i]!, peerId: ids[i + 1]! });
  return {
    active: status === 1,
    seeders,
    leechers,
    peers4,
    peers6,
    role: role.toString("latin1") as Role,
    activated: activated === 1,
    peerIds,
    elected: elected === 1,
    failover: failover === 1,
    leaseAsk: leaseAsk.toString("latin1") as LeaseAsk,
    leaseSlot,
    leaseToken,
    rackReps,
    priority,
  };
}

/** What a claim or renewal asks of the rack's lease script. */
export interface LeaseRequest {
  readonly action: Exclude<LeaseAsk, "">;
  /** The client's IP address, text: one lease per host. */
  readonly host: string;
  readonly infoHashHex: string;
  readonly priority: number;
  readonly seeding: boolean;
  /** claim: the transfer's live representatives in the rack. */
  readonly transferReps: number;
  /** renew: the token the transfer holds. */
  readonly token: number;
}

/** Rack-wide settings of the budget. */
export interface LeasePolicy {
  readonly slots: number;
  readonly leaseTtl: number;
  /** Seconds of waiting one step of priority is worth. */
  readonly headStart: number;
  /** Seconds a waiting transfer stays queued without an announce asking. */
  readonly waitTtl: number;
}

export type LeaseVerdict = "granted" | "held" | "waiting" | "denied" | "revoked" | "released";

export interface LeaseResult {
  readonly verdict: LeaseVerdict;
  readonly slot: number;
  readonly token: number;
  readonly expiresAt: number;
  /** The host whose lease this claim took, or "". */
  readonly displaced: string;
}

/** Runs the rack's lease script (lua/lease-4.lua). */
export async function runLease(
  redis: Pick<ScriptRunner, "lease">,
  keys: RackBudgetKeys,
  request: LeaseRequest,
  policy: LeasePolicy,
): Promise<LeaseResult> {
  const [verdict, slot, token, expiresAt, displaced] = (await redis.lease(rackBudgetKeyList(keys), [
    request.action,
    request.host,
    request.infoHashHex,
    String(request.priority),
    request.seeding ? "1" : "0",
    String(policy.slots),
    String(policy.leaseTtl),
    String(request.transferReps),
    String(request.token),
    String(policy.headStart),
    String(policy.waitTtl),
  ])) as [Buffer | string, number, number, number, Buffer | string];
  return { verdict: String(verdict) as LeaseVerdict, slot, token, expiresAt, displaced: String(displaced) };
}

/** Runs one bounded sweep of a transfer; returns peers removed and whether more remain. */
export async function runSweep(
  redis: Pick<ScriptRunner, "sweep">,
  keys: TransferKeys,
  peerTtl: number,
  limit: number,
): Promise<{ removed: number; more: boolean }> {
  const [removed, more] = (await redis.sweep(transferKeyList(keys), [
    keys.rackPrefix,
    String(peerTtl),
    String(limit),
  ])) as [number, number];
  return { removed, more: more === 1 };
}

/** What registering a transfer stores about it; empty strings where it is unknown. */
export interface Registration {
  readonly name?: string;
  readonly length?: string;
  readonly pieceLength?: string;
  readonly files?: string;
  /** The .torrent file's bytes; absent for a bare info hash. */
  readonly torrent?: Uint8Array;
  /** Absent: an active transfer keeps its priority, a new one is normal. */
  readonly priority?: Priority;
}

/** The register script's verdict: see lua/register-2.lua. */
export type RegisterStatus = "registered" | "torrent-added" | "unchanged" | "conflict";

const REGISTER_STATUS: Record<number, RegisterStatus> = {
  1: "registered",
  2: "torrent-added",
  0: "unchanged",
  [-1]: "conflict",
};

/** Registers (activates) a transfer and stores its .torrent. */
export async function runRegister(
  redis: Pick<ScriptRunner, "register">,
  keys: TransferKeys,
  registration: Registration,
): Promise<{ status: RegisterStatus; registered: number }> {
  const torrent = registration.torrent;
  const [status, registered] = (await redis.register(
    [keys.info, keys.torrent],
    [
      registration.name ?? "",
      registration.length ?? "",
      registration.pieceLength ?? "",
      registration.files ?? "",
      torrent === undefined ? "" : Buffer.from(torrent.buffer, torrent.byteOffset, torrent.byteLength),
      registration.priority === undefined ? "" : String(PRIORITIES.indexOf(registration.priority)),
    ],
  )) as [number, number];
  return { status: REGISTER_STATUS[status]!, registered };
}

/** Marks a transfer active by name and length only; returns true when it was not active before. */
export async function runActivate(
  redis: Pick<ScriptRunner, "register">,
  keys: TransferKeys,
  name: string,
  length: string,
): Promise<boolean> {
  return (await runRegister(redis, keys, { name, length })).status === "registered";
}

/** The archive script's verdict: see lua/archive-7.lua. */
export type ArchiveResult =
  | { readonly status: "archived"; readonly stamp: string; readonly peers: number; readonly deregistered: number }
  | { readonly status: "unknown" | "conflict" };

/** Archives a transfer: renames its keys behind archive:<UTC time>: with a TTL. */
export async function runArchive(
  redis: Pick<ScriptRunner, "archive">,
  keys: TransferKeys,
  keyPrefix: string,
  ttlSeconds: number,
): Promise<ArchiveResult> {
  const [status, stamp, peers, deregistered] = (await redis.archive(
    [...transferKeyList(keys), keys.torrent, keys.archives],
    [keys.rackPrefix, keyPrefix, String(ttlSeconds)],
  )) as [number, Buffer | string, number, number];
  if (status === 1) return { status: "archived", stamp: String(stamp), peers, deregistered };
  return { status: status === 0 ? "unknown" : "conflict" };
}

/** Notes an announced but unregistered info hash in the bounded seen index. */
export async function runSeen(
  redis: Pick<ScriptRunner, "seen">,
  seenKey: string,
  infoHashHex: string,
  seenMax: number,
) {
  return Number(await redis.seen([seenKey], [infoHashHex, String(seenMax)]));
}
