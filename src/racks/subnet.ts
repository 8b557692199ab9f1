import { networkOf, parseIp } from "../net/ip.js";
import type { Resolver } from "./location.js";

/** The last resolver of every chain: the client's network at a fixed prefix length. */
export function subnetResolver(prefixV4: number, prefixV6: number): Resolver {
  return (ip) => {
    const bytes = parseIp(ip);
    if (!bytes) return undefined;
    return networkOf(bytes, bytes.length === 4 ? prefixV4 : prefixV6);
  };
}
