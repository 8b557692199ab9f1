/** Announce latencies: percentiles of a sample, and a sampler that runs alongside a load. */

/** The p-th percentile (0..100) of the samples, by nearest rank. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** p50 and p99 in milliseconds, rounded for messages. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return { count: samples.length, p50: round(percentile(samples, 50)), p99: round(percentile(samples, 99)) };
}

/** Runs `call` for `ms`, `workers` at a time, and returns each call's duration (ms). */
export async function timeCallsFor(ms: number, workers: number, call: (i: number) => Promise<void>): Promise<number[]> {
  const durations: number[] = [];
  const end = performance.now() + ms;
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < end) {
        const i = next++;
        const start = performance.now();
        await call(i);
        durations.push(performance.now() - start);
      }
    }),
  );
  return durations;
}
