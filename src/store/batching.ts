/**
 * Batches calls to Redis while it is busy. A call made while earlier ones are still
 * waiting for their replies is held until they have all returned, then sent together with
 * every other call held meanwhile: node-redis writes the calls made in one tick as one
 * pipeline, so under load Redis gets many scripts per socket read and the tracker one
 * write per batch, not one per announce. An idle tracker sends each call at once. This is
 * Nagle's rule for Redis calls: at most one batch of them in flight.
 *
 * With a linger, an idle tracker does not send at once either: the first call waits
 * `lingerMs` (0: to the end of this turn of the event loop) for others to join it. Where
 * requests arrive one by one (UDP datagrams at a modest rate), this turns one Redis write
 * and one wake-up for its reply per announce into one per batch, for a bounded delay.
 */

import { wrapMethods } from "./methods.js";

/**
 * The `methods` of `target`, bound to it, sharing one "batch in flight" rule; `onBatch`
 * hears the size of every batch sent (1 for a call sent at once). `lingerMs`: how long an
 * idle batch waits for more calls (unset: it does not wait).
 */
export function batchedWhileBusy<T extends object, M extends keyof T>(
  target: T,
  methods: readonly M[],
  onBatch: (size: number) => void = () => undefined,
  lingerMs?: number,
): Pick<T, M> {
  let inFlight = 0;
  let held: Array<() => void> = [];
  let lingering = false;

  const flush = () => {
    lingering = false;
    const next = held;
    held = [];
    onBatch(next.length);
    for (const send of next) send();
  };
  const settle = () => {
    if (--inFlight > 0 || held.length === 0 || lingering) return;
    flush();
  };
  const linger = () => {
    lingering = true;
    if (lingerMs === 0) setImmediate(flush);
    else setTimeout(flush, lingerMs);
  };

  return wrapMethods(target, methods, (method) => {
    const send = (args: never[]): Promise<unknown> => {
      inFlight++;
      let pending: Promise<unknown>;
      try {
        pending = method(...args);
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(settle, settle);
      return pending;
    };
    return (...args: never[]) => {
      if (inFlight === 0 && lingerMs === undefined) {
        onBatch(1);
        return send(args);
      }
      if (inFlight === 0 && !lingering) linger();
      return new Promise((resolve, reject) => held.push(() => void send(args).then(resolve, reject)));
    };
  });
}
