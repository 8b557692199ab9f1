import { randomUUID } from "node:crypto";
import { GLOBAL_KEYS, transferKeys } from "./keys.js";
import { log } from "../log.js";
import { runSweep, type ScriptRunner } from "./scripts.js";
import { reconcileActiveIndex, type IndexStore, type KeyWalker } from "./activeIndex.js";

/** The part of a Redis client the sweep uses besides its script. */
export interface SweepStore extends ScriptRunner, IndexStore {
  zRange(key: string, start: number, stop: number): Promise<unknown>;
  set(key: string, value: string, options: { NX: true; EX: number }): Promise<unknown>;
}

const SWEEP_BATCH = 1000;

/** The index walk (activeIndex.ts) runs once per this many sweep intervals, on one replica. */
export const RECONCILE_EVERY_SWEEPS = 10;

/** Sweeps every active transfer once; returns the number of peers dropped. */
export async function sweepAll(redis: SweepStore, peerTtl: number): Promise<number> {
  const hashes = ((await redis.zRange(GLOBAL_KEYS.activeTransfers, 0, -1)) as Array<Buffer | string>).map(String);
  let total = 0;
  for (const infoHashHex of hashes) {
    const keys = transferKeys(infoHashHex);
    for (;;) {
      const { removed, more } = await runSweep(redis, keys, peerTtl, SWEEP_BATCH);
      total += removed;
      if (!more) break;
    }
  }
  return total;
}

/**
 * Runs sweepAll every `intervalSeconds`. Replicas share a lease key so one of them sweeps
 * per interval; the lease expires by itself if that replica dies. Given `masters`, the
 * sweeping replica also walks every master to mend transfers:active whenever the key
 * reconcile:lease is absent, and sets it for RECONCILE_EVERY_SWEEPS intervals: so the
 * first sweep walks, then one sweep in that many.
 */
export function startSweeper(
  redis: SweepStore,
  peerTtl: number,
  intervalSeconds: number,
  masters?: () => Promise<KeyWalker[]>,
): () => void {
  const owner = randomUUID();
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      const leased = await redis.set(GLOBAL_KEYS.sweepLease, owner, { NX: true, EX: intervalSeconds });
      if (leased !== null) {
        const removed = await sweepAll(redis, peerTtl);
        if (removed > 0) log.info(`sweep: dropped ${removed} peers not seen for ${peerTtl}s`);
        if (masters) await reconcile(redis, owner, intervalSeconds * RECONCILE_EVERY_SWEEPS, masters);
      }
    } catch (error) {
      log.warn(`sweep: ${(error as Error).message}`);
    } finally {
      running = false;
    }
  }, intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

async function reconcile(redis: SweepStore, owner: string, everySeconds: number, masters: () => Promise<KeyWalker[]>) {
  if ((await redis.set(GLOBAL_KEYS.reconcileLease, owner, { NX: true, EX: everySeconds })) === null) return;
  const { added, removed } = await reconcileActiveIndex(redis, await masters());
  if (added + removed > 0) {
    log.warn(`${GLOBAL_KEYS.activeTransfers}: added ${added} active transfers it missed, dropped ${removed} inactive`);
  }
}
