import { redisUrl, type Config } from "../config/config.js";
import { connectRedis, type RedisEvents, type TrackerRedis } from "./redis.js";

/** How a caller wants its connection to the configured Redis. */
export interface StoreConnectOptions {
  /** How long the first connection may take (default 0: the first attempt must succeed). */
  readonly firstConnectMs?: number;
  /** False when the caller puts its own deadline on every call (default true). */
  readonly perCommandTimeout?: boolean;
  /** What the connection tells about itself (metrics). */
  readonly events?: RedisEvents;
}

/** A connection to the configured Redis, and how to tell whether it is up right now. */
export interface StoreConnection {
  readonly redis: TrackerRedis;
  /** Where it points, for logs. */
  readonly describe: string;
  isReady(): boolean;
  close(): Promise<void>;
}

/** Connects to the Redis the configuration names (one server today). */
export async function connectStore(config: Config, options: StoreConnectOptions = {}): Promise<StoreConnection> {
  const url = redisUrl(config);
  const redis = await connectRedis({ url, commandTimeoutMs: config.REDIS_TIMEOUT_MS, ...options });
  return {
    redis,
    describe: url,
    isReady: () => redis.isReady,
    close: () => redis.close().catch(() => undefined),
  };
}
