import type { Resolver } from "./location.js";

/**
 * The origin's servermanagement API: GET {base}/servers/ipaddresses/{ip} answers
 * { "<hostname>": { "cabinet": "<rack>", ... } }. A 404 or an answer without a cabinet
 * means "not known here"; any other failure (status, malformed body, timeout) throws, so
 * the chain passes to the next resolver without caching the failure.
 */
export function httpResolver(baseUrl: string, timeoutMs: number): Resolver {
  const base = baseUrl.replace(/\/+$/, "");
  return async (ip) => {
    const response = await fetch(`${base}/servers/ipaddresses/${encodeURIComponent(ip)}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`servermanagement API answered HTTP ${response.status}`);
    const body = (await response.json()) as unknown;
    if (typeof body !== "object" || body === null) throw new Error("servermanagement API answered no JSON object");
    for (const server of Object.values(body)) {
      const cabinet = (server as { cabinet?: unknown } | null)?.cabinet;
      if (typeof cabinet === "string" && cabinet !== "") return cabinet;
    }
    return undefined;
  };
}
