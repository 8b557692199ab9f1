/** Query parameters decoded byte-exactly: info_hash and peer_id are raw bytes, not text. */
export type RawQuery = Map<string, Buffer[]>;

/** Upper bounds that keep a hostile query from costing more than a real one. */
export const QUERY_LIMITS = { maxLength: 16384, maxParams: 256 } as const;

/** Client-safe description of why a query could not be decoded. */
export class QueryError extends Error {}

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

const utf8 = new TextDecoder();

/** Splits a raw query string (without "?") into names and percent-decoded byte values. */
export function decodeQuery(raw: string): RawQuery {
  if (raw.length > QUERY_LIMITS.maxLength) throw new QueryError("query string too long");
  const params: RawQuery = new Map();
  if (raw === "") return params;
  const pairs = raw.split("&");
  if (pairs.length > QUERY_LIMITS.maxParams) throw new QueryError("too many query parameters");
  // Every value is a view into one buffer (decoded bytes never outnumber encoded
  // characters), which Node carves from its buffer pool for queries under 4 KiB, as
  // announces are: no allocation of its own per parameter, nor per query.
  const decoded = Buffer.allocUnsafe(raw.length);
  let used = 0;
  for (const pair of pairs) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const name = /^[\w.-]*$/.test(rawName) ? rawName : utf8.decode(percentDecode(rawName));
    const start = used;
    used = percentDecodeInto(eq < 0 ? "" : pair.slice(eq + 1), decoded, start);
    const value = decoded.subarray(start, used);
    const values = params.get(name);
    if (values) values.push(value);
    else params.set(name, [value]);
  }
  return params;
}

function percentDecode(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  return out.subarray(0, percentDecodeInto(text, out, 0));
}

/** Decodes `text` into `out` from index `at` on (room for text.length bytes); returns the end. */
function percentDecodeInto(text: string, out: Uint8Array, at: number): number {
  let n = at;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const hi = HEX[text.charCodeAt(i + 1)] ?? -1;
      const lo = HEX[text.charCodeAt(i + 2)] ?? -1;
      if (hi < 0 || lo < 0) throw new QueryError("malformed percent-encoding in query");
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else if (c === 0x2b /* + */) {
      out[n++] = 0x20;
    } else if (c < 0x80) {
      out[n++] = c;
    } else {
      throw new QueryError("query string must be ASCII (percent-encode other bytes)");
    }
  }
  return n;
}
