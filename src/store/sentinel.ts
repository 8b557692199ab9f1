/**
 * Redis behind Sentinel: the sentinels name the primary, node-redis follows them through a
 * failover. While no primary is known the client waits for the sentinels rather than
 * failing; the tracker's own deadlines (deadline.ts) turn that wait into a fast failure.
 */

import { ClientOfflineError, createSentinel, RESP_TYPES, TimeoutError } from "redis";
import { SCRIPTS } from "./scripts.js";
import type { RedisEvents, TrackerRedis } from "./redis.js";
import { log } from "../log.js";

/** Where the sentinels are and what to ask them for. */
export interface SentinelOptions {
  readonly sentinels: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  /** The name the sentinels monitor the primary as (`sentinel monitor <name> ...`). */
  readonly name: string;
  readonly commandTimeoutMs: number;
  /** How long the first connection may take (default 0: one round of the sentinels). */
  readonly firstConnectMs?: number;
  /** False when the caller puts its own deadline on every call (default true). */
  readonly perCommandTimeout?: boolean;
  /** What the connection tells about itself (metrics). */
  readonly events?: RedisEvents;
}

/** Peer lists are raw bytes: string replies come back as Buffers. */
const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer };

/** How often the primary is pinged for readiness: a lost primary shows within this. */
const PROBE_MS = 1000;

/** A sentinel-backed connection, with the same client surface as a direct one. */
export interface SentinelConnection {
  readonly redis: TrackerRedis;
  readonly describe: string;
  /** True while the sentinels name a primary and it answers. */
  isReady(): boolean;
  close(): Promise<void>;
}

/** Connects through the sentinels; rejects when no primary is reachable within `firstConnectMs`. */
export async function connectSentinel(options: SentinelOptions): Promise<SentinelConnection> {
  const describe = `sentinel ${options.name} via ${options.sentinels.map(formatNode).join(",")}`;
  const reconnect = (retries: number) => Math.min(50 * 2 ** retries, 1000);
  const timeout = options.perCommandTimeout === false ? 0 : options.commandTimeoutMs;
  const sentinel = createSentinel({
    name: options.name,
    sentinelRootNodes: options.sentinels.map((node) => ({ host: node.host, port: node.port })),
    scripts: SCRIPTS,
    commandOptions: { timeout },
    // Pub/sub from one sentinel announces a failover; the scan is the backstop if it is lost.
    scanInterval: 5000,
    passthroughClientErrorEvents: true,
    nodeClientOptions: {
      disableOfflineQueue: true,
      socket: { connectTimeout: options.commandTimeoutMs, reconnectStrategy: reconnect },
      // The sentinel's MULTI leaves out its own type mapping (node-redis 6.3), so the node
      // clients carry it: transactions (the API's views) get Buffers like every other call.
      ...({ commandOptions: { typeMapping: BUFFERS, timeout } } as object),
    },
    sentinelClientOptions: { socket: { connectTimeout: options.commandTimeoutMs } },
  });

  let down = false;
  let primaryAnswers = true;
  let lastError = "";
  const warn = (message: string) => {
    lastError = message;
    if (!down) log.warn(`redis ${describe}: ${message}`);
    down = true;
  };
  sentinel.on("error", (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    // With passthroughClientErrorEvents the node clients' errors arrive here, named.
    if (message.startsWith("Master Client")) primaryAnswers = false;
    warn(message);
  });
  sentinel.on("topology-change", (event: { type: string; node?: { host: string; port: number } }) => {
    if (event.type === "MASTER_CHANGE" && event.node)
      log.info(`redis ${describe}: primary is ${formatNode(event.node)}`);
  });
  try {
    const ms = Math.max(options.firstConnectMs ?? 0, options.commandTimeoutMs * 3);
    await withDeadline(sentinel.connect(), ms, () => new Error(`no answer within ${ms} ms`));
  } catch (error) {
    await sentinel.destroy().catch(() => undefined);
    // The sentinels' own answer (say, no primary by that name) says more than the timeout.
    const why = lastError === "" ? (error as Error).message : lastError;
    throw new Error(`cannot reach a Redis primary through ${describe}: ${why}`);
  }

  // The sentinel object stays "ready" while its primary is down and not yet replaced, so
  // readiness also needs the primary to answer. A ping left waiting (for the sentinels to
  // name a new primary) is not repeated: its answer is the news that the primary is back.
  let probing = false;
  const check = () => {
    if (probing) return;
    probing = true;
    const late = setTimeout(() => (primaryAnswers = false), options.commandTimeoutMs);
    // No answer in time marks the primary down (one that hangs keeps its connection
    // open). The ping is left to finish: its answer, perhaps from a new primary, marks
    // it up again.
    sentinel
      .ping()
      .then(
        () => {
          if (down) {
            log.info(`redis ${describe}: primary ${formatNode(sentinel.getMasterNode()!)} answers again`);
            options.events?.reconnected?.();
          }
          down = false;
          primaryAnswers = true;
        },
        () => (primaryAnswers = false),
      )
      .finally(() => {
        clearTimeout(late);
        probing = false;
      });
  };
  const probe = setInterval(check, PROBE_MS);
  probe.unref();
  // A new primary is worth checking at once, not at the next tick.
  sentinel.on("topology-change", (event: { type: string }) => {
    if (event.type === "MASTER_CHANGE") check();
  });

  const redis = failFastWhile(sentinel.withTypeMapping(BUFFERS), () => !primaryAnswers, timeout);
  return {
    redis: redis as unknown as TrackerRedis,
    describe,
    isReady: () => sentinel.isReady && primaryAnswers,
    async close() {
      clearInterval(probe);
      await sentinel.destroy().catch(() => undefined);
    },
  };
}

/**
 * The client, with every call failing at once while `down()` holds, as a direct client's
 * calls do while it is disconnected. Otherwise node-redis holds each call until the
 * sentinels name a primary, which takes their `down-after-milliseconds` and more: the
 * announce deadline would answer in time, but calls would pile up and the API would hang.
 * With `deadlineMs` every call, transactions included, also fails after that long: a
 * transaction sent to a primary that hangs has no timeout of its own (node-redis 6.3).
 * Every function of the client is a command here, except `multi`, which builds.
 */
function failFastWhile<T extends object>(client: T, down: () => boolean, deadlineMs: number): T {
  const offline = () => Promise.reject(new ClientOfflineError());
  const inTime = (result: unknown) =>
    deadlineMs > 0 && result instanceof Promise ? withDeadline(result, deadlineMs) : result;
  const offlineMulti = (): unknown => {
    const builder: object = new Proxy(
      {},
      {
        get: (_, property) =>
          property === "then" ? undefined : String(property).startsWith("exec") ? offline : () => builder,
      },
    );
    return builder;
  };
  // The builder as it is, but its chained calls stay on this wrapper and exec is timed.
  const timedMulti = (builder: object): object => {
    const wrapper: object = new Proxy(builder, {
      get(target, property) {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          return result === target ? wrapper : inTime(result);
        };
      },
    });
    return wrapper;
  };
  return new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== "function") return value;
      const call = (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args);
      if (property === "multi" || property === "MULTI")
        return (...args: unknown[]) => (down() ? offlineMulti() : timedMulti(call(...args) as object));
      return (...args: unknown[]) => (down() ? offline() : inTime(call(...args)));
    },
  });
}

/** `promise`, or `error` (a TimeoutError, a storage error, by default) once `ms` have passed. */
function withDeadline<T>(promise: Promise<T>, ms: number, error: () => Error = () => new TimeoutError()): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(error()), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function formatNode(node: { host: string; port: number }): string {
  return node.host.includes(":") ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
}
