import type { IncomingMessage } from "node:http";
import { Hono, type Context } from "hono";
import { ClientError, encodeFailure } from "../wire/bittorrent.js";
import { isStorageError } from "../store/storageErrors.js";
import { QueryError } from "../wire/query.js";
import type { HttpTracker } from "./trackerQueries.js";
import { log } from "../log.js";
import { throttledLog } from "../observe/logThrottle.js";
import { API_BASE } from "./api/routes.js";
import type { Readiness } from "../observe/health.js";
import { addMetricsRoute, requestLog, type HttpObserve } from "./observe.js";

/** The operators' API as the app mounts it. */
export interface ApiApp {
  fetch(request: Request, env: unknown): Response | Promise<Response>;
}

/** How long a client should wait after a failure that is ours, not its own. */
const RETRY_AFTER_SECONDS = 30;

function rawQuery(c: Context): string {
  // The raw request target, not a parsed URL: info_hash and peer_id are bytes.
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const target = incoming?.url ?? c.req.url;
  const mark = target.indexOf("?");
  return mark < 0 ? "" : target.slice(mark + 1);
}

function bencoded(c: Context, body: Uint8Array) {
  return c.body(body as Uint8Array<ArrayBuffer>, 200, { "Content-Type": "text/plain" });
}

/** Turns any error into the bencoded failure a client can show; logs what is ours. */
function failure(c: Context, error: unknown, logFailure: (message: string) => void) {
  if (error instanceof ClientError || error instanceof QueryError) {
    return bencoded(c, encodeFailure(error.message));
  }
  const message = (error as Error)?.message ?? String(error);
  logFailure(`${c.req.method} ${c.req.path}: ${message}`);
  const storage = isStorageError(error);
  return bencoded(
    c,
    encodeFailure(storage ? "tracker storage unavailable, retry later" : "internal server error", RETRY_AFTER_SECONDS),
  );
}

/**
 * The HTTP app: /announce and /scrape (with or without a trailing slash), and the
 * operators' API under /api/v1 (and /metrics) unless it listens elsewhere (API_LISTEN).
 */
export function createApp(
  tracker: HttpTracker,
  api: ApiApp | "elsewhere",
  readiness: Readiness,
  observe: HttpObserve,
): Hono {
  const app = new Hono();
  addObserveRoutes(app, observe);
  addHealthRoutes(app, readiness);
  const { announces, frontEndAnnounces, scrapes, failures } = observe.metrics;
  // A failure of ours is logged once, then at most every 10 s with how many more there were.
  const logFailure = throttledLog((message) => log.error(message), 10_000);

  const announce = async (c: Context) => {
    if (c.req.method !== "GET") {
      announces.unknown.failed.inc();
      frontEndAnnounces.http.failed.inc();
      failures.announce.wrong_method.inc();
      return bencoded(c, encodeFailure("announce must be a GET request"));
    }
    try {
      const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
      const body = await tracker.announce(rawQuery(c), {
        socketAddress: incoming?.socket.remoteAddress,
        forwardedFor: c.req.header("x-forwarded-for"),
        realIp: c.req.header("x-real-ip"),
      });
      return bencoded(c, body);
    } catch (error) {
      return failure(c, error, logFailure);
    }
  };
  const scrape = async (c: Context) => {
    if (c.req.method !== "GET") {
      scrapes.failed.inc();
      failures.scrape.wrong_method.inc();
      return bencoded(c, encodeFailure("scrape must be a GET request"));
    }
    try {
      return bencoded(c, await tracker.scrape(rawQuery(c)));
    } catch (error) {
      return failure(c, error, logFailure);
    }
  };

  app.all("/announce", announce);
  app.all("/announce/", announce);
  app.all("/scrape", scrape);
  app.all("/scrape/", scrape);
  if (api === "elsewhere") {
    app.all(`${API_BASE}/*`, (c) => c.json({ error: "the API listens on its own address here (API_LISTEN)" }, 404));
    app.get("/metrics", (c) => c.text("not found: /metrics is served with the API, on API_LISTEN\n", 404));
  } else {
    // Handed over whole, so the API answers its own unknown paths and errors in JSON.
    app.all(`${API_BASE}/*`, (c) => api.fetch(c.req.raw, c.env));
  }
  app.notFound((c) =>
    c.text("not found: this tracker serves /announce, /scrape, /api/v1, /healthz and /readyz\n", 404),
  );
  app.onError((error, c) => failure(c, error, logFailure));
  return app;
}

/** Request logging (first, so it times everything) and /metrics, as configured. */
function addObserveRoutes(app: Hono, observe: HttpObserve): void {
  if (observe.logRequests) app.use("*", requestLog());
  if (observe.serveMetrics) addMetricsRoute(app, observe.metrics, observe.serveMetrics.guard);
}

/** GET /healthz (the process answers) and GET /readyz (200 only when it should get traffic). */
function addHealthRoutes(app: Hono, readiness: Readiness): void {
  app.get("/healthz", (c) => c.text("ok\n"));
  app.get("/readyz", (c) => {
    const problems = readiness.problems();
    if (problems.length === 0) return c.text("ready\n");
    return c.text(`not ready: ${problems.join("; ")}\n`, 503, { "Retry-After": "1" });
  });
}

/** The API on a listener of its own, with the same health routes (and /metrics). */
export function withHealth(api: ApiApp, readiness: Readiness, observe: HttpObserve): Hono {
  const app = new Hono();
  addObserveRoutes(app, observe);
  addHealthRoutes(app, readiness);
  app.all("*", (c) => api.fetch(c.req.raw, c.env));
  return app;
}
