/**
 * Keeps the embedded redis-server running. When it dies (crash, OOM killer, kill -9) it is
 * started again in the same data dir, so it replays its AOF, after a backoff that grows
 * while it keeps dying soon after each start. Past a few such quick deaths it gives up:
 * the tracker exits non-zero so that its own supervisor (systemd, Kubernetes) can act,
 * instead of answering "storage unavailable" for ever.
 */

import { log } from "../log.js";
import type { EmbeddedRedis } from "./embeddedRedis.js";

/** How the supervisor restarts and when it gives up. */
export interface SupervisorOptions {
  /** A server that lived less than this before it died counts as a quick death. */
  readonly quickMs: number;
  /** Quick deaths in a row, restarts that failed included, before giving up. */
  readonly maxQuickDeaths: number;
  /** First restart delay; doubled after each quick death, up to maxDelayMs. */
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
}

export const SUPERVISOR_DEFAULTS: SupervisorOptions = {
  quickMs: 30_000,
  maxQuickDeaths: 5,
  firstDelayMs: 250,
  maxDelayMs: 8_000,
};

/** A supervised redis-server: stop() ends supervision and the server; `failed` settles when it gave up. */
export interface SupervisedRedis {
  /** Resolves with the reason once restarting has been given up (never otherwise). */
  readonly failed: Promise<Error>;
  /** PID of the redis-server running now, if one is. */
  pid(): number | undefined;
  stop(): Promise<void>;
}

/** Watches `first`; starts a replacement with `start` whenever the running server exits. */
export function superviseRedis(
  first: EmbeddedRedis,
  start: () => Promise<EmbeddedRedis>,
  options: SupervisorOptions = SUPERVISOR_DEFAULTS,
): SupervisedRedis {
  let current: EmbeddedRedis | undefined = first;
  let stopping = false;
  let quickDeaths = 0;
  let timer: NodeJS.Timeout | undefined;
  let starting: Promise<unknown> | undefined;
  let giveUp!: (error: Error) => void;
  const failed = new Promise<Error>((done) => (giveUp = done));

  const watch = (server: EmbeddedRedis) => {
    const startedAt = Date.now();
    const exited = (code: number | null, signal: NodeJS.Signals | null) => {
      if (stopping || server !== current) return;
      current = undefined;
      quickDeaths = Date.now() - startedAt < options.quickMs ? quickDeaths + 1 : 1;
      const how = signal === null ? `with status ${code}` : `on ${signal}`;
      died(`redis-server (pid ${server.process.pid}) exited ${how}`);
    };
    const child = server.process;
    // It may have died already, between accepting connections and being watched.
    if (child.exitCode !== null || child.signalCode !== null) exited(child.exitCode, child.signalCode);
    else child.once("exit", exited);
  };

  const died = (what: string) => {
    if (quickDeaths > options.maxQuickDeaths) {
      const error = new Error(`${what}; gave up after ${options.maxQuickDeaths} restarts in a row that did not last`);
      log.error(error.message);
      giveUp(error);
      return;
    }
    const delay = Math.min(options.firstDelayMs * 2 ** (quickDeaths - 1), options.maxDelayMs);
    log.warn(`${what}; restarting it in ${delay} ms, with its data dir (the AOF is replayed)`);
    timer = setTimeout(restart, delay);
  };

  const restart = () => {
    timer = undefined;
    if (stopping) return;
    starting = start().then(
      async (server) => {
        if (stopping) return server.stop();
        current = server;
        watch(server);
        log.info(`redis-server restarted (pid ${server.process.pid})`);
      },
      (error: Error) => {
        quickDeaths++;
        died(`redis-server did not start again: ${error.message}`);
      },
    );
  };

  watch(first);
  return {
    failed,
    pid: () => current?.process.pid,
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await starting;
      await current?.stop();
    },
  };
}
