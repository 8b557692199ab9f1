/**
 * The store on a Redis Cluster. Every per-transfer key carries the hash tag {INFOHASH}, so
 * each script call touches one slot and node-redis routes it to that slot's master by its
 * first key; the global indexes are plain keys, one master each, written outside the
 * scripts. node-redis refreshes its slot map only on MOVED/ASK and when a node it knew
 * keeps failing to reconnect (node-redis issue #2806): a failed-over or removed master
 * that never answers again would strand its slots, so the map is also refreshed on a timer.
 */

import { createCluster, RESP_TYPES } from "redis";
import { log } from "../log.js";
import { SCRIPTS } from "./scripts.js";
import type { RedisEvents, TrackerRedis } from "./redis.js";

/** host and port of one seed node. */
export interface ClusterSeed {
  readonly host: string;
  readonly port: number;
}

/** Options for connecting to a cluster; as for a single Redis (see RedisOptions). */
export interface ClusterOptions {
  readonly seeds: readonly ClusterSeed[];
  readonly commandTimeoutMs: number;
  readonly firstConnectMs?: number;
  readonly perCommandTimeout?: boolean;
  /** What the connection tells about itself (metrics). */
  readonly events?: RedisEvents;
}

/** How often the slot map is read again although no MOVED asked for it. */
const REFRESH_MS = 5_000;

/** After this long of a node failing to reconnect, node-redis reads the slot map again. */
const REFRESH_ON_RECONNECT_MS = 1_000;

/** MOVED/ASK hops per call: a resharding moves slots one by one, and a hop is cheap. */
const MAX_REDIRECTIONS = 32;

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;

/** Clients that are clusters, for the few reads that differ (see isCluster). */
const CLUSTERS = new WeakSet<object>();

/** Whether `redis` is a cluster client made by connectCluster. */
export function isCluster(redis: object): boolean {
  return CLUSTERS.has(redis);
}

/** A connected cluster, shaped as the store's connection (see connect.ts). */
export interface ClusterConnection {
  readonly redis: TrackerRedis;
  readonly describe: string;
  isReady(): boolean;
  /** A client of every master (for SCRIPT LOAD and walks over every key). */
  masters(): Promise<TrackerRedis[]>;
  close(): Promise<void>;
}

const seedText = (seed: ClusterSeed) =>
  seed.host.includes(":") ? `[${seed.host}]:${seed.port}` : `${seed.host}:${seed.port}`;

/**
 * Connects to a Redis Cluster through its seed nodes. As with a single Redis, commands fail
 * at once while their node is down (no offline queue), each node client reconnects for as
 * long as the cluster lives, and connecting gives up after `firstConnectMs`.
 */
export async function connectCluster(options: ClusterOptions): Promise<ClusterConnection> {
  const seeds = options.seeds.map(seedText).join(",");
  const describe = `cluster ${seeds}`;
  const started = Date.now();
  const deadline = started + (options.firstConnectMs ?? 0);
  const down = new Set<string>();
  const cluster = createCluster({
    rootNodes: options.seeds.map((seed) => ({ socket: { host: seed.host, port: seed.port } })),
    scripts: SCRIPTS,
    maxCommandRedirections: MAX_REDIRECTIONS,
    topologyRefreshOnReconnectionAttemptStrategy: REFRESH_ON_RECONNECT_MS,
    commandOptions: { timeout: options.perCommandTimeout === false ? 0 : options.commandTimeoutMs },
    defaults: {
      disableOfflineQueue: true,
      socket: {
        connectTimeout: options.commandTimeoutMs,
        // Never give up on a node that was connected once: a closed node client would stay
        // in the slot map and fail every call for its slots.
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
      },
    },
  });
  // Discovery failures come as events; the last one says why connecting failed.
  let lastError: Error | undefined;
  cluster.on("error", (error: Error) => {
    lastError = error;
    log.debug(`redis ${describe}: ${error.message}`);
  });
  cluster.on("node-error", (error: Error, node: ClusterSeed) => {
    const address = seedText(node);
    if (!down.has(address)) log.warn(`redis cluster node ${address}: ${error.message}`);
    down.add(address);
  });
  cluster.on("node-ready", (node: ClusterSeed) => {
    const address = seedText(node);
    if (!down.delete(address)) return;
    log.info(`redis cluster node ${address}: connected again`);
    options.events?.reconnected?.();
  });

  for (;;) {
    try {
      await withTimeout(cluster.connect(), Math.max(0, deadline - Date.now()) + 3 * options.commandTimeoutMs);
      break;
    } catch (error) {
      if (Date.now() >= deadline) {
        cluster.destroy();
        const cause = lastError ?? (error as Error);
        throw new Error(`cannot reach Redis Cluster at ${seeds}: ${cause.message}`);
      }
      if (cluster.isOpen) cluster.destroy();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  // The #2806 workaround: read the slot map again now and then, so slots of a master that
  // died or left move to their new owner even when no MOVED reply ever says so.
  const refresh = setInterval(() => {
    if (cluster.isOpen) cluster._slots.rediscover().catch(() => undefined);
  }, REFRESH_MS);
  refresh.unref();

  const redis = cluster.withTypeMapping(BUFFERS);
  CLUSTERS.add(redis);
  return {
    redis: redis as unknown as TrackerRedis,
    describe,
    isReady: () => cluster.isReady && cluster.masters.every((master) => master.client?.isReady === true),
    masters: async () =>
      Promise.all(
        cluster.masters.map(
          async (master) => (await cluster.nodeClient(master)).withTypeMapping(BUFFERS) as unknown as TrackerRedis,
        ),
      ),
    async close() {
      clearInterval(refresh);
      await cluster.close().catch(() => undefined);
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
