/**
 * Caps on open connections, in total and per client address: past them a new connection is
 * closed before a byte of it is read, so a flood of connections costs a file descriptor
 * for a moment, not a parser, a timer and a buffer each.
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { cidrContains, parseCidr, parseIp } from "../net/ip.js";
import { log } from "../log.js";
import { throttledLog } from "../observe/logThrottle.js";
import type { HttpLimit } from "../observe/metrics.js";

/** The caps (0: none) and the addresses the per-address cap leaves alone. */
export interface ConnectionCaps {
  readonly maxConnections: number;
  readonly maxPerAddress: number;
  /** Load balancers and proxies that carry many clients' connections (PROXYPASS only). */
  readonly exempt: readonly string[];
}

/** How often at most a refusal is logged, with the count since the last line. */
const WARN_EVERY_MS = 60_000;

/** One warning a minute at most for a cap, whichever address it names. */
const throttledWarning = () => throttledLog((message) => log.warn(message), WARN_EVERY_MS, { kindOf: () => "cap" });

/** Applies the caps to a server. */
export function limitConnections(
  server: Server,
  caps: ConnectionCaps,
  refused: (limit: HttpLimit) => void = () => undefined,
): void {
  // Node closes connections past maxConnections itself, before it makes a socket of them.
  if (caps.maxConnections > 0) server.maxConnections = caps.maxConnections;
  const warnTotal = throttledWarning();
  server.on("drop", () => {
    refused("max_connections");
    warnTotal(`connections refused: MAX_CONNECTIONS (${caps.maxConnections}) are open`);
  });
  if (caps.maxPerAddress > 0) {
    const exempt = exemption(caps.exempt);
    const open = new Map<string, number>();
    const warnPerAddress = throttledWarning();
    server.on("connection", (socket: Socket) => {
      const address = socket.remoteAddress;
      if (address === undefined || exempt(address)) return;
      const count = (open.get(address) ?? 0) + 1;
      if (count > caps.maxPerAddress) {
        refused("max_connections_per_address");
        warnPerAddress(
          `connections refused: ${address} (and maybe others) has MAX_CONNECTIONS_PER_ADDRESS (${caps.maxPerAddress}) open`,
        );
        socket.destroy();
        return;
      }
      open.set(address, count);
      socket.once("close", () => {
        const left = open.get(address)! - 1;
        if (left === 0) open.delete(address);
        else open.set(address, left);
      });
    });
  }
}

/** Compiles the exempt CIDR blocks once; the check runs per connection. */
function exemption(blocks: readonly string[]): (address: string) => boolean {
  const cidrs = blocks.map((block) => parseCidr(block)!);
  if (cidrs.length === 0) return () => false;
  return (address) => {
    const ip = parseIp(address);
    return ip !== undefined && cidrs.some((cidr) => cidrContains(cidr, ip));
  };
}
