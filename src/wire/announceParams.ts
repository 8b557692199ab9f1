import { z } from "zod";
import { ClientError } from "./bittorrent.js";
import type { RawQuery } from "./query.js";

const MAX_COUNTER = 2n ** 63n - 1n;
const EVENTS = ["", "started", "completed", "stopped", "paused"] as const;

/** A validated announce, with raw-byte fields kept as bytes. */
export interface AnnounceParams {
  readonly infoHash: Uint8Array;
  readonly peerId: Uint8Array;
  readonly port: number;
  readonly uploaded: bigint;
  readonly downloaded: bigint;
  readonly left: bigint;
  readonly compact: boolean;
  readonly noPeerId: boolean;
  readonly event: (typeof EVENTS)[number];
  readonly numwant: number | undefined;
  readonly ip: string | undefined;
}

const counter = (name: string) =>
  z
    .string()
    .regex(/^\d{1,19}$/, `${name} must be a non-negative integer`)
    .transform((v) => BigInt(v))
    .refine((v) => v <= MAX_COUNTER, `${name} must be at most 2^63-1`);

const flag = (name: string) => z.enum(["0", "1"], { message: `${name} must be 0 or 1` }).transform((v) => v === "1");

const textFields = z.object({
  port: z
    .string()
    .regex(/^\d{1,5}$/, "port must be an integer from 1 to 65535")
    .transform(Number)
    .refine((p) => p >= 1 && p <= 65535, "port must be an integer from 1 to 65535"),
  uploaded: counter("uploaded"),
  downloaded: counter("downloaded"),
  left: counter("left"),
  compact: flag("compact").default(true),
  no_peer_id: flag("no_peer_id").default(false),
  event: z.enum(EVENTS, { message: `event must be one of started, completed, stopped, paused or empty` }).default(""),
  numwant: z
    .string()
    .regex(/^\d{1,9}$/, "numwant must be a non-negative integer")
    .transform(Number)
    .optional(),
  ip: z.string().max(64, "ip is too long").optional(),
});

/**
 * Opaque byte strings: only their length is checked; empty counts as absent. Neither is
 * stored: the tracker tells peers apart by address, so a key proves nothing it uses.
 */
const OPAQUE = { key: 64, trackerid: 64 } as const;

const REQUIRED = ["info_hash", "peer_id", "port", "uploaded", "downloaded", "left"] as const;
const KNOWN = new Set<string>([...REQUIRED, "compact", "no_peer_id", "event", "numwant", "ip", "key", "trackerid"]);

/** Validates a decoded announce query; throws ClientError naming the first problem. */
export function parseAnnounce(query: RawQuery): AnnounceParams {
  for (const name of REQUIRED) {
    if (!query.has(name)) throw new ClientError(`missing ${name}`);
  }
  const text: Record<string, string> = {};
  for (const [name, values] of query) {
    if (values.length > 1 && KNOWN.has(name)) throw new ClientError(`${name} given more than once`);
    if (KNOWN.has(name) && name !== "info_hash" && name !== "peer_id") text[name] = values[0]!.toString("latin1");
  }
  for (const [name, max] of Object.entries(OPAQUE)) {
    const length = query.get(name)?.[0]?.length;
    if (length !== undefined && length > max) {
      throw new ClientError(`${name} must be at most ${max} bytes, got ${length}`);
    }
  }
  const infoHash = query.get("info_hash")![0]!;
  const peerId = query.get("peer_id")![0]!;
  if (infoHash.length !== 20) throw new ClientError(`info_hash must be 20 bytes, got ${infoHash.length}`);
  if (peerId.length !== 20) throw new ClientError(`peer_id must be 20 bytes, got ${peerId.length}`);
  const parsed = textFields.safeParse(text);
  if (!parsed.success) throw new ClientError(parsed.error.issues[0]!.message);
  const f = parsed.data;
  return {
    infoHash,
    peerId,
    port: f.port,
    uploaded: f.uploaded,
    downloaded: f.downloaded,
    left: f.left,
    compact: f.compact,
    noPeerId: f.no_peer_id,
    event: f.event,
    numwant: f.numwant,
    ip: f.ip,
  };
}

/** Validates a scrape query: zero or more distinct 20-byte info hashes. */
export function parseScrape(query: RawQuery, maxHashes: number): Uint8Array[] {
  const hashes = query.get("info_hash") ?? [];
  if (hashes.length > maxHashes) throw new ClientError(`at most ${maxHashes} info_hash values per scrape`);
  for (const h of hashes) {
    if (h.length !== 20) throw new ClientError(`info_hash must be 20 bytes, got ${h.length}`);
  }
  return hashes;
}
