import { createHmac, timingSafeEqual } from "node:crypto";
import type { IpBytes } from "../net/ip.js";

/**
 * Stateless connection ids (BEP 15 asks a tracker to accept an id for two minutes after it
 * sent it). An id is the first 8 bytes of HMAC-SHA256(secret, bucket ‖ port ‖ address),
 * where bucket counts BUCKET_SECONDS since the epoch. The tracker keeps nothing per client:
 * it accepts the id of the current bucket and of the one before, so an id lives between
 * 2 and 4 minutes, and any replica holding the same secret accepts any other's ids (their
 * clocks must agree to well within a bucket: NTP does).
 */
export const BUCKET_SECONDS = 120;

/** Issues and checks connection ids under one secret. */
export interface ConnectionIds {
  issue(ip: IpBytes, port: number): Buffer;
  verify(id: Uint8Array, ip: IpBytes, port: number): boolean;
  /** The ids valid now for a client (this bucket's, then the previous one's), and the bucket they belong to. */
  valid(ip: IpBytes, port: number): { bucket: number; ids: [Buffer, Buffer] };
  /** The current bucket. */
  bucket(): number;
}

/** Connection ids signed with `secret`, on the clock `now` (milliseconds). */
export function connectionIds(secret: Uint8Array, now: () => number = Date.now): ConnectionIds {
  const input = Buffer.alloc(4 + 2 + 16);
  const sign = (bucket: number, ip: IpBytes, port: number) => {
    input.writeUInt32BE(bucket >>> 0, 0);
    input.writeUInt16BE(port, 4);
    input.set(ip, 6);
    return createHmac("sha256", secret)
      .update(input.subarray(0, 6 + ip.length))
      .digest()
      .subarray(0, 8);
  };
  const bucketNow = () => Math.floor(now() / 1000 / BUCKET_SECONDS);
  return {
    bucket: bucketNow,
    valid(ip, port) {
      const bucket = bucketNow();
      return { bucket, ids: [Buffer.from(sign(bucket, ip, port)), Buffer.from(sign(bucket - 1, ip, port))] };
    },
    issue: (ip, port) => sign(bucketNow(), ip, port),
    verify(id, ip, port) {
      if (id.length !== 8) return false;
      const bucket = bucketNow();
      return timingSafeEqual(id, sign(bucket, ip, port)) || timingSafeEqual(id, sign(bucket - 1, ip, port));
    },
  };
}
