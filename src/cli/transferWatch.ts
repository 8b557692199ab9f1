/**
 * `transfer show --watch`: the transfer's view refreshed every interval. On a terminal the
 * view is redrawn in place with a rate and an ETA until Ctrl-C or until the transfer is
 * archived; elsewhere one snapshot (or one JSON line with --json) is printed per interval.
 */

import { setTimeout as sleep } from "node:timers/promises";
import type { ApiTarget } from "./apiClient.js";
import { ProgressRates } from "./progressRates.js";
import { HIDE_CURSOR, screenFrame, SHOW_CURSOR } from "./screen.js";
import { getTransfer, isTransient, type Transfer } from "./transferApi.js";
import { formatTime, watchLines } from "./transferView.js";

/** What to watch, how often, and how to print it. */
export interface WatchOptions {
  readonly target: ApiTarget;
  readonly infoHashHex: string;
  readonly racks: boolean;
  readonly intervalSeconds: number;
  readonly json: boolean;
}

/** Watches a transfer until it is archived (resolves) or Ctrl-C (exits 0). */
export async function watchTransfer(options: WatchOptions): Promise<void> {
  const out = process.stdout;
  const live = out.isTTY === true && !options.json;
  const rates = new ProgressRates();
  let lines: string[] = [];
  const redraw = () => out.write(screenFrame(lines, out.columns ?? 80, out.rows ?? 24));
  const interrupt = () => {
    if (live) out.write(SHOW_CURSOR);
    process.exit(0);
  };
  process.on("SIGINT", interrupt);
  if (live) {
    out.write(HIDE_CURSOR);
    out.on("resize", redraw);
  }
  try {
    let transfer: Transfer | undefined;
    for (;;) {
      let notice: string | undefined;
      try {
        transfer = await getTransfer(options.target, options.infoHashHex, options.racks);
        rates.add({ at: performance.now() / 1000, completed: transfer.completed, progress: transfer.progress });
      } catch (error) {
        if (!isTransient(error)) throw error;
        notice = `${formatTime(Date.now() / 1000)}: ${(error as Error).message}; retrying`;
      }
      const view =
        transfer &&
        watchLines(transfer, {
          intervalSeconds: options.intervalSeconds,
          now: Date.now(),
          completionsPerSecond: rates.completionsPerSecond(),
          etaSeconds: rates.eta(transfer.leechers),
          ...(notice === undefined ? {} : { notice }),
        });
      if (live) {
        lines = view ?? [notice!];
        redraw();
      } else if (notice !== undefined) {
        // A snapshot only when it is fresh: the stale one was printed already.
        process.stderr.write(`p2ptracker: ${notice}\n`);
      } else {
        out.write(options.json ? `${JSON.stringify(transfer)}\n` : `${view!.join("\n")}\n\n`);
      }
      if (transfer !== undefined && !transfer.active) {
        if (!options.json)
          out.write(`${transfer.info_hash}: archived as ${transfer.archive ?? "-"}; stopped watching\n`);
        return;
      }
      await sleep(options.intervalSeconds * 1000);
    }
  } finally {
    process.off("SIGINT", interrupt);
    if (live) {
      out.off("resize", redraw);
      out.write(SHOW_CURSOR);
    }
  }
}
