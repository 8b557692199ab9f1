/**
 * Reading the peer records the announce script writes (lua/includes/peerRecord.lua):
 *   <rack> <state><event> <eventTime> <left> <uploaded> <downloaded> <peerId>
 * The rack is UTF-8 text without spaces; the 20 raw bytes of the peer id come last.
 */

import { formatIp } from "../net/ip.js";
import { splitCompact } from "../wire/bittorrent.js";

/** L leecher, S seeder (completed here), O origin (complete at its first announce). */
export type PeerState = "L" | "S" | "O";

/** One peer record, decoded. */
export interface PeerRecord {
  readonly rack: string;
  readonly state: PeerState;
  readonly lastEvent: "started" | "completed" | "paused" | "none";
  readonly lastEventTime: number;
  readonly left: number;
  readonly uploaded: number;
  readonly downloaded: number;
}

const EVENTS: Record<string, PeerRecord["lastEvent"]> = { s: "started", c: "completed", p: "paused", "-": "none" };

/** Decodes a record; undefined for bytes that are not one (never thrown: records are ours). */
export function parsePeerRecord(record: Buffer): PeerRecord | undefined {
  const fields: string[] = [];
  let start = 0;
  for (let i = 0; i < 6; i++) {
    const space = record.indexOf(0x20, start);
    if (space < 0) return undefined;
    fields.push(record.toString(i === 0 ? "utf8" : "latin1", start, space));
    start = space + 1;
  }
  const [rack, stateEvent, eventTime, left, uploaded, downloaded] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const state = stateEvent[0] as PeerState;
  if (state !== "L" && state !== "S" && state !== "O") return undefined;
  return {
    rack,
    state,
    lastEvent: EVENTS[stateEvent[1] ?? "-"] ?? "none",
    lastEventTime: Number(eventTime),
    left: Number(left),
    uploaded: Number(uploaded),
    downloaded: Number(downloaded),
  };
}

/** "ip:port" of a compact address, IPv6 in brackets. */
export function addressText(compact: Uint8Array): string {
  const { ip, port } = splitCompact(compact);
  return ip.length === 16 ? `[${formatIp(ip)}]:${port}` : `${formatIp(ip)}:${port}`;
}

/**
 * How far a peer is, 0 to 1: from `left` against the payload length when it is known,
 * else against what the peer reports it has downloaded plus what it still needs.
 */
export function peerProgress(record: PeerRecord, length: number | undefined): number {
  if (record.state !== "L") return 1;
  if (length !== undefined && length > 0) return Math.min(1, Math.max(0, 1 - record.left / length));
  const total = record.downloaded + record.left;
  return total > 0 ? record.downloaded / total : 0;
}
