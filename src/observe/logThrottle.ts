/**
 * Keeps a repeated log line from flooding the log: during a Redis outage every announce
 * fails the same way, thousands a second. The first line of each kind (by default, each
 * text) is written at once; repeats within `everyMs` are counted and reported with the next
 * line of that kind.
 */

/** Most distinct texts remembered; past it the memory starts over (texts are few in practice). */
const MAX_TEXTS = 1000;

export function throttledLog(
  write: (message: string) => void,
  everyMs: number,
  { now = Date.now, kindOf = (message: string) => message } = {},
): (message: string) => void {
  const seen = new Map<string, { at: number; held: number }>();
  return (message) => {
    const time = now();
    const kind = kindOf(message);
    const last = seen.get(kind);
    if (last !== undefined && time - last.at < everyMs) {
      last.held++;
      return;
    }
    write(last?.held ? `${message} (and ${last.held} more since its last line)` : message);
    if (last === undefined && seen.size >= MAX_TEXTS) seen.clear();
    seen.set(kind, { at: time, held: 0 });
  };
}
