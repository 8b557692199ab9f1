import type { Resolver } from "./location.js";

/**
 * The origin's servermanagement API: GET {base}/servers/ipaddresses/{ip} answers
 * { "<hostname>": { "cabinet": "<rack>", ... } }. Any error or timeout passes.
 */
export function httpResolver(baseUrl: string, timeoutMs: number): Resolver {
  const base = baseUrl.replace(/\/+$/, "");
  return async (ip) => {
    try {
      const response = await fetch(`${base}/servers/ipaddresses/${encodeURIComponent(ip)}`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) return undefined;
      const body = (await response.json()) as unknown;
      if (typeof body !== "object" || body === null) return undefined;
      for (const server of Object.values(body)) {
        const cabinet = (server as { cabinet?: unknown } | null)?.cabinet;
        if (typeof cabinet === "string" && cabinet !== "") return cabinet;
      }
      return undefined;
    } catch {
      return undefined;
    }
  };
}
