/**
 * What the operators' API shows of transfers: read-only views built from the keys the
 * scripts write. Reads go together (readTogether.ts) on the API's own connection, so a
 * large transfer's view never queues behind, or delays, announces.
 */

import { archivePrefix, GLOBAL_KEYS, rackBudgetKeys, transferKeys, type TransferKeys } from "./keys.js";
import { PRIORITIES, type Priority } from "./scripts.js";
import { addressText, parsePeerRecord, peerProgress, type PeerRecord } from "./peerRecords.js";
import type { TrackerRedis } from "./redis.js";
import { readTogether, type ReadTarget } from "./readTogether.js";
import { cellCount, cellOf, cellSetKey, cellsField } from "./cells.js";

/** A live transfer, or one archive of it. */
export interface TransferLocation {
  readonly infoHashHex: string;
  readonly keys: TransferKeys;
  /** The archive's UTC stamp; undefined for the live transfer. */
  readonly archive: string | undefined;
}

/** Where a transfer's keys are: live first, else the given archive, else its latest archive. */
export async function locateTransfer(
  redis: TrackerRedis,
  infoHashHex: string,
  archive?: string,
): Promise<TransferLocation | undefined> {
  if (archive === undefined) {
    const live = transferKeys(infoHashHex);
    if ((await redis.exists(live.info)) === 1) return { infoHashHex, keys: live, archive: undefined };
    archive = await latestArchive(redis, infoHashHex);
    if (archive === undefined) return undefined;
  }
  const keys = transferKeys(infoHashHex, archivePrefix(archive));
  return (await redis.exists(keys.info)) === 1 ? { infoHashHex, keys, archive } : undefined;
}

async function latestArchive(redis: TrackerRedis, infoHashHex: string): Promise<string | undefined> {
  const [stamp] = await redis.zRange(transferKeys(infoHashHex).archives, 0, 0, { REV: true });
  return stamp === undefined ? undefined : String(stamp);
}

/** One rack's share of a transfer. */
export interface RackView {
  readonly rack: string;
  readonly peers: number;
  readonly seeders: number;
  readonly leechers: number;
  /** Addresses (ip:port) of the rack's live representatives. */
  readonly representatives: string[];
  /** While the transfer waits for one of the rack's uplink slots: since when (s); else null. */
  readonly waiting_since: number | null;
  /** Mean progress of the rack's hosts that are not origins, 0 to 1; null with none. */
  readonly progress: number | null;
  /** Hosts of the rack that have completed (origins not counted). */
  readonly done: number;
}

/** A transfer as the API shows it. */
export interface TransferView {
  readonly info_hash: string;
  readonly active: boolean;
  readonly archive: string | null;
  readonly name: string | null;
  readonly size: number | null;
  readonly piece_length: number | null;
  readonly files: number | null;
  readonly torrent: boolean;
  readonly registered: number | null;
  readonly deregistered: number | null;
  readonly peers: number;
  readonly seeders: number;
  readonly leechers: number;
  readonly origins: number;
  readonly completed: number;
  readonly first_started: number | null;
  readonly last_started: number | null;
  readonly first_completed: number | null;
  readonly last_completed: number | null;
  readonly progress: number | null;
  readonly priority: Priority;
  readonly racks?: RackView[];
}

const INFO_FIELDS = [
  "active",
  "registered",
  "deregistered",
  "name",
  "length",
  "piece_length",
  "files",
  "completed",
  "first_started",
  "last_started",
  "first_completed",
  "last_completed",
  "priority",
] as const;

type InfoFields = Record<(typeof INFO_FIELDS)[number], string | undefined>;

async function readInfo(redis: TrackerRedis, keys: TransferKeys): Promise<InfoFields> {
  const values = await redis.hmGet(keys.info, [...INFO_FIELDS]);
  const info = {} as Record<string, string | undefined>;
  INFO_FIELDS.forEach((field, i) => (info[field] = values[i] == null ? undefined : String(values[i])));
  return info as InfoFields;
}

const numberOrNull = (text: string | undefined) => (text === undefined || text === "" ? null : Number(text));

/**
 * The moment peer liveness is judged at: now for a live transfer, the deactivation for
 * an archive (its peers are shown as they stood then).
 */
async function liveCutoff(redis: TrackerRedis, info: InfoFields, peerTtl: number): Promise<number> {
  const deregistered = numberOrNull(info.deregistered);
  if (info.active !== "1" && deregistered !== null) return deregistered - peerTtl;
  const [seconds] = await redis.time();
  return Number(seconds) - peerTtl;
}

interface LivePeer {
  readonly address: Buffer;
  readonly record: PeerRecord;
  readonly lastSeen: number;
}

/**
 * The live peers of one rack, its representatives (R scores are lease expiries: live after
 * `now`) and, for a live transfer, since when it waits for one of the rack's uplink slots
 * (rack-keyed: another slot, so read apart on a cluster).
 */
async function readRacks(redis: TrackerRedis, location: TransferLocation, cutoff: number, now: number) {
  const { keys } = location;
  const racks = (await redis.sMembers(keys.racks)).map(String).sort();
  const waits = location.archive === undefined;
  const cells = await rackCells(redis, keys, racks);
  type Scored = Array<{ value: Buffer; score: number }>;
  const live = (key: string, after: number) => (r: ReadTarget) => r.zRangeByScoreWithScores(key, `(${after}`, "+inf");
  const replies = (await readTogether(redis, [
    ...racks.map((rack) => live(`${keys.rackPrefix}${rack}:R`, now)),
    ...(waits
      ? racks.map((rack) => (r: ReadTarget) => r.hGet(rackBudgetKeys(rack).waiting, location.infoHashHex))
      : []),
    ...racks.flatMap((rack, i) =>
      Array.from({ length: cells[i]! }, (_, c) =>
        (["L", "S"] as const).map((set) => live(cellSetKey(keys.rackPrefix, rack, set, c), cutoff)),
      ).flat(),
    ),
  ])) as unknown[];
  let at = racks.length * (waits ? 2 : 1);
  const members = racks.map((rack, i) => {
    const peers = (replies.slice(at, at + 2 * cells[i]!) as Scored[]).flat();
    at += 2 * cells[i]!;
    return {
      rack,
      peers,
      reps: replies[i] as Scored,
      waitingSince: waits ? waitingSince(replies[racks.length + i], now, now - cutoff) : null,
    };
  });
  const addresses = members.flatMap((m) => m.peers.map((p) => p.value));
  const records = addresses.length > 0 ? await redis.hmGet(keys.peers, addresses) : [];
  const byAddress = new Map<string, LivePeer>();
  let next = 0;
  for (const m of members) {
    for (const p of m.peers) {
      const raw = records[next++];
      const record = raw ? parsePeerRecord(raw as Buffer) : undefined;
      if (record) byAddress.set(p.value.toString("latin1"), { address: p.value, record, lastSeen: p.score });
    }
  }
  return members.map((m) => ({
    rack: m.rack,
    peers: m.peers.flatMap((p) => byAddress.get(p.value.toString("latin1")) ?? []),
    reps: m.reps.map((r) => r.value),
    waitingSince: m.waitingSince,
  }));
}

/**
 * A waiting entry ('<since> <priority> <askedAt>', lua/lease-4.lua) that still asks (the
 * lease script forgets entries no announce asked for in PEER_TTL): its since.
 */
function waitingSince(entry: unknown, now: number, waitTtl: number): number | null {
  if (entry == null) return null;
  const [since, , askedAt] = String(entry).split(" ").map(Number);
  return askedAt! > now - waitTtl ? since! : null;
}

const mean = (values: number[]) => (values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length);
const rounded = (value: number | null) => (value === null ? null : Math.round(value * 10000) / 10000);

/** The transfer's fields, counts and progress, with per-rack detail when `withRacks`. */
export async function transferView(
  redis: TrackerRedis,
  location: TransferLocation,
  peerTtl: number,
  withRacks: boolean,
): Promise<TransferView> {
  const { keys } = location;
  const info = await readInfo(redis, keys);
  const length = numberOrNull(info.length) ?? undefined;
  const cutoff = await liveCutoff(redis, info, peerTtl);
  const racks = await readRacks(redis, location, cutoff, cutoff + peerTtl);
  const rackViews: RackView[] = [];
  const hostProgress: number[] = [];
  let seeders = 0;
  let leechers = 0;
  let origins = 0;
  for (const { rack, peers, reps, waitingSince } of racks) {
    const hosts = peers.filter((p) => p.record.state !== "O");
    const progress = hosts.map((p) => peerProgress(p.record, length));
    hostProgress.push(...progress);
    const rackSeeders = peers.filter((p) => p.record.state !== "L").length;
    seeders += rackSeeders;
    leechers += peers.length - rackSeeders;
    origins += peers.length - hosts.length;
    rackViews.push({
      rack,
      peers: peers.length,
      seeders: rackSeeders,
      leechers: peers.length - rackSeeders,
      representatives: reps.map(addressText),
      waiting_since: waitingSince,
      progress: rounded(mean(progress)),
      done: hosts.filter((p) => p.record.state === "S").length,
    });
  }
  const view: TransferView = {
    info_hash: location.infoHashHex,
    active: info.active === "1",
    archive: location.archive ?? null,
    name: info.name ?? null,
    size: length ?? null,
    piece_length: numberOrNull(info.piece_length),
    files: numberOrNull(info.files),
    torrent: (await redis.exists(keys.torrent)) === 1,
    registered: numberOrNull(info.registered),
    deregistered: numberOrNull(info.deregistered),
    peers: seeders + leechers,
    seeders,
    leechers,
    origins,
    completed: numberOrNull(info.completed) ?? 0,
    first_started: numberOrNull(info.first_started),
    last_started: numberOrNull(info.last_started),
    first_completed: numberOrNull(info.first_completed),
    last_completed: numberOrNull(info.last_completed),
    progress: rounded(mean(hostProgress)),
    priority: PRIORITIES[Number(info.priority ?? 1)] ?? "normal",
  };
  return withRacks ? { ...view, racks: rackViews } : view;
}

/** Which peers a peer listing shows. */
export type PeerFilter = "peers" | "seeders" | "leechers" | "representatives" | "origins";

/** One peer as the API shows it. */
export interface PeerView {
  readonly address: string;
  readonly ip: string;
  readonly port: number;
  readonly rack: string;
  readonly role: "origin" | "representative" | "member";
  readonly state: "leecher" | "seeder" | "origin";
  readonly left: number;
  readonly uploaded: number;
  readonly downloaded: number;
  readonly last_event: PeerRecord["lastEvent"];
  readonly last_event_time: number;
  readonly last_seen: number | null;
  /** False once the peer has been silent for PEER_TTL (it is no longer handed out). */
  readonly live: boolean;
}

const STATES = { L: "leecher", S: "seeder", O: "origin" } as const;

/** How many cells each rack's sets are kept in (lua/includes/cells.lua). */
async function rackCells(redis: TrackerRedis, keys: TransferKeys, racks: readonly string[]): Promise<number[]> {
  const counts = (await readTogether(
    redis,
    racks.map((rack) => (r: ReadTarget) => r.hGet(keys.info, cellsField(rack))),
  )) as unknown[];
  return counts.map(cellCount);
}

/** A page of a transfer's peers; follow `next` (a Redis HSCAN cursor) until it is null. */
export async function peerPage(
  redis: TrackerRedis,
  location: TransferLocation,
  filter: PeerFilter,
  peerTtl: number,
  cursor: string,
  limit: number,
): Promise<{ items: PeerView[]; next: string | null }> {
  const { keys } = location;
  const cutoff = await liveCutoff(redis, await readInfo(redis, keys), peerTtl);
  const page = await redis.hScan(keys.peers, cursor, { COUNT: limit });
  const entries = page.entries.flatMap(({ field, value }) => {
    const record = parsePeerRecord(value as Buffer);
    return record ? [{ address: field as Buffer, record }] : [];
  });
  const racks = [...new Set(entries.map((e) => e.record.rack))];
  const cells = new Map<string, number>();
  (await rackCells(redis, keys, racks)).forEach((n, i) => cells.set(racks[i]!, n));
  const scores = (await readTogether(
    redis,
    entries.flatMap(({ address, record }) => [
      (r) =>
        r.zScore(
          cellSetKey(
            keys.rackPrefix,
            record.rack,
            record.state === "L" ? "L" : "S",
            cellOf(address, cells.get(record.rack)!),
          ),
          address,
        ),
      (r) => r.zScore(`${keys.rackPrefix}${record.rack}:R`, address),
    ]),
  )) as Array<number | null>;
  const items: PeerView[] = [];
  entries.forEach(({ address, record }, i) => {
    const lastSeen = scores[2 * i] ?? null;
    // R scores are lease expiries: a representative while its lease copy is live.
    const leaseUntil = scores[2 * i + 1] ?? null;
    const live = lastSeen !== null && lastSeen > cutoff;
    const role =
      record.state === "O"
        ? "origin"
        : leaseUntil !== null && leaseUntil > cutoff + peerTtl
          ? "representative"
          : "member";
    const wanted =
      filter === "peers" ||
      (filter === "seeders" && record.state !== "L") ||
      (filter === "leechers" && record.state === "L") ||
      (filter === "origins" && record.state === "O") ||
      (filter === "representatives" && role === "representative");
    if (!wanted) return;
    const text = addressText(address);
    const colon = text.lastIndexOf(":");
    items.push({
      address: text,
      ip: text.slice(0, colon).replace(/^\[|\]$/g, ""),
      port: Number(text.slice(colon + 1)),
      rack: record.rack,
      role,
      state: STATES[record.state],
      left: record.left,
      uploaded: record.uploaded,
      downloaded: record.downloaded,
      last_event: record.lastEvent,
      last_event_time: record.lastEventTime,
      last_seen: lastSeen,
      live,
    });
  });
  const next = String(page.cursor);
  return { items, next: next === "0" ? null : next };
}

/** One row of a transfer listing. */
export interface TransferListItem {
  readonly info_hash: string;
  readonly archive?: string;
  readonly name?: string | null;
  readonly size?: number | null;
  readonly registered?: number | null;
  readonly deregistered?: number | null;
  readonly seeders?: number;
  readonly leechers?: number;
  readonly completed?: number;
  readonly last_seen?: number;
}

/** Which index a listing reads. */
export type ListState = "active" | "archived" | "seen";

const LIST_KEYS: Record<ListState, string> = {
  active: GLOBAL_KEYS.activeTransfers,
  archived: GLOBAL_KEYS.archivedTransfers,
  seen: GLOBAL_KEYS.seenTransfers,
};

/** Where a listing page starts: after the row with this score and member (newest first). */
export interface ListCursor {
  readonly score: number;
  readonly member: string;
}

/** The cursor text of a row: `<score>:<member>`. */
const cursorOf = (row: { score: number; value: unknown }) => `${row.score}:${String(row.value)}`;

/** Reads a cursor made by cursorOf; undefined when the text is not one. */
export function parseListCursor(text: string): ListCursor | undefined {
  const match = /^(\d{1,15}):([0-9A-Za-z:]{1,80})$/.exec(text);
  return match ? { score: Number(match[1]), member: match[2]! } : undefined;
}

/**
 * A page of a listing, newest first, after `cursor`. The cursor names the last row shown
 * (score and member), not an offset: rows added or archived meanwhile shift nothing, so a
 * walk through the pages neither skips nor repeats a row that stays in the index. Rows
 * of one score come by member, descending, as ZRANGE ... REV gives them.
 */
export async function listTransfers(
  redis: TrackerRedis,
  state: ListState,
  cursor: ListCursor | undefined,
  limit: number,
): Promise<{ items: TransferListItem[]; next: string | null; total: number }> {
  const key = LIST_KEYS[state];
  const after = (row: { score: number; value: unknown }) =>
    cursor === undefined || row.score < cursor.score || String(row.value) < cursor.member;
  const found: Array<{ score: number; value: unknown }> = [];
  // Rows of the cursor's own score that were shown already are skipped; a second read
  // is needed only when more than a page of them share that second.
  for (let offset = 0; found.length <= limit; offset += limit + 1) {
    const batch = await redis.zRangeWithScores(key, cursor === undefined ? "+inf" : cursor.score, "-inf", {
      BY: "SCORE",
      REV: true,
      LIMIT: { offset, count: limit + 1 },
    });
    found.push(...batch.filter(after));
    if (batch.length < limit + 1) break;
  }
  const rows = found.slice(0, limit);
  const total = await redis.zCard(key);
  const next = found.length > limit ? cursorOf(rows[rows.length - 1]!) : null;
  if (state === "seen") {
    return { items: rows.map((r) => ({ info_hash: String(r.value), last_seen: r.score })), next, total };
  }
  const located = rows.map((r) => {
    const member = String(r.value);
    if (state === "active") return { infoHashHex: member, archive: undefined, keys: transferKeys(member) };
    const [stamp, infoHashHex] = member.split(":") as [string, string];
    return { infoHashHex, archive: stamp, keys: transferKeys(infoHashHex, archivePrefix(stamp)) };
  });
  const fields = ["name", "length", "registered", "deregistered", "seeders", "leechers", "completed"];
  const infos = (await readTogether(
    redis,
    located.map(
      ({ keys }) =>
        (r) =>
          r.hmGet(keys.info, fields),
    ),
  )) as Array<Array<Buffer | null>>;
  const items: TransferListItem[] = located.map(({ infoHashHex, archive }, i) => {
    const [name, length, registered, deregistered, seeders, leechers, completed] = infos[i]!.map((v) =>
      v == null ? undefined : String(v),
    );
    return {
      info_hash: infoHashHex,
      ...(archive === undefined ? {} : { archive }),
      name: name ?? null,
      size: numberOrNull(length),
      registered: numberOrNull(registered),
      ...(archive === undefined ? {} : { deregistered: numberOrNull(deregistered) }),
      seeders: Math.max(0, numberOrNull(seeders) ?? 0),
      leechers: Math.max(0, numberOrNull(leechers) ?? 0),
      completed: numberOrNull(completed) ?? 0,
    };
  });
  return { items, next, total };
}
