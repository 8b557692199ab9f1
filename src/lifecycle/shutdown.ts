/**
 * What SIGTERM and SIGINT do to a serving tracker. The first one drains (RunningTracker.drain:
 * readiness 503, requests served for DRAIN_DELAY_MS, then in-flight requests finish) and
 * exits 0; a second one exits at once with 128 + the signal's number, as a shell reports a
 * process killed by that signal, so a supervisor can tell a cut-short shutdown from a clean one.
 */
import { constants } from "node:os";
import { log } from "../log.js";

/** The part of a running tracker a shutdown needs. */
export interface Stoppable {
  drain(): Promise<void>;
  close(): Promise<void>;
  abort(): void;
  /** Settles when the tracker cannot go on (its own redis-server keeps dying). */
  readonly failed: Promise<Error>;
}

const SIGNALS = ["SIGTERM", "SIGINT"] as const;

/** Installs the handlers; `exit` is process.exit but for tests. */
export function shutdownOnSignals(tracker: Stoppable, exit: (code: number) => void = process.exit): void {
  let draining = false;
  const onSignal = (signal: (typeof SIGNALS)[number]) => {
    if (draining) {
      log.warn(`${signal} again: exiting now, without waiting for requests in flight`);
      tracker.abort();
      exit(128 + constants.signals[signal]);
      return;
    }
    draining = true;
    log.info(`${signal}: stopping, after a drain; signal again to exit at once`);
    tracker.drain().then(
      () => {
        log.info("stopped");
        exit(0);
      },
      (error: unknown) => {
        log.error(`shutdown: ${(error as Error).message}`);
        tracker.abort();
        exit(1);
      },
    );
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  // Exit non-zero, so that a supervisor restarts the tracker and the Redis it runs.
  void tracker.failed.then(async (error) => {
    if (draining) return;
    draining = true;
    log.error(`${error.message}: stopping`);
    await tracker.close().catch(() => undefined);
    exit(1);
  });
}
