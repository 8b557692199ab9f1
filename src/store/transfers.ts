import { GLOBAL_KEYS, transferKeys } from "./keys.js";
import { runActivate, runDeactivate, type ScriptRunner } from "./scripts.js";

/** The part of a Redis client registration touches besides its scripts. */
export interface TransferStore extends ScriptRunner {
  sAdd(key: string, members: string | string[]): Promise<unknown>;
  sRem(key: string, members: string | string[]): Promise<unknown>;
}

/**
 * Registers a transfer. The per-transfer state goes first (in the transfer's slot, which
 * is what announces read); the global indexes follow, since no script may touch both.
 */
export async function activateTransfer(
  redis: TransferStore,
  infoHashHex: string,
  name = "",
  length = "",
): Promise<boolean> {
  const activated = await runActivate(redis, transferKeys(infoHashHex), name, length);
  await redis.sAdd(GLOBAL_KEYS.transfers, infoHashHex);
  await redis.sAdd(GLOBAL_KEYS.activeTransfers, infoHashHex);
  return activated;
}

/** Deactivates a transfer and drops its swarm; its {H}:info history stays. */
export async function deactivateTransfer(
  redis: TransferStore,
  infoHashHex: string,
): Promise<{ wasActive: boolean; peersRemoved: number }> {
  const result = await runDeactivate(redis, transferKeys(infoHashHex));
  await redis.sRem(GLOBAL_KEYS.activeTransfers, infoHashHex);
  return result;
}
