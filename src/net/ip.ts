import { isIPv4, isIPv6 } from "node:net";

/** An IP address as raw network-order bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** Parses an IPv4 or IPv6 literal; IPv4-mapped IPv6 comes back as 4 bytes. Undefined if invalid. */
export function parseIp(text: string): IpBytes | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split(".").map(Number));
  if (!isIPv6(text)) return undefined;
  const bytes = parseIpv6(text);
  return isMapped(bytes) ? bytes.subarray(12) : bytes;
}

function parseIpv6(text: string): Uint8Array {
  let head = text;
  const words: number[] = [];
  // An embedded dotted quad (::ffff:1.2.3.4) stands for the last two words.
  const lastColon = head.lastIndexOf(":");
  const tail = head.slice(lastColon + 1);
  let quad: number[] = [];
  if (tail.includes(".")) {
    quad = tail.split(".").map(Number);
    head = head.slice(0, lastColon + 1) + "0:0";
  }
  const [left, right] = head.includes("::") ? head.split("::") : [head, undefined];
  const leftWords = left ? left.split(":").map((w) => parseInt(w, 16)) : [];
  const rightWords = right ? right.split(":").map((w) => parseInt(w, 16)) : [];
  words.push(...leftWords);
  for (let i = leftWords.length + rightWords.length; i < 8; i++) words.push(0);
  words.push(...rightWords);
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    bytes[i * 2] = word >> 8;
    bytes[i * 2 + 1] = word & 0xff;
  });
  if (quad.length === 4) bytes.set(quad, 12);
  return bytes;
}

function isMapped(bytes: Uint8Array): boolean {
  return MAPPED_PREFIX.every((b, i) => bytes[i] === b);
}

/** Formats address bytes as the usual text form (IPv6 compressed). */
export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) return bytes.join(".");
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // Compress the longest run of zero words, as RFC 5952 asks.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return words.join(":");
  const before = words.slice(0, bestStart).join(":");
  const after = words.slice(bestStart + bestLength).join(":");
  return `${before}::${after}`;
}

/** Address bytes as one unsigned integer, for prefix arithmetic. */
export function ipToBigInt(bytes: IpBytes): bigint {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return value;
}

function bigIntToIp(value: bigint, length: number): IpBytes {
  const bytes = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

/** A parsed CIDR block: family width, prefix length and the network as an integer. */
export interface Cidr {
  readonly width: 32 | 128;
  readonly prefix: number;
  readonly network: bigint;
}

/** Parses "a.b.c.d/n" or "x::/n" (a bare address is a /32 or /128). Undefined if invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const [addressText, prefixText, extra] = text.split("/");
  if (addressText === undefined || extra !== undefined) return undefined;
  const bytes = parseIp(addressText);
  if (!bytes) return undefined;
  const width = bytes.length === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText ?? "0") || prefix > width) return undefined;
  return { width, prefix, network: ipToBigInt(bytes) & mask(width, prefix) };
}

function mask(width: number, prefix: number): bigint {
  const all = (1n << BigInt(width)) - 1n;
  return all ^ ((1n << BigInt(width - prefix)) - 1n);
}

/** True when the address lies inside the block (families must match). */
export function cidrContains(cidr: Cidr, bytes: IpBytes): boolean {
  if (bytes.length * 8 !== cidr.width) return false;
  return (ipToBigInt(bytes) & mask(cidr.width, cidr.prefix)) === cidr.network;
}

/** The network address of `bytes` at `prefix` bits, as "network/prefix". */
export function networkOf(bytes: IpBytes, prefix: number): string {
  const width = bytes.length * 8;
  const bits = Math.min(prefix, width);
  const network = ipToBigInt(bytes) & mask(width, bits);
  return `${formatIp(bigIntToIp(network, bytes.length))}/${bits}`;
}
