import { createHash } from "node:crypto";
import bencode from "bencode";

/** What registration needs from a .torrent: its info hash, name and payload length. */
export interface TorrentSummary {
  readonly infoHashHex: string;
  readonly name: string;
  readonly length: bigint;
}

/** Reads a .torrent (BEP 3 v1 metainfo). Throws a plain message when it is not one. */
export function summarizeTorrent(bytes: Uint8Array): TorrentSummary {
  let metainfo: unknown;
  try {
    metainfo = bencode.decode(bytes);
  } catch (error) {
    throw new Error(`not a bencoded .torrent (${(error as Error).message})`);
  }
  const info = (metainfo as { info?: unknown } | null)?.info as Record<string, unknown> | undefined;
  if (typeof info !== "object" || info === null || Array.isArray(info))
    throw new Error("the .torrent has no info dictionary");
  // The hash of the info value's bytes as they stand: re-encoding a decoded dict would
  // differ for metainfo that is not canonical (unsorted keys, integers past 2^53).
  const [start, end] = infoValueRange(bytes);
  const infoHashHex = createHash("sha1").update(bytes.subarray(start, end)).digest("hex").toUpperCase();
  const name = info.name instanceof Uint8Array ? Buffer.from(info.name).toString("utf8") : "";
  let length = 0n;
  if (typeof info.length === "number") length = BigInt(info.length);
  else if (Array.isArray(info.files)) {
    for (const file of info.files as Array<{ length?: unknown }>) {
      if (typeof file.length === "number") length += BigInt(file.length);
    }
  }
  return { infoHashHex, name, length };
}

/** Byte range of the top-level "info" value of well-formed bencoded metainfo. */
function infoValueRange(bytes: Uint8Array): [number, number] {
  let at = 1; // past the top-level "d"
  while (bytes[at] !== 0x65 /* e */) {
    const keyEnd = skipValue(bytes, at);
    const key = Buffer.from(bytes.subarray(bytes.indexOf(0x3a /* : */, at) + 1, keyEnd)).toString("latin1");
    const valueEnd = skipValue(bytes, keyEnd);
    if (key === "info") return [keyEnd, valueEnd];
    at = valueEnd;
  }
  throw new Error("the .torrent has no info dictionary");
}

/** Index just past the bencoded value that starts at `at`. */
function skipValue(bytes: Uint8Array, at: number): number {
  const kind = bytes[at];
  if (kind === 0x69 /* i */) return bytes.indexOf(0x65 /* e */, at) + 1;
  if (kind === 0x6c /* l */ || kind === 0x64 /* d */) {
    let next = at + 1;
    while (bytes[next] !== 0x65 /* e */) next = skipValue(bytes, next);
    return next + 1;
  }
  const colon = bytes.indexOf(0x3a /* : */, at);
  return colon + 1 + Number(Buffer.from(bytes.subarray(at, colon)).toString("latin1"));
}

/** Accepts an info hash as 40 hex digits (any case); returns it uppercase or undefined. */
export function parseInfoHashHex(text: string): string | undefined {
  return /^[0-9a-fA-F]{40}$/.test(text) ? text.toUpperCase() : undefined;
}
