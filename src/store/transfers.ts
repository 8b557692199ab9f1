/**
 * Registering and archiving transfers. Each runs one script on the transfer's own keys
 * (its cluster slot); the global indexes (transfers:active, transfers:archived,
 * transfers:seen) follow outside the script, since no script may touch two slots.
 */

import { ARCHIVE_KEY_PREFIX, GLOBAL_KEYS, transferKeys } from "./keys.js";
import {
  runArchive,
  runRegister,
  type ArchiveResult,
  type Registration,
  type RegisterStatus,
  type ScriptRunner,
} from "./scripts.js";

/** The part of a Redis client registration touches besides its scripts. */
export interface TransferStore extends ScriptRunner {
  hGet(key: string, field: string): Promise<unknown>;
  zAdd(key: string, members: { score: number; value: string }): Promise<unknown>;
  zRem(key: string, members: string | string[]): Promise<unknown>;
  zRemRangeByScore(key: string, min: number | string, max: number | string): Promise<unknown>;
}

/** Registers a transfer (and stores its .torrent when given); see runRegister for the verdicts. */
export async function registerTransfer(
  redis: TransferStore,
  infoHashHex: string,
  registration: Registration = {},
): Promise<{ status: RegisterStatus; registered: number }> {
  const result = await runRegister(redis, transferKeys(infoHashHex), registration);
  if (result.status !== "conflict") {
    await redis.zAdd(GLOBAL_KEYS.activeTransfers, { score: result.registered, value: infoHashHex });
    await redis.zRem(GLOBAL_KEYS.seenTransfers, infoHashHex);
    await settleActiveIndex(redis, infoHashHex);
  }
  return result;
}

/**
 * Makes transfers:active agree with the transfer's own state once more. A register and an
 * archive of one hash on two replicas each run their script, then their index update;
 * the updates can land in the other order (an archived hash listed, a live one missing,
 * so never swept). Whichever update lands last reads the state after both scripts ran
 * and settles the index to it.
 */
async function settleActiveIndex(redis: TransferStore, infoHashHex: string): Promise<void> {
  const info = transferKeys(infoHashHex).info;
  if (String((await redis.hGet(info, "active")) ?? "") === "1") {
    const registered = Number(await redis.hGet(info, "registered")) || 0;
    await redis.zAdd(GLOBAL_KEYS.activeTransfers, { score: registered, value: infoHashHex });
  } else {
    await redis.zRem(GLOBAL_KEYS.activeTransfers, infoHashHex);
  }
}

/** Registers a transfer by name and length only; true when it was not active before. */
export async function activateTransfer(
  redis: TransferStore,
  infoHashHex: string,
  name = "",
  length = "",
): Promise<boolean> {
  return (await registerTransfer(redis, infoHashHex, { name, length })).status === "registered";
}

/** The member of transfers:archived that names one archive. */
export function archiveMember(stamp: string, infoHashHex: string): string {
  return `${stamp}:${infoHashHex}`;
}

/**
 * Archives a transfer: it stops getting peers, its keys move behind archive:<UTC time>:
 * and expire after `ttlSeconds`; the archive index forgets archives that have expired.
 */
export async function archiveTransfer(
  redis: TransferStore,
  infoHashHex: string,
  ttlSeconds: number,
): Promise<ArchiveResult> {
  const result = await runArchive(redis, transferKeys(infoHashHex), ARCHIVE_KEY_PREFIX, ttlSeconds);
  if (result.status === "archived") {
    const member = archiveMember(result.stamp, infoHashHex);
    await redis.zRem(GLOBAL_KEYS.activeTransfers, infoHashHex);
    await redis.zAdd(GLOBAL_KEYS.archivedTransfers, { score: result.deregistered, value: member });
    await settleActiveIndex(redis, infoHashHex);
    await forgetExpiredArchives(redis, ttlSeconds);
  } else if (result.status === "unknown") {
    // An index entry left by a registration whose script ran but whose index update did not.
    await redis.zRem(GLOBAL_KEYS.activeTransfers, infoHashHex);
  }
  return result;
}

/** Drops index entries of archives older than the archive TTL (their keys have expired). */
export async function forgetExpiredArchives(redis: Pick<TransferStore, "zRemRangeByScore">, ttlSeconds: number) {
  await redis.zRemRangeByScore(GLOBAL_KEYS.archivedTransfers, "-inf", Math.floor(Date.now() / 1000) - ttlSeconds);
}
