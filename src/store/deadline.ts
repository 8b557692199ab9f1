/**
 * Deadlines for Redis calls. node-redis times a command out only until it is written; once
 * on the wire it waits for the reply however long Redis takes (a stopped or wedged server
 * never answers). The tracker must answer fast either way, so every call it makes races a
 * timer, and calls still overdue are counted: past a bound, new calls fail at once instead
 * of piling more work onto a server that is not answering.
 */

import { wrapMethods } from "./methods.js";

/** Redis did not answer within the deadline. */
export class StorageTimeoutError extends Error {
  constructor(ms: number) {
    super(`redis did not answer within ${ms} ms`);
  }
}

/** Most calls left waiting past their deadline before new calls are refused outright. */
const MAX_OVERDUE = 10_000;

/** How a call failed: Redis (or the connection) failed it, it ran past its deadline, or it was refused unsent. */
export type CallFailure = "error" | "timeout" | "refused";

/** The `methods` of `target`, bound to it, each call limited to `ms`; `onFailure` hears of each failed call. */
export function withDeadlines<T extends object, M extends keyof T>(
  target: T,
  ms: number,
  methods: readonly M[],
  onFailure: (kind: CallFailure) => void = () => undefined,
): Pick<T, M> {
  let overdue = 0;
  return wrapMethods(target, methods, (method) => (...args: never[]) => {
    if (overdue >= MAX_OVERDUE) {
      onFailure("refused");
      return Promise.reject(new StorageTimeoutError(ms));
    }
    return new Promise((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        overdue++;
        onFailure("timeout");
        reject(new StorageTimeoutError(ms));
      }, ms);
      method(...args)
        .then(resolve, (error: unknown) => {
          // A call past its deadline was counted as a timeout already.
          if (!late) onFailure("error");
          reject(error);
        })
        .finally(() => {
          clearTimeout(timer);
          if (late) overdue--;
        });
    });
  });
}
