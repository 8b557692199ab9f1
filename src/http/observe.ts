/**
 * What the HTTP layer adds for operators: GET /metrics (on the listener the API is on) and,
 * with LOG_REQUESTS, one log line per request.
 */

import type { Context, Hono, MiddlewareHandler } from "hono";
import type { TrackerMetrics } from "../observe/metrics.js";
import { log } from "../log.js";
import { ApiError } from "./api/errors.js";

/** How a listener reports: the metrics it counts into, and whether it serves /metrics. */
export interface HttpObserve {
  readonly metrics: TrackerMetrics;
  /** Serve GET /metrics here; `guard` (the admin token check) when METRICS_NEED_TOKEN. */
  readonly serveMetrics?: { readonly guard: MiddlewareHandler | undefined };
  readonly logRequests: boolean;
}

/** Adds GET /metrics (Prometheus text format) to `app`. */
export function addMetricsRoute(app: Hono, metrics: TrackerMetrics, guard?: MiddlewareHandler): void {
  const render = async (c: Context) => {
    const { body, contentType } = await metrics.render();
    return c.body(body, 200, { "Content-Type": contentType });
  };
  app.get("/metrics", async (c) => {
    if (!guard) return render(c);
    // The guard throws the API's errors; answered here in the API's JSON shape.
    let allowed = false;
    try {
      await guard(c, async () => {
        allowed = true;
      });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return c.json({ error: error.message }, error.status, error.headers);
    }
    return allowed ? render(c) : c.json({ error: "not allowed" }, 403);
  });
}

/**
 * One line per request: method, path (never the query: announces carry binary ids and a
 * client's key), status and milliseconds.
 */
export function requestLog(): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    log.info("request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 100) / 100,
    });
  };
}
