import { timingSafeEqual } from "node:crypto";
import { parseIp, type IpBytes } from "../net/ip.js";
import type { ConnectionIds } from "./connectionId.js";

/** Sources remembered at most; past it the memory starts over (a few MB at most). */
const MAX_SOURCES = 65_536;

interface Source {
  readonly ip: IpBytes;
  readonly bucket: number;
  readonly ids: readonly [Buffer, Buffer];
}

/**
 * What the front end works out for each packet's source address and port, kept for the
 * rest of the time bucket: the address as bytes and the connection ids it may send. A
 * client announces many times with one id, so the HMACs (two per check) and the address
 * parsing run once per client and bucket, not per packet. Nothing here decides validity:
 * the ids are those connectionIds() computes.
 */
export function sourceCache(ids: ConnectionIds) {
  const known = new Map<string, Source>();

  function lookup(address: string, port: number): Source | undefined {
    const key = `${address}#${port}`;
    const bucket = ids.bucket();
    const cached = known.get(key);
    if (cached !== undefined && cached.bucket === bucket) return cached;
    const ip = parseIp(address);
    if (ip === undefined) return undefined;
    const valid = ids.valid(ip, port);
    if (known.size >= MAX_SOURCES) known.clear();
    const source = { ip, bucket: valid.bucket, ids: valid.ids };
    known.set(key, source);
    return source;
  }

  return {
    /** The source's address as bytes; undefined when it is not an IP address. */
    ip: (address: string, port: number) => lookup(address, port)?.ip,
    /** Whether `id` is a connection id the source may use now. */
    accepts(id: Uint8Array, address: string, port: number): boolean {
      const source = lookup(address, port);
      if (source === undefined || id.length !== 8) return false;
      return timingSafeEqual(id, source.ids[0]) || timingSafeEqual(id, source.ids[1]);
    },
  };
}
