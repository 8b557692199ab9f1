/**
 * `transfer wait`: for deploy pipelines, blocks until N hosts have completed a transfer,
 * gives up when nothing moves for the stall time or at the timeout. A tracker that cannot
 * be reached is asked again (a pipeline outlives a tracker restart); that time counts
 * toward the timeout, not toward the stall.
 */

import { setTimeout as sleep } from "node:timers/promises";
import type { ApiTarget } from "./apiClient.js";
import { CommandError, EXIT } from "./errors.js";
import { formatDuration, progressLine, renderBar } from "./progressBar.js";
import { getTransfer, isTransient, type Rack, type Transfer } from "./transferApi.js";
import { formatPercent } from "./transferView.js";

/** What to wait for, and for how long. */
export interface WaitOptions {
  readonly target: ApiTarget;
  readonly infoHashHex: string;
  readonly hosts: number;
  readonly timeoutSeconds: number;
  readonly stallSeconds: number;
  readonly intervalSeconds: number;
}

/** How a wait ended, as `--json` prints it. */
export interface WaitResult {
  readonly result: "completed" | "stalled" | "timeout" | "archived";
  /** The transfer's completed counter at the end; null if the tracker never answered. */
  readonly completed: number | null;
  readonly hosts: number;
  readonly elapsed_s: number;
  readonly stalled_racks?: string[];
}

/** The exit code of each result. */
export const WAIT_EXIT: Record<WaitResult["result"], number> = {
  completed: EXIT.ok,
  stalled: EXIT.failed,
  timeout: EXIT.timeout,
  archived: EXIT.failed,
};

/**
 * Whether a transfer moves: the completed counter, or any rack's completed hosts or mean
 * progress, going up; a rack that appears (a host started) counts too. A count that only
 * drops (peers expiring) is not progress.
 */
export class StallClock {
  #completed: number | undefined;
  readonly #racks = new Map<string, { progress: number; done: number }>();
  #quietSince: number;

  /** Starts the clock at `now` (seconds): progress made before the wait does not count. */
  constructor(now: number) {
    this.#quietSince = now;
  }

  /** Takes in a fresh view of the transfer seen at `now`. */
  observe(transfer: Transfer, now: number): void {
    const first = this.#completed === undefined;
    let moved = !first && transfer.completed > this.#completed!;
    for (const rack of transfer.racks ?? []) {
      const before = this.#racks.get(rack.rack);
      const progress = rack.progress ?? 0;
      if (!first && (before === undefined || rack.done > before.done || progress > before.progress)) moved = true;
      this.#racks.set(rack.rack, { progress, done: rack.done });
    }
    this.#completed = transfer.completed;
    if (moved) this.#quietSince = now;
  }

  /** Leaves out `seconds` during which nothing could be seen (the tracker was out of reach). */
  pause(seconds: number): void {
    this.#quietSince += seconds;
  }

  /** Seconds since the transfer last moved (or since the wait began). */
  quietFor(now: number): number {
    return now - this.#quietSince;
  }
}

/** The racks that hold up a stalled transfer: those with hosts still downloading. */
export function stalledRacks(racks: readonly Rack[]): Rack[] {
  return racks.filter((rack) => rack.leechers > 0);
}

const now = () => performance.now() / 1000;

/** How a wait ended: the result as `--json` prints it, and what a person's message needs. */
export interface WaitOutcome {
  readonly result: WaitResult;
  /** The last view of the transfer (with racks); undefined if the tracker never answered. */
  readonly transfer: Transfer | undefined;
  /** Seconds without progress at the end. */
  readonly quietSeconds: number;
}

/** Polls the transfer until it completes, stalls, times out or is archived; `json` keeps stderr quiet. */
export async function waitForHosts(options: WaitOptions, json: boolean): Promise<WaitOutcome> {
  const { target, infoHashHex, hosts } = options;
  const started = now();
  const deadline = started + options.timeoutSeconds;
  const clock = new StallClock(started);
  const line = json ? undefined : progressLine(process.stderr, 0);
  let transfer: Transfer | undefined;
  let outageSince: number | undefined;
  let lastError: string | undefined;
  const finish = (result: WaitResult["result"]): WaitOutcome => {
    line?.done();
    const stalled = result === "stalled" ? stalledRacks(transfer?.racks ?? []).map((rack) => rack.rack) : undefined;
    return {
      result: {
        result,
        completed: transfer?.completed ?? null,
        hosts,
        elapsed_s: Math.round(now() - started),
        ...(stalled === undefined ? {} : { stalled_racks: stalled }),
      },
      transfer,
      quietSeconds: clock.quietFor(now()),
    };
  };
  for (;;) {
    const remaining = deadline - now();
    if (remaining <= 0) return finish("timeout");
    try {
      // The request may not outlast the timeout: a tracker that accepts but never answers.
      transfer = await getTransfer(target, infoHashHex, true, Math.ceil(Math.min(remaining, 30) * 1000));
      if (outageSince !== undefined) clock.pause(now() - outageSince);
      outageSince = undefined;
      clock.observe(transfer, now());
      if (transfer.completed >= hosts) return finish("completed");
      if (!transfer.active) return finish("archived");
      if (clock.quietFor(now()) >= options.stallSeconds) return finish("stalled");
    } catch (error) {
      if (!isTransient(error)) {
        line?.done();
        throw error;
      }
      outageSince ??= now();
      lastError = (error as Error).message;
    }
    line?.update(statusText(transfer, hosts, now() - started, outageSince === undefined ? undefined : lastError));
    await sleep(Math.max(0, Math.min(options.intervalSeconds, deadline - now())) * 1000);
  }
}

function statusText(transfer: Transfer | undefined, hosts: number, elapsed: number, error: string | undefined): string {
  const done = transfer?.completed ?? 0;
  const parts = [
    `${transfer === undefined ? "?" : done}/${hosts} hosts completed ${renderBar(done / hosts, 20)}`,
    `progress ${formatPercent(transfer?.progress ?? null)}`,
    `elapsed ${formatDuration(elapsed)}`,
  ];
  if (error !== undefined) parts.push(`retrying: ${error}`);
  return parts.join("  ");
}

const hostCount = (n: number) => `${n} ${n === 1 ? "host" : "hosts"}`;

/** The line a person reads at the end (for a failure, the message on stderr). */
export function describeWait(infoHashHex: string, outcome: WaitOutcome): string {
  const { result } = outcome;
  const elapsed = formatDuration(result.elapsed_s);
  const progress = `${result.completed ?? 0} of ${result.hosts} hosts completed`;
  switch (result.result) {
    case "completed":
      return `${infoHashHex}: ${hostCount(result.completed ?? 0)} completed (waited for ${result.hosts}) in ${elapsed}`;
    case "archived":
      return `${infoHashHex}: the transfer was archived with ${progress}`;
    case "timeout":
      return result.completed === null
        ? `${infoHashHex}: timed out after ${elapsed}: the tracker never answered`
        : `${infoHashHex}: timed out after ${elapsed} with ${progress}`;
    case "stalled": {
      const racks = stalledRacks(outcome.transfer?.racks ?? []).map(
        (rack) => `${rack.rack} (${formatPercent(rack.progress)}, ${rack.leechers} downloading)`,
      );
      const where = racks.length > 0 ? `stalled racks: ${racks.join(", ")}` : "no host is downloading";
      return `${infoHashHex}: stalled: no host made progress for ${formatDuration(outcome.quietSeconds)} (${progress}); ${where}`;
    }
  }
}

/** Runs the wait and reports it: one JSON object with `json`, else a line; exit code by result. */
export async function waitCommand(options: WaitOptions, json: boolean): Promise<void> {
  const outcome = await waitForHosts(options, json);
  const code = WAIT_EXIT[outcome.result.result];
  if (json) {
    process.stdout.write(`${JSON.stringify(outcome.result)}\n`);
    process.exitCode = code;
    return;
  }
  if (code !== EXIT.ok) throw new CommandError(describeWait(options.infoHashHex, outcome), code);
  process.stdout.write(`${describeWait(options.infoHashHex, outcome)}\n`);
}
