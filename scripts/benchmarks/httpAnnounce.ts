import { request, type Agent } from "node:http";
import bencode from "bencode";
import { PEER_PORT, type LoadedPeer } from "./swarmLoad.js";

/** Announces of loaded peers over HTTP, as their clients would send them. */

/** Peers each benchmark announce asks for: the clients' usual default. */
export const NUMWANT = 50;

/** Hex digits as the percent-encoded bytes they spell (a raw info_hash or peer_id in a query). */
export const percentHex = (hex: string) => hex.replace(/[0-9A-Fa-f]{2}/g, "%$&");

/** The periodic announce (no event) of a loaded peer, as its client would send it. */
export function announcePath(infoHashHex: string, peer: LoadedPeer): string {
  return (
    `/announce?info_hash=${percentHex(infoHashHex)}&peer_id=${percentHex(peer.host.peerId.toString("hex"))}` +
    `&port=${PEER_PORT}&uploaded=0&downloaded=${peer.downloaded}&left=${peer.left}` +
    `&compact=1&numwant=${NUMWANT}&key=${peer.host.keyText}`
  );
}

/** One announce over a keep-alive connection; resolves with its latency and the bencoded body. */
export function announceOnce(
  agent: Agent,
  port: number,
  path: string,
  ip: string,
): Promise<{ us: number; body: Buffer }> {
  return new Promise((done, fail) => {
    const start = process.hrtime.bigint();
    const req = request({ host: "127.0.0.1", port, path, agent, headers: { "X-Forwarded-For": ip } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const us = Number(process.hrtime.bigint() - start) / 1000;
        if (res.statusCode !== 200) return fail(new Error(`HTTP ${res.statusCode}`));
        done({ us, body: Buffer.concat(chunks) });
      });
      res.on("error", fail);
    });
    req.on("error", fail);
    req.end();
  });
}

/** Peers in a compact reply, or -1 for a failure reply. */
export function peersIn(body: Buffer): number {
  const reply = bencode.decode(body) as Record<string, unknown>;
  if (reply["failure reason"] !== undefined) return -1;
  const peers = reply["peers"];
  return peers instanceof Uint8Array ? peers.length / 6 : 0;
}
