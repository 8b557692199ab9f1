import { log } from "../log.js";
import { GLOBAL_KEYS, LEGACY_KEYS, transferKeys } from "./keys.js";
import type { TrackerRedis } from "./redis.js";

/**
 * Moves the indexes of earlier versions to their successors, once, at startup: the set
 * active_transfers becomes the zset transfers:active (by registration time), and the
 * unbounded set transfers, which any client could grow, is dropped (transfers:seen, capped
 * at SEEN_MAX, fills again from announces).
 */
export async function migrateLegacyKeys(redis: TrackerRedis): Promise<void> {
  if ((await redis.type(LEGACY_KEYS.activeTransfers)) === "set") {
    const hashes = (await redis.sMembers(LEGACY_KEYS.activeTransfers)).map(String);
    for (const infoHashHex of hashes) {
      const registered = await redis.hGet(transferKeys(infoHashHex).info, "registered");
      const score = Number(registered ?? 0) || Math.floor(Date.now() / 1000);
      await redis.zAdd(GLOBAL_KEYS.activeTransfers, { score, value: infoHashHex }, { NX: true });
    }
    await redis.del(LEGACY_KEYS.activeTransfers);
    log.info(
      `moved ${hashes.length} active transfers from ${LEGACY_KEYS.activeTransfers} to ${GLOBAL_KEYS.activeTransfers}`,
    );
  }
  if ((await redis.type(LEGACY_KEYS.transfers)) === "set") {
    await redis.del(LEGACY_KEYS.transfers);
    log.info(`dropped the unbounded set ${LEGACY_KEYS.transfers} (now ${GLOBAL_KEYS.seenTransfers}, capped)`);
  }
}
