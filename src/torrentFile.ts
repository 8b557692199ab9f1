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
  // Re-encoding a decoded dict is byte-identical for canonical (sorted) metainfo.
  const infoHashHex = createHash("sha1").update(bencode.encode(info)).digest("hex").toUpperCase();
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

/** Accepts an info hash as 40 hex digits (any case); returns it uppercase or undefined. */
export function parseInfoHashHex(text: string): string | undefined {
  return /^[0-9a-fA-F]{40}$/.test(text) ? text.toUpperCase() : undefined;
}
