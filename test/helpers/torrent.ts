import { createHash } from "node:crypto";
import bencode from "bencode";

/** A single-file .torrent built in memory: its bytes and its info hash. */
export interface BuiltTorrent {
  readonly bytes: Uint8Array;
  readonly infoHash: Uint8Array;
}

export interface TorrentOptions {
  readonly name: string;
  readonly announce: string;
  readonly pieceLength: number;
  /** BEP 27: clients use only the tracker (no DHT, PEX or LPD). */
  readonly private?: boolean;
}

/** Builds BEP 3 v1 metainfo for one file holding `payload`. */
export function makeTorrent(payload: Uint8Array, options: TorrentOptions): BuiltTorrent {
  const hashes: Buffer[] = [];
  for (let offset = 0; offset < payload.length; offset += options.pieceLength) {
    const piece = payload.subarray(offset, offset + options.pieceLength);
    hashes.push(createHash("sha1").update(piece).digest());
  }
  // bencode sorts dict keys on encode, so this info dict hashes the same as clients see it.
  const info: Record<string, unknown> = {
    length: payload.length,
    name: Buffer.from(options.name),
    "piece length": options.pieceLength,
    pieces: Buffer.concat(hashes),
  };
  if (options.private) info.private = 1;
  const infoHash = createHash("sha1").update(bencode.encode(info)).digest();
  const bytes = bencode.encode({ announce: Buffer.from(options.announce), info });
  return { bytes, infoHash };
}
