import { defineScript, type RedisArgument, type CommandParser } from "redis";
import { loadLuaScript } from "./luaScripts.js";
import { transferKeyList, type TransferKeys } from "./keys.js";

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

/** The per-transfer scripts, loaded from lua/ with includes inlined. */
export const SCRIPTS = {
  announce: script("announce"),
  sweep: script("sweep"),
  activate: script("activate"),
  deactivate: script("deactivate"),
};

export type ScriptName = keyof typeof SCRIPTS;

/** The minimal surface of a node-redis client (or cluster) that runs our scripts. */
export interface ScriptRunner {
  announce(keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
  sweep(keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
  activate(keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
  deactivate(keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
}

/** What one announce asks of the announce script. */
export interface AnnounceRequest {
  readonly address: Uint8Array;
  readonly rack: string;
  /** The client's 20-byte peer_id, raw. */
  readonly peerId: Uint8Array;
  readonly keyHex: string | undefined;
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
}

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
}

const bit = (flag: boolean) => (flag ? "1" : "0");

/** Runs the announce script; the only code that knows its argument and reply positions. */
export async function runAnnounce(
  redis: ScriptRunner,
  keys: TransferKeys,
  request: AnnounceRequest,
  policy: AnnouncePolicy,
  seed: number = Math.floor(Math.random() * 2 ** 31),
): Promise<AnnounceResult> {
  const reply = (await redis.announce(transferKeyList(keys), [
    keys.rackPrefix,
    Buffer.from(request.address.buffer, request.address.byteOffset, request.address.byteLength),
    request.rack,
    Buffer.from(request.peerId.buffer, request.peerId.byteOffset, request.peerId.byteLength),
    request.keyHex ?? "-",
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
  ])) as [number, number, number, Buffer, Buffer, Buffer, number, Buffer[]];
  const [status, seeders, leechers, peers4, peers6, role, activated, ids] = reply;
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
  };
}

/** Runs one bounded sweep of a transfer; returns peers removed and whether more remain. */
export async function runSweep(
  redis: ScriptRunner,
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

/** Marks a transfer active; returns true when it was not active before. */
export async function runActivate(
  redis: ScriptRunner,
  keys: TransferKeys,
  name: string,
  length: string,
): Promise<boolean> {
  return (await redis.activate([keys.info], [name, length])) === 1;
}

/** Deactivates a transfer and deletes its swarm. */
export async function runDeactivate(
  redis: ScriptRunner,
  keys: TransferKeys,
): Promise<{ wasActive: boolean; peersRemoved: number }> {
  const [wasActive, peersRemoved] = (await redis.deactivate(transferKeyList(keys), [keys.rackPrefix])) as [
    number,
    number,
  ];
  return { wasActive: wasActive === 1, peersRemoved };
}
