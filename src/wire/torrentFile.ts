/**
 * Reading .torrent files (BEP 3 v1 metainfo, and BEP 52 hybrids by their v1 half) as a
 * tracker must: every upload is checked strictly before anything is stored.
 */

import { createHash } from "node:crypto";
import bencode from "bencode";
import { z } from "zod";
import { BencodeError, scanTopLevelDict } from "./bencodeScan.js";

/** A .torrent that cannot be registered; `tooLarge` when only its size is the problem. */
export class TorrentError extends Error {
  constructor(
    message: string,
    readonly tooLarge = false,
  ) {
    super(message);
  }
}

/** What registration needs from a .torrent, checked. */
export interface TorrentSummary {
  readonly infoHashHex: string;
  readonly name: string;
  readonly length: bigint;
  readonly pieceLength: number;
  readonly files: number;
  /** The fields and bytes the register script stores. */
  readonly registration: {
    readonly name: string;
    readonly length: string;
    readonly pieceLength: string;
    readonly files: string;
    readonly torrent: Uint8Array;
  };
}

const bytes = z.instanceof(Uint8Array, { message: "expected a byte string" });
const text = bytes.refine((b) => b.length > 0, "must not be empty");
const count = z.number({ message: "expected an integer" }).int().nonnegative();
const pathPart = bytes.refine((b) => {
  const part = Buffer.from(b).toString("utf8");
  return part !== "" && part !== "." && part !== ".." && !part.includes("/");
}, "each path element must be a file or folder name");

const fileEntry = z.object({
  length: count,
  path: z.array(pathPart).min(1, "a file's path must not be empty"),
});

const info = z
  .object({
    name: text,
    "piece length": z.number({ message: "expected an integer" }).int().positive(),
    pieces: bytes
      .refine((b) => b.length > 0, "must not be empty")
      .refine((b) => b.length % 20 === 0, "must be a multiple of 20 bytes (one SHA-1 per piece)"),
    length: count.optional(),
    files: z.array(fileEntry).min(1, "must list at least one file").optional(),
    private: z.number().int().optional(),
  })
  .refine((i) => (i.length === undefined) !== (i.files === undefined), {
    message: "needs exactly one of length (one file) or files (several)",
  });

const metainfo = z.object({
  info: z.unknown(),
  announce: z.unknown().optional(),
  "announce-list": z.unknown().optional(),
});

/** Reads and checks a .torrent of at most `maxBytes`. Throws TorrentError with a plain message. */
export function readTorrent(torrent: Uint8Array, maxBytes: number): TorrentSummary {
  if (torrent.length > maxBytes) {
    throw new TorrentError(
      `the .torrent is ${torrent.length} bytes; the limit is ${maxBytes} (TORRENT_MAX_BYTES)`,
      true,
    );
  }
  if (torrent.length === 0) throw new TorrentError("the body is empty: send the .torrent file's bytes");
  let entries;
  try {
    entries = scanTopLevelDict(torrent);
  } catch (error) {
    if (error instanceof BencodeError) throw new TorrentError(`not a valid .torrent: ${error.message}`);
    throw error;
  }
  const infoEntry = entries.find((entry) => entry.key === "info");
  if (!infoEntry) throw new TorrentError("not a valid .torrent: it has no info dictionary");
  const decoded = metainfo.safeParse(bencode.decode(torrent));
  if (!decoded.success) throw new TorrentError("not a valid .torrent: the top level is not a dictionary");
  if (!hasAnnounceUrl(decoded.data)) {
    throw new TorrentError("the .torrent has no announce URL: make it with --announce http://<tracker>/announce");
  }
  const rawInfo = decoded.data.info as Record<string, unknown>;
  if (typeof rawInfo !== "object" || rawInfo === null || rawInfo instanceof Uint8Array || Array.isArray(rawInfo)) {
    throw new TorrentError("not a valid .torrent: info is not a dictionary");
  }
  if (rawInfo["meta version"] === 2 && rawInfo.pieces === undefined) {
    throw new TorrentError(
      "BEP 52 v2-only torrents are not supported: make a v1 or hybrid torrent (e.g. p2ptracker torrent create)",
    );
  }
  const parsed = info.safeParse(rawInfo);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `info.${issue.path.join(".")}` : "info";
    throw new TorrentError(`not a valid .torrent: ${where}: ${issue.message}`);
  }
  const { name, "piece length": pieceLength, pieces, files } = parsed.data;
  const length = files ? files.reduce((sum, f) => sum + BigInt(f.length), 0n) : BigInt(parsed.data.length!);
  const expectedPieces = (length + BigInt(pieceLength) - 1n) / BigInt(pieceLength);
  if (BigInt(pieces.length / 20) !== expectedPieces) {
    throw new TorrentError(
      `not a valid .torrent: ${pieces.length / 20} piece hashes for ${length} bytes in pieces of ${pieceLength} (expected ${expectedPieces})`,
    );
  }
  const infoHashHex = createHash("sha1")
    .update(torrent.subarray(infoEntry.start, infoEntry.end))
    .digest("hex")
    .toUpperCase();
  const nameText = Buffer.from(name).toString("utf8");
  const fileCount = files?.length ?? 1;
  return {
    infoHashHex,
    name: nameText,
    length,
    pieceLength,
    files: fileCount,
    registration: {
      name: nameText,
      length: length.toString(),
      pieceLength: String(pieceLength),
      files: String(fileCount),
      torrent,
    },
  };
}

function hasAnnounceUrl(data: { announce?: unknown; "announce-list"?: unknown }): boolean {
  if (data.announce instanceof Uint8Array && data.announce.length > 0) return true;
  const tiers = data["announce-list"];
  return (
    Array.isArray(tiers) &&
    tiers.some((tier) => Array.isArray(tier) && tier.some((url) => url instanceof Uint8Array && url.length > 0))
  );
}

/** Accepts an info hash as 40 hex digits (any case); returns it uppercase or undefined. */
export function parseInfoHashHex(text: string): string | undefined {
  return /^[0-9a-fA-F]{40}$/.test(text) ? text.toUpperCase() : undefined;
}
