/**
 * Keeps a repeated log line from flooding the log: during a Redis outage every announce
 * fails the same way, thousands a second. The first line of each text is written at once;
 * repeats within `everyMs` are counted and reported with the next line of that text.
 */

/** Most distinct texts remembered; past it the memory starts over (texts are few in practice). */
const MAX_TEXTS = 1000;

export function throttledLog(
  write: (message: string) => void,
  everyMs: number,
  now: () => number = Date.now,
): (message: string) => void {
  const seen = new Map<string, { at: number; held: number }>();
  return (message) => {
    const time = now();
    const last = seen.get(message);
    if (last !== undefined && time - last.at < everyMs) {
      last.held++;
      return;
    }
    write(last?.held ? `${message} (and ${last.held} more since its last line)` : message);
    if (last === undefined && seen.size >= MAX_TEXTS) seen.clear();
    seen.set(message, { at: time, held: 0 });
  };
}
