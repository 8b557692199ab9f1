import { request } from "node:http";
import bencode from "bencode";

/** A raw HTTP response: status and body bytes. */
export interface RawResponse {
  readonly status: number;
  readonly body: Buffer;
}

/** GET (or another method) over node:http, optionally from a given loopback source address. */
export function httpRequest(
  url: string,
  options: { method?: string; localAddress?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  return new Promise((done, fail) => {
    const req = request(
      url,
      { method: options.method ?? "GET", localAddress: options.localAddress, headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", fail);
      },
    );
    req.on("error", fail);
    req.end();
  });
}

/** Percent-encodes every byte, as clients do for info_hash and peer_id. */
export function percentEncode(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => `%${b.toString(16).padStart(2, "0")}`).join("");
}

/** A decoded bencoded reply; byte strings stay Uint8Array. */
export type Decoded = Record<string, unknown>;

export function decode(body: Uint8Array): Decoded {
  return bencode.decode(body) as Decoded;
}

/** The text of a decoded byte string field. */
export function text(value: unknown): string {
  return Buffer.from(value as Uint8Array).toString("utf8");
}
