/**
 * Every Redis key name the tracker uses. Per-transfer keys carry the hash tag {INFOHASH}
 * (uppercase hex) so one transfer lives in one Redis Cluster slot; global keys have no tag.
 * The README's "Redis key model" documents each one.
 */

/** The per-transfer keys, in the order the per-transfer scripts take them as KEYS. */
export interface TransferKeys {
  readonly info: string;
  readonly peers: string;
  readonly racks: string;
  readonly repsLeeching: string;
  readonly repsSeeding: string;
  readonly origins: string;
  /** The registered .torrent file. Not one of the swarm keys the announce script takes. */
  readonly torrent: string;
  /** zset: the transfer's archive stamps (archives:{H}: same slot, outside {H}:*). */
  readonly archives: string;
  /** Prefix of the rack keys: <rackPrefix><rack>:L|S|R|F. Passed to scripts as ARGV. */
  readonly rackPrefix: string;
}

/**
 * Keys of one transfer, given its info hash as 40 hex digits (any case). With an archive
 * prefix (archivePrefix()), the keys of that archive of the transfer: the same names behind
 * the prefix, so the same hash tag and cluster slot.
 */
export function transferKeys(infoHashHex: string, archive = ""): TransferKeys {
  const tag = `${archive}{${infoHashHex.toUpperCase()}}`;
  return {
    info: `${tag}:info`,
    peers: `${tag}:peers`,
    racks: `${tag}:racks`,
    repsLeeching: `${tag}:RL`,
    repsSeeding: `${tag}:RS`,
    origins: `${tag}:O`,
    torrent: `${tag}:torrent`,
    archives: `archives:{${infoHashHex.toUpperCase()}}`,
    rackPrefix: `${tag}:rack:`,
  };
}

/** The KEYS array of the per-transfer scripts (announce, sweep, deactivate). */
export function transferKeyList(keys: TransferKeys): string[] {
  return [keys.info, keys.peers, keys.racks, keys.repsLeeching, keys.repsSeeding, keys.origins];
}

/** One rack's set of one transfer: L leechers, S seeders, R representatives, F the lease fence. */
export function rackKey(infoHashHex: string, rack: string, set: "L" | "S" | "R" | "F"): string {
  return `${transferKeys(infoHashHex).rackPrefix}${rack}:${set}`;
}

/**
 * One rack's uplink budget, shared by every transfer: keys with the hash tag {<rack>}, so
 * the rack lives in one Cluster slot of its own (lua/lease-4.lua documents each).
 */
export interface RackBudgetKeys {
  /** hash: host -> '<slot> <token> <expiresAt>', the rack's leases */
  readonly holders: string;
  /** hash: '<INFOHASH> <host>' -> '<expiresAt> <priority> <L|S>', what each holder serves */
  readonly serving: string;
  /** hash: INFOHASH -> '<since> <priority> <askedAt>', transfers waiting for a slot */
  readonly waiting: string;
  /** string: the last fencing token issued in this rack */
  readonly epoch: string;
}

export function rackBudgetKeys(rack: string): RackBudgetKeys {
  const tag = `rack:{${rack}}`;
  return { holders: `${tag}:holders`, serving: `${tag}:serving`, waiting: `${tag}:waiting`, epoch: `${tag}:epoch` };
}

/** The KEYS array of the lease script. */
export function rackBudgetKeyList(keys: RackBudgetKeys): string[] {
  return [keys.holders, keys.serving, keys.waiting, keys.epoch];
}

/** What every archived key starts with, before the archive's UTC time. */
export const ARCHIVE_KEY_PREFIX = "archive:";

/** The prefix of one archive's keys: archive:<stamp>: (stamp: UTC time, 20261128T053000Z). */
export function archivePrefix(stamp: string): string {
  return `${ARCHIVE_KEY_PREFIX}${stamp}:`;
}

/** Global keys: each lives outside any transfer's slot and no per-transfer script touches it. */
export const GLOBAL_KEYS = {
  /** zset: info hashes of active (registered) transfers, by registration time (s) */
  activeTransfers: "transfers:active",
  /** zset: archives, member <stamp>:<INFOHASH>, by deactivation time (s) */
  archivedTransfers: "transfers:archived",
  /** zset: info hashes announced but never registered, by last seen (s), at most SEEN_MAX */
  seenTransfers: "transfers:seen",
  /** set: every rack (location) a client was resolved to */
  racks: "racks",
  /** string: the sweep's lease, so one replica sweeps at a time */
  sweepLease: "sweep:lease",
  /** string with TTL: while it exists, no replica walks the keys to mend transfers:active */
  reconcileLease: "reconcile:lease",
  /** string, no TTL: the UDP connection-id secret every replica shares, unless UDP_SECRET sets one */
  udpSecret: "udp:secret",
} as const;

/** Keys of earlier versions, moved to their successors at startup (store/migrate.ts). */
export const LEGACY_KEYS = {
  /** set: every info hash ever announced or registered (unbounded: dropped) */
  transfers: "transfers",
  /** set: active info hashes (now the zset transfers:active) */
  activeTransfers: "active_transfers",
} as const;

/** string with TTL: the location an external resolver gave for an IP address. */
export function rackCacheKey(ip: string): string {
  return `rackcache:${ip}`;
}
