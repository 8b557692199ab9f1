import { redisUrl, type Config } from "../config/config.js";
import { connectCluster } from "./cluster.js";
import { connectRedis, type RedisEvents, type TrackerRedis } from "./redis.js";
import { connectSentinel } from "./sentinel.js";

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
  /** A client of every master when the keys are spread over several (a cluster). */
  masters?(): Promise<TrackerRedis[]>;
  close(): Promise<void>;
}

/** Every master of the store: the one server, or each master of a cluster. */
export function storeMasters(connection: StoreConnection): Promise<TrackerRedis[]> {
  return connection.masters?.() ?? Promise.resolve([connection.redis]);
}

/** Connects to the Redis the configuration names: one server, a cluster, or the primary the sentinels name. */
export async function connectStore(config: Config, options: StoreConnectOptions = {}): Promise<StoreConnection> {
  if (config.REDIS_CLUSTER !== undefined) {
    return connectCluster({ seeds: config.REDIS_CLUSTER, commandTimeoutMs: config.REDIS_TIMEOUT_MS, ...options });
  }
  if (config.REDIS_SENTINELS !== undefined) {
    return connectSentinel({
      sentinels: config.REDIS_SENTINELS,
      name: config.REDIS_SENTINEL_NAME,
      commandTimeoutMs: config.REDIS_TIMEOUT_MS,
      ...options,
    });
  }
  const url = redisUrl(config);
  const redis = await connectRedis({ url, commandTimeoutMs: config.REDIS_TIMEOUT_MS, ...options });
  return {
    redis,
    describe: url,
    isReady: () => redis.isReady,
    close: () => redis.close().catch(() => undefined),
  };
}
