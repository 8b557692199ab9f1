import { randomBytes } from "node:crypto";
import { GLOBAL_KEYS } from "./keys.js";

/** The two calls the secret needs. */
export interface SecretStore {
  set(key: string, value: string, options: { NX: true }): Promise<unknown>;
  get(key: string): Promise<unknown>;
}

/**
 * The secret UDP connection ids are signed with, the same in every replica: UDP_SECRET
 * when set; otherwise the one in Redis, which the first replica to start creates (SET NX,
 * so replicas starting together agree) and every later one reads. It never expires:
 * deleting the key changes it at the next start of each replica, and until every replica
 * has restarted they refuse each other's ids (clients then connect again).
 */
export async function udpSecret(store: SecretStore, configured: string | undefined): Promise<Buffer> {
  if (configured !== undefined) return Buffer.from(configured, "utf8");
  await store.set(GLOBAL_KEYS.udpSecret, randomBytes(32).toString("hex"), { NX: true });
  const stored = await store.get(GLOBAL_KEYS.udpSecret);
  const text = Buffer.isBuffer(stored) ? stored.toString() : typeof stored === "string" ? stored : "";
  if (text.length < 32)
    throw new Error(`Redis key ${GLOBAL_KEYS.udpSecret} holds no usable secret: delete it to make a new one`);
  return Buffer.from(text, "utf8");
}
