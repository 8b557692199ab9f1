import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createApp, withHealth } from "./http/app.js";
import { drainable, type DrainableServer } from "./http/drain.js";
import {
  applyServerLimits,
  serverOptions,
  withHeaderCountLimit,
  type HttpLimits,
  type RefusalCounter,
} from "./http/serverLimits.js";
import type { Config } from "./config/config.js";
import { startEmbeddedRedis } from "./store/embeddedRedis.js";
import { superviseRedis, type SupervisedRedis } from "./store/redisSupervisor.js";
import { log } from "./log.js";
import { RackChain, type ChainLink, type RackCacheStore } from "./racks/chain.js";
import { batchedWhileBusy } from "./store/batching.js";
import { withDeadlines } from "./store/deadline.js";
import { wrapMethods } from "./store/methods.js";
import { httpResolver } from "./racks/http.js";
import { moduleResolver } from "./racks/module.js";
import { StaticRackMap } from "./racks/static.js";
import { subnetResolver } from "./racks/subnet.js";
import { loadScripts } from "./store/redis.js";
import { connectStore, storeMasters } from "./store/connect.js";
import { Readiness } from "./observe/health.js";
import { migrateLegacyKeys } from "./store/migrate.js";
import { createApi } from "./http/api/routes.js";
import { loadAdminToken, requireToken } from "./http/api/auth.js";
import { parseListenAddress } from "./config/config.js";
import { startSweeper } from "./store/sweeper.js";
import { createTracker, type TrackerStore } from "./tracker.js";
import { createHttpTracker } from "./http/trackerQueries.js";
import { startUdp } from "./udp/server.js";
import { udpSecret } from "./store/udpSecret.js";
import { TrackerMetrics } from "./observe/metrics.js";
import { GLOBAL_KEYS } from "./store/keys.js";
import { packageVersion } from "./wire/torrentMake.js";

/** How long a starting tracker waits for a configured Redis before it exits with an error. */
const FIRST_CONNECT_MS = 10_000;

/** The Redis calls the tracker and its rack cache make, each under a deadline. */
const STORE_METHODS = ["announce", "lease", "seen", "sAdd", "zAdd", "zRange", "hmGet", "get", "set"] as const;

/** A running tracker: its HTTP port and how to stop everything it started. */
export interface RunningTracker {
  readonly port: number;
  /** The UDP front end's port (BEP 15), when UDP_PORT turns it on. */
  readonly udpPort: number | undefined;
  /** The API's port: the announce port unless API_LISTEN moves it. */
  readonly apiPort: number;
  /** What /readyz reports; draining starts here. */
  readonly readiness: Readiness;
  /**
   * Graceful shutdown: /readyz turns 503 at once, requests are still served for
   * DRAIN_DELAY_MS (so the load balancer sees it and stops sending), then close() with
   * SHUTDOWN_TIMEOUT_MS for requests in flight.
   */
  drain(): Promise<void>;
  /** Stops at once: open requests get SHUTDOWN_TIMEOUT_MS, then Redis is closed. */
  close(): Promise<void>;
  /** Settles when the tracker cannot go on (its own redis-server keeps dying): exit non-zero. */
  readonly failed: Promise<Error>;
  /** For an exit that cannot wait: signals the embedded redis-server, which would outlive us. */
  abort(): void;
}

async function buildRackChain(config: Config, store: RackCacheStore, metrics: TrackerMetrics) {
  const links: ChainLink[] = [];
  const stops: Array<() => void> = [];
  for (const name of config.RACK_RESOLVERS) {
    if (name === "static" && config.RACK_MAP !== undefined) {
      const map = new StaticRackMap(config.RACK_MAP);
      map.follow();
      stops.push(() => map.stop());
      links.push({ name, resolve: map.resolve, external: false });
    } else if (name === "http" && config.SMDB_URL !== undefined) {
      links.push({ name, resolve: httpResolver(config.SMDB_URL, config.SMDB_TIMEOUT_MS), external: true });
    } else if (name === "module" && config.RACK_MODULE !== undefined) {
      links.push({ name, resolve: await moduleResolver(config.RACK_MODULE), external: true });
    }
  }
  const chain = new RackChain(
    links,
    subnetResolver(config.SUBNET_PREFIX_V4, config.SUBNET_PREFIX_V6),
    store,
    config.RACK_CACHE_TTL,
    config.RACK_AWARE,
    metrics.countLookup,
  );
  return { chain, stop: () => stops.forEach((stop) => stop()) };
}

/** Starts Redis (when embedded), loads the scripts, and serves HTTP (and UDP with UDP_PORT) until close(). */
export async function startTracker(config: Config): Promise<RunningTracker> {
  log.debugEnabled = config.DEBUG;
  const metrics = new TrackerMetrics(packageVersion());
  let embedded: SupervisedRedis | undefined;
  if (config.EMBEDDED_REDIS) {
    const start = () => startEmbeddedRedis(config.REDISPORT, config.DATA_DIR);
    embedded = superviseRedis(await start(), start);
  }
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    const connection = await connectStore(config, {
      firstConnectMs: FIRST_CONNECT_MS,
      perCommandTimeout: false,
      events: metrics.redisEvents,
    });
    const redis = connection.redis;
    cleanups.push(() => connection.close());
    const readiness = new Readiness({ redisReady: () => connection.isReady() });
    for (const master of await storeMasters(connection)) await loadScripts(master);
    readiness.scriptsLoaded();
    await migrateLegacyKeys(redis);
    const client = redis as unknown as TrackerStore & RackCacheStore;
    // Announces go to Redis in batches while it is busy (see batching.ts); the rest at once.
    const calls = {
      ...wrapMethods(client, STORE_METHODS),
      ...batchedWhileBusy(client, ["announce", "lease"], metrics.countBatch),
    };
    const store = withDeadlines(calls, config.REDIS_TIMEOUT_MS, STORE_METHODS, metrics.countRedisFailure);
    const racks = await buildRackChain(config, store, metrics);
    cleanups.push(racks.stop);
    const tracker = createTracker({ config, redis: store, racks: racks.chain, metrics });
    const stopSweeper = startSweeper(redis as never, config.PEER_TTL, config.SWEEP_INTERVAL, async () =>
      (await storeMasters(connection)).map((master) => master as never),
    );
    cleanups.push(stopSweeper);
    // The API reads large replies (peer lists): its own connection keeps them from
    // queueing ahead of announces, and gives every call the plain command timeout.
    const apiConnection = await connectStore(config);
    const apiRedis = apiConnection.redis;
    cleanups.push(() => apiConnection.close());
    const token = loadAdminToken(config);
    const api = createApi({ config, redis: apiRedis, racks: racks.chain, token });
    metrics.observeState(
      () => readiness.problems().length === 0,
      async () => Number(await apiRedis.zCard(GLOBAL_KEYS.activeTransfers)),
    );
    // /metrics goes with the API (its listener with API_LISTEN); the token only if asked for.
    const observe = { metrics, logRequests: config.LOG_REQUESTS };
    const withMetrics = {
      ...observe,
      serveMetrics: { guard: config.METRICS_NEED_TOKEN ? requireToken(token) : undefined },
    };
    const apiAddress = config.API_LISTEN === undefined ? undefined : parseListenAddress(config.API_LISTEN)!;
    const servers: DrainableServer[] = [];
    cleanups.push(async () => {
      const forced = await Promise.all(servers.map((s) => s.close(config.SHUTDOWN_TIMEOUT_MS)));
      if (forced.includes(true)) log.warn(`requests still open after ${config.SHUTDOWN_TIMEOUT_MS} ms were cut`);
    });
    const server = await listen(
      createApp(
        createHttpTracker(tracker, config),
        apiAddress ? "elsewhere" : api,
        readiness,
        apiAddress ? observe : withMetrics,
      ).fetch,
      config.HOST,
      config.PORT,
      config,
      metrics.countRefused,
    );
    servers.push(drainable(server));
    const port = (server.address() as AddressInfo).port;
    let apiPort = port;
    if (apiAddress) {
      const apiServer = await listen(
        withHealth(api, readiness, withMetrics).fetch,
        apiAddress.host,
        apiAddress.port,
        config,
        metrics.countRefused,
      );
      servers.push(drainable(apiServer));
      apiPort = (apiServer.address() as AddressInfo).port;
      log.info(`p2ptracker API on http://${config.API_LISTEN}/api/v1`);
    }
    log.info(`p2ptracker listening on http://${config.HOST}:${port}/announce (redis ${connection.describe})`);
    let udpPort: number | undefined;
    if (config.UDP_PORT !== undefined) {
      const secret = await udpSecret(redis as never, config.UDP_SECRET);
      // The same announce path over a store whose script calls linger for UDP_LINGER_MS: a
      // datagram comes alone, and a Redis write and a wake-up per announce would cost more
      // than the announce (see the README's Performance section).
      const udpStore = withDeadlines(
        {
          ...wrapMethods(client, STORE_METHODS),
          ...batchedWhileBusy(client, ["announce", "lease"], metrics.countBatch, config.UDP_LINGER_MS),
        },
        config.REDIS_TIMEOUT_MS,
        STORE_METHODS,
        metrics.countRedisFailure,
      );
      const udpTracker = createTracker({ config, redis: udpStore, racks: racks.chain, metrics });
      const udp = await startUdp({ tracker: udpTracker, config, metrics, secret }, udpHosts(config), config.UDP_PORT);
      // Closed before Redis (cleanups run last first): answers in flight still reach their clients.
      cleanups.push(() => udp.close(config.SHUTDOWN_TIMEOUT_MS));
      udpPort = udp.port;
    }
    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        for (const cleanup of cleanups.reverse()) await cleanup();
        await embedded?.stop();
      })());
    return {
      port,
      udpPort,
      apiPort,
      readiness,
      async drain() {
        readiness.startDraining();
        for (const s of servers) s.startDraining();
        log.info(`draining: /readyz answers 503, requests are served for ${config.DRAIN_DELAY_MS} ms more`);
        await new Promise((done) => setTimeout(done, config.DRAIN_DELAY_MS));
        log.info(`closing: no new connections, up to ${config.SHUTDOWN_TIMEOUT_MS} ms for requests in flight`);
        await close();
      },
      close,
      abort() {
        const pid = embedded?.pid();
        if (pid !== undefined) process.kill(pid, "SIGTERM");
      },
      failed: embedded?.failed ?? new Promise<Error>(() => undefined),
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await embedded?.stop();
    throw error;
  }
}

/** Where the UDP front end listens: UDP_HOSTS, or the HTTP server's HOST when that is unset. */
function udpHosts(config: Config): string[] {
  return config.UDP_HOSTS.length > 0 ? config.UDP_HOSTS : [config.HOST];
}

function listen(
  fetch: Parameters<typeof serve>[0]["fetch"],
  hostname: string,
  port: number,
  limits: HttpLimits,
  refused: RefusalCounter,
): Promise<Server> {
  return new Promise((done, fail) => {
    const options = {
      fetch: withHeaderCountLimit(fetch, limits, refused),
      hostname,
      port,
      serverOptions: serverOptions(limits),
    };
    const server = serve(options, () => done(server as Server));
    server.once("error", fail);
    applyServerLimits(server as Server, limits, refused);
  });
}
