/** Rates and an ETA for a transfer, from the samples a live view takes between redraws. */

/** What one look at a transfer tells about its progress. */
export interface ProgressSample {
  /** When it was taken, in seconds on a monotonic clock. */
  readonly at: number;
  /** The transfer's completed counter. */
  readonly completed: number;
  /** Mean progress of its hosts, 0 to 1; null with no host. */
  readonly progress: number | null;
}

/**
 * The samples of the last `windowSeconds`: long enough to smooth the steps in which
 * clients announce, short enough to follow a transfer that speeds up or stalls.
 */
export class ProgressRates {
  readonly #samples: ProgressSample[] = [];

  constructor(private readonly windowSeconds = 60) {}

  /** Records a sample and forgets those that fell out of the window (keeping two). */
  add(sample: ProgressSample): void {
    this.#samples.push(sample);
    while (this.#samples.length > 2 && this.#samples[1]!.at <= sample.at - this.windowSeconds) this.#samples.shift();
  }

  #span(): { first: ProgressSample; last: ProgressSample; seconds: number } | undefined {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (first === undefined || last === undefined || last.at <= first.at) return undefined;
    return { first, last, seconds: last.at - first.at };
  }

  /** Hosts completed per second over the window; undefined before two samples. */
  completionsPerSecond(): number | undefined {
    const span = this.#span();
    return span && Math.max(0, span.last.completed - span.first.completed) / span.seconds;
  }

  /**
   * Seconds until every host now downloading (`leechers`) is done: from the rate at which
   * the mean progress rises, else from the completion rate; NaN when neither moves.
   */
  eta(leechers: number): number {
    const last = this.#samples[this.#samples.length - 1];
    if (last === undefined || last.progress === null) return NaN;
    if (leechers === 0 || last.progress >= 1) return 0;
    const span = this.#span();
    if (span === undefined) return NaN;
    if (span.first.progress !== null && last.progress > span.first.progress) {
      return (1 - last.progress) / ((last.progress - span.first.progress) / span.seconds);
    }
    const rate = this.completionsPerSecond() ?? 0;
    return rate > 0 ? leechers / rate : NaN;
  }
}
