/**
 * A strict, iterative reading of bencoded bytes, for input from outside (uploaded
 * .torrent files). The `bencode` package decodes leniently (it accepts trailing bytes, a
 * truncated string, 01 for 1, integers past 2^53) and recursively (deep nesting overflows
 * the stack), so every upload passes through here first.
 */

/** Bytes that are not well-formed bencode, with the reason and the offset. */
export class BencodeError extends Error {}

/** Deepest nesting of lists and dicts accepted; real metainfo needs about 5. */
export const MAX_DEPTH = 32;

/** Most keys in one dictionary: metainfo dicts hold a few dozen (file lists are lists). */
export const MAX_DICT_KEYS = 10_000;

/** Longest integer accepted, in digits: 2^53 has 16, so 15 keeps every value exact. */
const MAX_INTEGER_DIGITS = 15;

const I = 0x69;
const L = 0x6c;
const D = 0x64;
const E = 0x65;
const COLON = 0x3a;
const isDigit = (byte: number | undefined) => byte !== undefined && byte >= 0x30 && byte <= 0x39;

/** One key of the top-level dictionary and the byte range of its value. */
export interface TopLevelEntry {
  readonly key: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Checks that `bytes` is exactly one well-formed bencoded dictionary and returns its keys
 * with the byte ranges of their values (the info hash is the SHA-1 of one such range).
 */
export function scanTopLevelDict(input: Uint8Array): TopLevelEntry[] {
  // A Buffer view (no copy): its latin1 slices and indexOf are the fast native ones.
  const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (bytes[0] !== D) throw new BencodeError("it must start with a dictionary ('d')");
  const entries: TopLevelEntry[] = [];
  const keys = new Set<string>();
  let at = 1;
  while (bytes[at] !== E) {
    if (at >= bytes.length) throw new BencodeError("truncated: the top-level dictionary is not closed");
    const keyStart = at;
    if (!isDigit(bytes[keyStart])) throw new BencodeError(`a dictionary key at byte ${keyStart} is not a string`);
    const keyEnd = skipString(bytes, at);
    const key = bytes.toString("latin1", bytes.indexOf(COLON, keyStart) + 1, keyEnd);
    if (keys.has(key)) throw new BencodeError(`the key "${key}" appears twice in the top-level dictionary`);
    if (keys.size >= MAX_DICT_KEYS) throw new BencodeError(`more than ${MAX_DICT_KEYS} keys in a dictionary`);
    keys.add(key);
    const end = skipValue(bytes, keyEnd, 1);
    entries.push({ key, start: keyEnd, end });
    at = end;
  }
  if (at + 1 !== bytes.length) throw new BencodeError(`${bytes.length - at - 1} bytes after the end of the metainfo`);
  return entries;
}

/** Index just past the well-formed value that starts at `at` (iterative: no recursion). */
function skipValue(bytes: Buffer, start: number, depth: number): number {
  // open[i]: the container at nesting level i; a dict's keys so far (a repeated key would
  // let two readers of the same bytes see different values) and whether a key comes next.
  const open: Array<{ dict: boolean; expectKey: boolean; keys: Set<string> | undefined }> = [];
  let at = start;
  do {
    const top = open[open.length - 1];
    if (top && bytes[at] === E) {
      if (top.dict && !top.expectKey) throw new BencodeError(`a dictionary key at byte ${at} has no value`);
      open.pop();
      at++;
      if (open.length > 0) afterValue(open);
      continue;
    }
    if (at >= bytes.length) throw new BencodeError("truncated: the data ends inside a value");
    const kind = bytes[at]!;
    if (top?.dict && top.expectKey) {
      if (!isDigit(kind)) throw new BencodeError(`a dictionary key at byte ${at} is not a string`);
      const end = skipString(bytes, at);
      const key = bytes.toString("latin1", bytes.indexOf(COLON, at) + 1, end);
      if (top.keys!.has(key)) throw new BencodeError(`the key "${key}" appears twice in a dictionary`);
      if (top.keys!.size >= MAX_DICT_KEYS) throw new BencodeError(`more than ${MAX_DICT_KEYS} keys in a dictionary`);
      top.keys!.add(key);
      top.expectKey = false;
      at = end;
      continue;
    }
    if (kind === L || kind === D) {
      if (depth + open.length + 1 > MAX_DEPTH) throw new BencodeError(`nested deeper than ${MAX_DEPTH} levels`);
      open.push({ dict: kind === D, expectKey: kind === D, keys: kind === D ? new Set() : undefined });
      at++;
      continue;
    }
    at = kind === I ? skipInteger(bytes, at) : skipString(bytes, at);
    if (open.length > 0) afterValue(open);
  } while (open.length > 0);
  return at;
}

function afterValue(open: Array<{ dict: boolean; expectKey: boolean }>): void {
  const top = open[open.length - 1]!;
  if (top.dict) top.expectKey = true;
}

function skipInteger(bytes: Buffer, at: number): number {
  const end = bytes.indexOf(E, at);
  if (end < 0) throw new BencodeError(`truncated: the integer at byte ${at} is not closed`);
  const text = bytes.toString("latin1", at + 1, end);
  if (!/^(0|-?[1-9]\d*)$/.test(text))
    throw new BencodeError(`"i${text.slice(0, 20)}e" at byte ${at} is not an integer`);
  if (text.replace("-", "").length > MAX_INTEGER_DIGITS) {
    throw new BencodeError(`the integer at byte ${at} has more than ${MAX_INTEGER_DIGITS} digits`);
  }
  return end + 1;
}

function skipString(bytes: Buffer, at: number): number {
  if (!isDigit(bytes[at])) {
    throw new BencodeError(`unexpected byte 0x${(bytes[at] ?? 0).toString(16).padStart(2, "0")} at ${at}`);
  }
  // The length's digits, read in place: at most 10, no leading zero.
  let length = 0;
  let colon = at;
  while (isDigit(bytes[colon]) && colon - at <= 10) length = length * 10 + bytes[colon++]! - 0x30;
  if (bytes[colon] !== COLON || colon - at > 10 || (bytes[at] === 0x30 && colon - at > 1)) {
    throw new BencodeError(`a string length at byte ${at} is malformed`);
  }
  const end = colon + 1 + length;
  if (end > bytes.length) throw new BencodeError(`truncated: the string at byte ${at} runs past the end`);
  return end;
}
