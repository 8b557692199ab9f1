/**
 * Keeps the index transfers:active whole. Scripts touch one transfer's slot only, so the
 * index is written after the script, by the replica that ran it; a replica that dies in
 * between (or a Redis that fails over in between) leaves an active transfer out of the
 * index, and so out of listings, full scrapes and sweeps. This walk finds every live
 * transfer by its {H}:info key on every master and puts the index right.
 */

import { GLOBAL_KEYS, transferKeys } from "./keys.js";

/** What walking one master's keys needs. */
export interface KeyWalker {
  scanIterator(options: { MATCH: string; TYPE: string; COUNT: number }): AsyncIterable<unknown[]>;
}

/** The calls the reconciliation makes through the (cluster) client. */
export interface IndexStore {
  hmGet(key: string, fields: string[]): Promise<unknown>;
  zRange(key: string, start: number, stop: number): Promise<unknown>;
  zAdd(key: string, members: { score: number; value: string }, options: { NX: true }): Promise<unknown>;
  zRem(key: string, members: string): Promise<unknown>;
}

const LIVE_INFO = /^\{([0-9A-F]{40})\}:info$/;

/** Info hashes of every live (not archived) transfer on `master`, a batch at a time. */
export async function* liveTransfers(master: KeyWalker): AsyncGenerator<string[]> {
  for await (const keys of master.scanIterator({ MATCH: "{*}:info", TYPE: "hash", COUNT: 1000 })) {
    const hashes = keys.flatMap((key) => LIVE_INFO.exec(String(key))?.[1] ?? []);
    if (hashes.length > 0) yield hashes;
  }
}

async function activeSince(redis: IndexStore, infoHashHex: string): Promise<number | undefined> {
  const [active, registered] = (await redis.hmGet(transferKeys(infoHashHex).info, ["active", "registered"])) as Array<
    Buffer | string | null
  >;
  if (String(active ?? "") !== "1") return undefined;
  return Number(String(registered ?? "")) || Math.floor(Date.now() / 1000);
}

/**
 * Adds every active transfer missing from transfers:active and drops entries of transfers
 * that are not active. Reads each transfer's state through `redis` (which routes by slot),
 * so a transfer registered or archived during the walk is judged by its state at the end.
 */
export async function reconcileActiveIndex(
  redis: IndexStore,
  masters: readonly KeyWalker[],
): Promise<{ added: number; removed: number }> {
  const indexed = new Set(((await redis.zRange(GLOBAL_KEYS.activeTransfers, 0, -1)) as unknown[]).map(String));
  const seen = new Set<string>();
  let added = 0;
  for (const master of masters) {
    for await (const hashes of liveTransfers(master)) {
      await Promise.all(
        hashes.map(async (infoHashHex) => {
          const registered = await activeSince(redis, infoHashHex);
          if (registered === undefined) return;
          seen.add(infoHashHex);
          if (indexed.has(infoHashHex)) return;
          const value = { score: registered, value: infoHashHex };
          if (Number(await redis.zAdd(GLOBAL_KEYS.activeTransfers, value, { NX: true })) === 1) added++;
        }),
      );
    }
  }
  let removed = 0;
  for (const infoHashHex of indexed) {
    if (seen.has(infoHashHex) || (await activeSince(redis, infoHashHex)) !== undefined) continue;
    removed += Number(await redis.zRem(GLOBAL_KEYS.activeTransfers, infoHashHex));
  }
  return { added, removed };
}
