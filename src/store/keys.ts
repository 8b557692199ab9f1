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
  /** Prefix of the rack keys: <rackPrefix><rack>:L|S|R. Passed to scripts as ARGV. */
  readonly rackPrefix: string;
}

/** Keys of one transfer, given its info hash as 40 hex digits (any case). */
export function transferKeys(infoHashHex: string): TransferKeys {
  const tag = `{${infoHashHex.toUpperCase()}}`;
  return {
    info: `${tag}:info`,
    peers: `${tag}:peers`,
    racks: `${tag}:racks`,
    repsLeeching: `${tag}:RL`,
    repsSeeding: `${tag}:RS`,
    origins: `${tag}:O`,
    rackPrefix: `${tag}:rack:`,
  };
}

/** The KEYS array of the per-transfer scripts (announce, sweep, deactivate). */
export function transferKeyList(keys: TransferKeys): string[] {
  return [keys.info, keys.peers, keys.racks, keys.repsLeeching, keys.repsSeeding, keys.origins];
}

/** One rack's set of one transfer: L leechers, S seeders, R representatives. */
export function rackKey(infoHashHex: string, rack: string, set: "L" | "S" | "R"): string {
  return `${transferKeys(infoHashHex).rackPrefix}${rack}:${set}`;
}

/** Global keys: each lives outside any transfer's slot and no per-transfer script touches it. */
export const GLOBAL_KEYS = {
  /** set: every info hash ever announced or registered */
  transfers: "transfers",
  /** set: info hashes of active (registered) transfers */
  activeTransfers: "active_transfers",
  /** set: every rack (location) a client was resolved to */
  racks: "racks",
  /** string: the sweep's lease, so one replica sweeps at a time */
  sweepLease: "sweep:lease",
} as const;

/** string with TTL: the location an external resolver gave for an IP address. */
export function rackCacheKey(ip: string): string {
  return `rackcache:${ip}`;
}
