/** Terminal progress: a bar, human units, and one status line redrawn in place. */

/** A bar of `width` cells between brackets, e.g. `[#########-----------]`. */
export function renderBar(fraction: number, width: number): string {
  const filled = Math.round(clampFraction(fraction) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

const clampFraction = (fraction: number) => (Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0);

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** Bytes in binary units, three significant digits: `512 B`, `1.50 KiB`, `37.2 MiB`, `812 MiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  // From 1023.5 on, the number would round to "1024": the next unit reads better.
  while (value >= 1023.5 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value >= 100 ? value.toFixed(0) : value.toPrecision(3)} ${UNITS[unit]}`;
}

/** A transfer rate in bytes per second: `812 MiB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** Whole seconds as `42s`, `1m05s` or `2h03m`; `--` when unknown (not finite or negative). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const total = Math.round(seconds);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (total < 60) return `${total}s`;
  if (total < 3600) return `${Math.floor(total / 60)}m${pad(total % 60)}s`;
  return `${Math.floor(total / 3600)}h${pad(Math.floor(total / 60) % 60)}m`;
}

/** A writable stream as much as a progress line needs of it (process.stderr fits). */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** One status line: redrawn in place on a terminal, silent elsewhere until its final text. */
export interface ProgressLine {
  /** Shows `text` (at most every `minIntervalMs`, so callers may call it per chunk). */
  update(text: string): void;
  /** Replaces the line by `finalText` (printed on any stream), or clears it. */
  done(finalText?: string): void;
}

/** A ProgressLine on `stream` (default stderr), redrawing at most every `minIntervalMs`. */
export function progressLine(stream: ProgressStream = process.stderr, minIntervalMs = 100): ProgressLine {
  const live = stream.isTTY === true;
  let lastDraw = -Infinity;
  let drawn = false;
  return {
    update(text) {
      if (!live || performance.now() - lastDraw < minIntervalMs) return;
      lastDraw = performance.now();
      // A line wider than the terminal wraps, and "\r" then returns only to its last row.
      const width = (stream.columns ?? 80) - 1;
      stream.write(`\r${text.length > width ? text.slice(0, width) : text}\x1b[K`);
      drawn = true;
    },
    done(finalText) {
      if (live && drawn) stream.write("\r\x1b[K");
      if (finalText !== undefined) stream.write(`${finalText}\n`);
    },
  };
}
