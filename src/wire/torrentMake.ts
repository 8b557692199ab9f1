import { createHash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { access, constants, readdir, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import bencode from "bencode";

/** Builds BEP 3 v1 metainfo (.torrent) from a file or a directory, streaming its bytes. */

/** Smallest piece length accepted: 16 KiB, the block size clients request pieces in. */
export const MIN_PIECE_LENGTH = 16 * 1024;
/** Largest piece length accepted: 64 MiB (a client keeps, and refetches on a bad hash, whole pieces). */
export const MAX_PIECE_LENGTH = 64 * 1024 * 1024;

/** A source that cannot become a torrent (missing, empty, a symlink loop...): the text says why. */
export class TorrentMakeError extends Error {}

/** What goes into the metainfo besides the payload. */
export interface TorrentMakeOptions {
  readonly announce: string;
  /** Bytes, a power of two from MIN_PIECE_LENGTH to MAX_PIECE_LENGTH; absent: autoPieceLength. */
  readonly pieceLength?: number | undefined;
  /** The torrent's name (the file or top folder clients create); absent: the source's base name. */
  readonly name?: string | undefined;
  /** BEP 27 private flag: clients then use only the tracker, no DHT, PEX or LPD. */
  readonly private: boolean;
}

/** Called as bytes are hashed: bytes done so far and the payload's total. */
export type HashProgress = (hashed: number, total: number) => void;

/** One payload file: its path inside the torrent ("/"-separated) and its length. */
export interface TorrentFileEntry {
  readonly path: string;
  readonly length: number;
}

/** A built torrent: the .torrent bytes and what describes it. */
export interface MadeTorrent {
  readonly bytes: Uint8Array;
  readonly infoHashHex: string;
  readonly name: string;
  readonly length: number;
  readonly pieceLength: number;
  readonly pieceCount: number;
  /** The payload files in torrent order; one entry (the name) for a single-file torrent. */
  readonly files: readonly TorrentFileEntry[];
  /** False for a single file (info has `length`), true for a directory (info has `files`). */
  readonly multiFile: boolean;
  readonly private: boolean;
}

const MIB = 1024 * 1024;
/**
 * mktorrent's automatic piece length (pobrn/mktorrent, PR #55, "Automatically calculate
 * piece length", init.c and mktorrent.h): the smallest power of two from 2^15 whose bound
 * the total size does not exceed, bounds doubling from 50 MiB; 2^24 above 12800 MiB.
 */
const AUTO_PIECE_BOUNDS: ReadonlyArray<readonly [maxBytes: number, exponent: number]> = [
  [50 * MIB, 15],
  [100 * MIB, 16],
  [200 * MIB, 17],
  [400 * MIB, 18],
  [800 * MIB, 19],
  [1600 * MIB, 20],
  [3200 * MIB, 21],
  [6400 * MIB, 22],
  [12800 * MIB, 23],
];
const AUTO_PIECE_LARGEST_EXPONENT = 24;

/** Piece length for a payload of `totalBytes`, by mktorrent's rule (32 KiB up to 50 MiB ... 16 MiB). */
export function autoPieceLength(totalBytes: number): number {
  const bound = AUTO_PIECE_BOUNDS.find(([maxBytes]) => totalBytes <= maxBytes);
  return 2 ** (bound ? bound[1] : AUTO_PIECE_LARGEST_EXPONENT);
}

/** Whether `bytes` is a piece length this module writes: a power of two from 16 KiB to 64 MiB. */
export function isValidPieceLength(bytes: number): boolean {
  return (
    Number.isInteger(bytes) && bytes >= MIN_PIECE_LENGTH && bytes <= MAX_PIECE_LENGTH && (bytes & (bytes - 1)) === 0
  );
}

const CREATED_BY = `p2ptracker ${packageVersion()}`;

/** This tracker's version, from its package.json. */
export function packageVersion(): string {
  const url = new URL(
    import.meta.url.includes("/dist/") ? "../../../package.json" : "../../package.json",
    import.meta.url,
  );
  return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
}

// Large enough that a read costs little next to hashing it.
const READ_CHUNK = 4 * MIB;

/** Hashes `source` (a file or a directory) into a .torrent. Reads every byte once, never all at once. */
export async function buildTorrent(
  source: string,
  options: TorrentMakeOptions,
  onProgress: HashProgress = () => undefined,
): Promise<MadeTorrent> {
  const name = options.name ?? defaultTorrentName(source);
  checkTorrentName(name);
  if (options.pieceLength !== undefined && !isValidPieceLength(options.pieceLength)) {
    throw new TorrentMakeError(`piece length ${options.pieceLength}: expected a power of two from 16 KiB to 64 MiB`);
  }
  const { multiFile, files } = await listSource(source);
  const length = files.reduce((sum, file) => sum + file.length, 0);
  if (length === 0) throw new TorrentMakeError(`${source}: nothing to share, every file is empty`);
  if (!Number.isSafeInteger(length)) throw new TorrentMakeError(`${source}: too large`);
  const pieceLength = options.pieceLength ?? autoPieceLength(length);
  const pieces = await hashPieces(files, pieceLength, length, onProgress);

  const info: Record<string, unknown> = { name, "piece length": pieceLength, pieces };
  if (multiFile) info.files = files.map((file) => ({ length: file.length, path: file.segments }));
  else info.length = length;
  if (options.private) info.private = 1;
  // bencode sorts dict keys as BEP 3 requires, so this encoding is the one clients hash.
  const infoHashHex = createHash("sha1").update(bencode.encode(info)).digest("hex").toUpperCase();
  const bytes = bencode.encode({
    announce: options.announce,
    "created by": CREATED_BY,
    "creation date": Math.floor(Date.now() / 1000),
    info,
  });
  return {
    bytes,
    infoHashHex,
    name,
    length,
    pieceLength,
    pieceCount: pieces.length / 20,
    files: multiFile
      ? files.map((file) => ({ path: file.segments.join("/"), length: file.length }))
      : [{ path: name, length }],
    multiFile,
    private: options.private,
  };
}

/** The name a torrent of `source` gets by default: the file's or directory's own name. */
export function defaultTorrentName(source: string): string {
  return basename(resolve(source));
}

/** Throws unless `name` can be a torrent name: clients create a file or folder of that name. */
export function checkTorrentName(name: string): void {
  if (name === "" || name === "." || name === ".." || /[/\0]/.test(name)) {
    throw new TorrentMakeError(`"${name}" cannot be a torrent name: it must be one file name, without "/"`);
  }
}

/** A payload file on disk and where it goes in the torrent. */
interface SourceFile {
  readonly diskPath: string;
  readonly segments: readonly string[];
  readonly length: number;
}

/** The files under `source`, sorted by path. Follows symlinks, as mktorrent does, but not in circles. */
async function listSource(source: string): Promise<{ multiFile: boolean; files: SourceFile[] }> {
  const top = await statEntry(source);
  if (top.isFile()) {
    await checkReadable(source);
    return { multiFile: false, files: [{ diskPath: source, segments: [], length: top.size }] };
  }
  if (!top.isDirectory()) throw new TorrentMakeError(`${source}: not a regular file or directory`);
  const files: SourceFile[] = [];
  await walk(source, [], [`${top.dev}:${top.ino}`], files);
  if (files.length === 0) throw new TorrentMakeError(`${source}: the directory has no files`);
  // Byte order of the joined paths, as mktorrent sorts: the same tree always gives the same info hash.
  const key = (file: SourceFile) => Buffer.from(file.segments.join("/"));
  return { multiFile: true, files: files.sort((a, b) => Buffer.compare(key(a), key(b))) };
}

/** Adds the files under `dir` to `out`; `ancestors` are the dev:inode ids of the folders above. */
async function walk(dir: string, segments: string[], ancestors: string[], out: SourceFile[]): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    throw new TorrentMakeError(`${dir}: cannot read the directory (${codeOf(error)})`);
  }
  for (const entryName of names) {
    const diskPath = join(dir, entryName);
    const entry = await statEntry(diskPath);
    if (entry.isDirectory()) {
      const id = `${entry.dev}:${entry.ino}`;
      if (ancestors.includes(id)) {
        throw new TorrentMakeError(`${diskPath}: symbolic link loop (leads back to a parent)`);
      }
      await walk(diskPath, [...segments, entryName], [...ancestors, id], out);
    } else if (entry.isFile()) {
      await checkReadable(diskPath);
      out.push({ diskPath, segments: [...segments, entryName], length: entry.size });
    } else {
      throw new TorrentMakeError(`${diskPath}: not a regular file or directory`);
    }
  }
}

/** stat (through symlinks), with the failures a user can act on named. */
async function statEntry(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    const code = codeOf(error);
    if (code === "ELOOP") throw new TorrentMakeError(`${path}: symbolic link loop`);
    if (code === "ENOENT") throw new TorrentMakeError(`${path}: no such file or directory (or a broken symbolic link)`);
    throw new TorrentMakeError(`${path}: cannot read (${code})`);
  }
}

async function checkReadable(path: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
  } catch (error) {
    throw new TorrentMakeError(`${path}: cannot read (${codeOf(error)})`);
  }
}

const codeOf = (error: unknown) => (error as NodeJS.ErrnoException).code ?? (error as Error).message;

/**
 * SHA-1 of each piece of the files laid end to end (BEP 3: pieces span file boundaries),
 * concatenated. Reads in fixed chunks whatever the piece length, hashing as it goes.
 */
async function hashPieces(
  files: readonly SourceFile[],
  pieceLength: number,
  total: number,
  onProgress: HashProgress,
): Promise<Buffer> {
  const pieces = Buffer.alloc(Math.ceil(total / pieceLength) * 20);
  let piece = createHash("sha1");
  let pieceFill = 0;
  let pieceIndex = 0;
  let hashed = 0;
  onProgress(0, total);
  for (const file of files) {
    if (file.length === 0) continue;
    // A stream reads its next chunk while this one is hashed: reading overlaps hashing.
    const chunks = createReadStream(file.diskPath, { start: 0, end: file.length - 1, highWaterMark: READ_CHUNK });
    let fileRead = 0;
    try {
      for await (const chunk of chunks as AsyncIterable<Buffer>) {
        for (let at = 0; at < chunk.length;) {
          const take = Math.min(pieceLength - pieceFill, chunk.length - at);
          piece.update(chunk.subarray(at, at + take));
          pieceFill += take;
          at += take;
          if (pieceFill === pieceLength) {
            piece.digest().copy(pieces, pieceIndex++ * 20);
            piece = createHash("sha1");
            pieceFill = 0;
          }
        }
        fileRead += chunk.length;
        hashed += chunk.length;
        onProgress(hashed, total);
      }
    } catch (error) {
      throw new TorrentMakeError(`${file.diskPath}: cannot read (${codeOf(error)})`);
    }
    if (fileRead !== file.length) throw new TorrentMakeError(`${file.diskPath}: changed while hashing`);
  }
  if (pieceFill > 0) piece.digest().copy(pieces, pieceIndex * 20);
  return pieces;
}
