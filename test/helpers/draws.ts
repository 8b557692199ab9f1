/**
 * Uniform-draw checks for the announce script: a client's request, the peers of its
 * replies, and a tally of many replies against the ±5 standard deviations of a uniform
 * pick. Seeds are fixed, so the counts are the same on every run.
 */

import assert from "node:assert/strict";
import { transferKeys } from "../../src/store/keys.js";
import { runAnnounce, type AnnouncePolicy, type AnnounceRequest, type ScriptRunner } from "../../src/store/scripts.js";

/** Replies tallied per check. */
export const DRAWS = 800;

/** A periodic announce of the IPv4 client `ip` (port 6881) in `rack`. */
export function drawRequest(ip: string, rack: string, left: bigint, numwant: number): AnnounceRequest {
  return {
    address: Buffer.from([...ip.split(".").map(Number), 0x1a, 0xe1]),
    rack,
    peerId: Buffer.alloc(20, 0xcd),
    event: "",
    left,
    uploaded: 0n,
    downloaded: 0n,
    numwant,
    withPeerIds: false,
  };
}

/** The peers of one reply, as dotted IPv4 addresses. */
export function ipsOf(peers4: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < peers4.length; i += 6) out.push(Array.from(peers4.subarray(i, i + 4)).join("."));
  return out;
}

/** How often each peer came back over DRAWS announces of `client`, which must never get `never`. */
export async function tallyDraws(
  runner: ScriptRunner,
  infoHashHex: string,
  client: AnnounceRequest,
  never: ReadonlySet<string>,
  policy: AnnouncePolicy,
): Promise<Map<string, number>> {
  const keys = transferKeys(infoHashHex);
  const counts = new Map<string, number>();
  for (let seed = 1; seed <= DRAWS; seed++) {
    const got = ipsOf((await runAnnounce(runner, keys, client, policy, seed)).peers4);
    assert.equal(got.length, client.numwant, `seed ${seed}: a full reply`);
    assert.equal(new Set(got).size, got.length, `seed ${seed}: no peer twice`);
    for (const ip of got) {
      assert.ok(!never.has(ip), `seed ${seed}: ${ip} must not be returned`);
      counts.set(ip, (counts.get(ip) ?? 0) + 1);
    }
  }
  return counts;
}

/** Every eligible peer came back, each within ±5 standard deviations of a uniform pick of `picks`. */
export function assertUniform(counts: Map<string, number>, eligible: readonly string[], picks: number): void {
  assert.deepEqual([...counts.keys()].sort(), [...eligible].sort(), "every eligible peer is returned at times");
  const p = picks / eligible.length;
  const mean = DRAWS * p;
  const spread = 5 * Math.sqrt(DRAWS * p * (1 - p));
  for (const ip of eligible) {
    const n = counts.get(ip)!;
    assert.ok(
      Math.abs(n - mean) <= spread,
      `${ip} came back ${n} times; uniform is ${mean.toFixed(0)} ± ${spread.toFixed(0)}`,
    );
  }
}
