import { cidrContains, parseCidr, parseIp, type Cidr, type IpBytes } from "../net/ip.js";
import { ClientError } from "../wire/bittorrent.js";

/** How to find the client's address: the socket, or a trusted proxy's headers. */
export interface AddressPolicy {
  readonly proxyPass: boolean;
  readonly trustedProxies: readonly string[];
  readonly acceptIpParam: boolean;
}

/** What the request offers to tell who the client is. */
export interface AddressSources {
  readonly socketAddress: string | undefined;
  readonly forwardedFor: string | undefined;
  readonly realIp: string | undefined;
  readonly ipParam: string | undefined;
}

/** Builds the resolver once (CIDRs compiled), to run per request. */
export function clientAddressResolver(policy: AddressPolicy): (sources: AddressSources) => IpBytes {
  const proxies: Cidr[] = policy.trustedProxies.map((text) => parseCidr(text)!);
  const trusted = (ip: IpBytes) => proxies.some((cidr) => cidrContains(cidr, ip));

  return (sources) => {
    if (policy.acceptIpParam && sources.ipParam !== undefined) {
      const claimed = parseIp(sources.ipParam);
      if (!claimed) throw new ClientError("ip must be an IPv4 or IPv6 address");
      return claimed;
    }
    const socket = sources.socketAddress === undefined ? undefined : parseIp(sources.socketAddress);
    if (!socket) throw new ClientError("cannot determine the client address");
    if (!policy.proxyPass || !trusted(socket)) return socket;
    // Walk X-Forwarded-For from the nearest hop back; the first untrusted hop is the client.
    if (sources.forwardedFor !== undefined) {
      const hops = sources.forwardedFor.split(",").map((h) => h.trim());
      for (let i = hops.length - 1; i >= 0; i--) {
        const hop = parseIp(hops[i]!);
        if (!hop) throw new ClientError("X-Forwarded-For holds an invalid address");
        if (!trusted(hop) || i === 0) return hop;
      }
    }
    if (sources.realIp !== undefined) {
      const real = parseIp(sources.realIp.trim());
      if (!real) throw new ClientError("X-Real-IP holds an invalid address");
      return real;
    }
    return socket;
  };
}
