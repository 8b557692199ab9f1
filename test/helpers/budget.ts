/**
 * The rack uplink budget's invariants, read back from Redis (one server or a cluster):
 * what the scripts promise in their headers, checked from outside.
 */

import { rackBudgetKeys, rackKey } from "../../src/store/keys.js";
import { formatIp } from "../../src/net/ip.js";
import { splitCompact } from "../../src/wire/bittorrent.js";
import type { Decoded } from "./http.js";
import { hexOf, peer, peersOf, randomInfoHash, type TestPeer } from "./tracker.js";

/** The reads the check needs; a node-redis client or cluster in Buffer mode or not. */
export interface BudgetReader {
  hGetAll(key: string): Promise<Record<string, unknown>>;
  zRangeWithScores(key: string, start: number, stop: number): Promise<Array<{ value: unknown; score: number }>>;
}

export interface Lease {
  readonly host: string;
  readonly slot: number;
  readonly token: number;
  readonly expiresAt: number;
}

/** A rack's live leases. */
export async function liveLeases(redis: BudgetReader, rack: string, now: number): Promise<Lease[]> {
  const holders = await redis.hGetAll(rackBudgetKeys(rack).holders);
  return Object.entries(holders).flatMap(([host, value]) => {
    const [slot, token, expiresAt] = String(value).split(" ").map(Number);
    return expiresAt! > now ? [{ host, slot: slot!, token: token!, expiresAt: expiresAt! }] : [];
  });
}

/** The hosts a transfer counts as live representatives of a rack, with the lease copy it holds. */
export async function liveRepresentatives(redis: BudgetReader, hex: string, rack: string, now: number) {
  const reps = await redis.zRangeWithScores(rackKey(hex, rack, "R"), 0, -1);
  const fence = await redis.hGetAll(rackKey(hex, rack, "F"));
  const copies = new Map<string, { slot: number; token: number }>();
  for (const [slot, value] of Object.entries(fence)) {
    const text = Buffer.isBuffer(value) ? value : Buffer.from(String(value), "latin1");
    const space = text.indexOf(0x20);
    copies.set(text.subarray(space + 1).toString("latin1"), {
      slot: Number(slot),
      token: Number(text.subarray(0, space).toString()),
    });
  }
  return reps
    .filter((r) => r.score > now)
    .map((r) => {
      const address = Buffer.isBuffer(r.value) ? r.value : Buffer.from(String(r.value), "latin1");
      return {
        host: formatIp(splitCompact(address).ip),
        copy: copies.get(address.toString("latin1")),
      };
    });
}

/**
 * Every broken promise, as text (empty when all hold): at most `slots` live leases per rack,
 * on distinct slots; every live representative of every transfer holds a live lease with
 * the slot and token its transfer recorded; at most `slots` distinct hosts of a rack are
 * representatives over all the transfers.
 */
export async function budgetViolations(
  redis: BudgetReader,
  racks: readonly string[],
  hexes: readonly string[],
  slots: number,
  now = Math.floor(Date.now() / 1000),
): Promise<string[]> {
  const problems: string[] = [];
  for (const rack of racks) {
    const leases = await liveLeases(redis, rack, now);
    if (leases.length > slots) problems.push(`${rack}: ${leases.length} live leases, at most ${slots}`);
    if (new Set(leases.map((l) => l.slot)).size !== leases.length) problems.push(`${rack}: two leases on one slot`);
    const byHost = new Map(leases.map((l) => [l.host, l]));
    const repHosts = new Set<string>();
    for (const hex of hexes) {
      for (const rep of await liveRepresentatives(redis, hex, rack, now)) {
        repHosts.add(rep.host);
        const lease = byHost.get(rep.host);
        if (!lease) problems.push(`${hex} ${rack}: representative ${rep.host} holds no live lease`);
        else if (!rep.copy || rep.copy.slot !== lease.slot || rep.copy.token !== lease.token) {
          problems.push(
            `${hex} ${rack}: representative ${rep.host} holds slot ${rep.copy?.slot}/token ${rep.copy?.token}, the rack says ${lease.slot}/${lease.token}`,
          );
        }
      }
    }
    if (repHosts.size > slots) problems.push(`${rack}: ${repHosts.size} hosts represent it, at most ${slots}`);
  }
  return problems;
}

/** What a test needs to run the concurrent three-transfer check against replicas. */
export interface BudgetRun {
  readonly redis: BudgetReader & { hGet(key: string, field: string): Promise<unknown> };
  /** Announces `client` for `infoHash` through replica `i` (modulo the replicas). */
  announce(i: number, infoHash: Uint8Array, client: TestPeer): Promise<Decoded>;
  /** Registers the transfer (activates it). */
  activate(hex: string): Promise<void>;
}

/**
 * Three transfers at once: `clients` first announces each from one rack (`10.70.0.0/16`,
 * mapped to `rack`), with overlapping host sets, all in flight together, plus one client of
 * another rack (`outsider`, already a representative there) in every transfer. Returns the
 * problems found (empty when every promise holds).
 */
export async function threeTransfersAtOnce(
  run: BudgetRun,
  rack: string,
  outsider: TestPeer,
  clients: number,
  slots: number,
): Promise<string[]> {
  const transfers = [0, 1, 2].map(() => randomInfoHash());
  const hexes = transfers.map(hexOf);
  for (const hex of hexes) await run.activate(hex);
  for (const infoHash of transfers) await run.announce(0, infoHash, outsider);
  const host = (i: number) => peer(`10.70.${1 + (i >> 8)}.${i & 255}`);
  // Transfer k's clients are hosts 150k .. 150k + clients - 1: each pair of transfers shares
  // hosts. Interleaved, so the transfers' announces race each other on every replica.
  const calls = Array.from({ length: clients }, (_, i) =>
    transfers.map((infoHash, k) => ({ infoHash, k, client: host(150 * k + i) })),
  ).flat();
  const replies = await Promise.all(calls.map((c, i) => run.announce(i, c.infoHash, c.client)));
  const problems: string[] = [];
  const failures = replies.filter((r) => r["failure reason"] !== undefined).length;
  if (failures > 0) problems.push(`${failures} announces failed`);
  problems.push(...(await budgetViolations(run.redis, [rack], hexes, slots)));
  const now = Math.floor(Date.now() / 1000);
  const leases = await liveLeases(run.redis, rack, now);
  if (leases.length !== slots) problems.push(`${leases.length} of ${slots} slots taken`);
  for (const [k, hex] of hexes.entries()) {
    const reps = await liveRepresentatives(run.redis, hex, rack, now);
    const told = replies.filter(
      (r, i) => calls[i]!.k === k && peersOf(r).some((p) => p.startsWith(`${outsider.ip}:`)),
    ).length;
    if (told !== reps.length)
      problems.push(`${hex}: ${told} clients got the other rack, ${reps.length} representatives`);
    const hostIndex = (ip: string) => Number(ip.split(".")[3]) + 256 * (Number(ip.split(".")[2]) - 1);
    const holdersInIt = leases.filter(
      (l) => hostIndex(l.host) >= 150 * k && hostIndex(l.host) < 150 * k + clients,
    ).length;
    if (reps.length !== holdersInIt) {
      problems.push(`${hex}: ${reps.length} representatives, ${holdersInIt} slot holders take part in it`);
    }
    const waiting = await run.redis.hGet(rackBudgetKeys(rack).waiting, hex);
    if (reps.length === 0 && waiting == null) problems.push(`${hex}: no representative and not waiting`);
    if (reps.length > 0 && waiting != null) problems.push(`${hex}: has a representative yet waits`);
  }
  return problems;
}
