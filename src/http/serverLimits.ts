/**
 * What one HTTP listener allows a client: how long it may take to send a request, how long
 * an idle keep-alive connection lives, how large a request may be, how many connections
 * may be open. What Node refuses gets what every bad request gets, a 200 with a bencoded
 * failure reason, and the connection is closed.
 */
import type { IncomingMessage, Server, ServerOptions } from "node:http";
import type { serve } from "@hono/node-server";
import type { Duplex } from "node:stream";
import type { Config } from "../config/config.js";
import { encodeFailure } from "../wire/bittorrent.js";
import { limitConnections } from "./connectionLimits.js";
import type { HttpLimit } from "../observe/metrics.js";

/** The settings a listener's limits come from. */
export type HttpLimits = Pick<
  Config,
  | "HEADERS_TIMEOUT_MS"
  | "REQUEST_TIMEOUT_MS"
  | "KEEPALIVE_TIMEOUT_MS"
  | "MAX_HEADER_BYTES"
  | "MAX_HEADERS_COUNT"
  | "MAX_CONNECTIONS"
  | "MAX_CONNECTIONS_PER_ADDRESS"
  | "PROXYPASS"
  | "TRUSTED_PROXIES"
>;

/**
 * Node looks for requests past their timeout this often at most (its default is 30 s).
 * Each look closes all it finds at once, about 0.1 ms each: often is also in small batches.
 */
const CHECK_EVERY_MS = 100;

/** How long a refused client has to read its answer before the socket is destroyed. */
const ANSWER_GRACE_MS = 1000;

/** The options http.createServer takes. */
export function serverOptions(limits: HttpLimits): ServerOptions {
  return {
    headersTimeout: limits.HEADERS_TIMEOUT_MS,
    requestTimeout: limits.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: limits.KEEPALIVE_TIMEOUT_MS,
    // Above Node's 16 KiB by default, so that an oversized query reaches the tracker's own
    // limit and gets its own failure reason.
    maxHeaderSize: limits.MAX_HEADER_BYTES,
    // A slow client is cut off this long after its timeout at most, not up to 30 s after.
    connectionsCheckingInterval: Math.min(CHECK_EVERY_MS, Math.floor(limits.HEADERS_TIMEOUT_MS / 2)),
  };
}

/** Sets the limits that are properties of a created server, and answers what it refuses. */
/** Told of each connection or request a limit cut off (for the metrics). */
export type RefusalCounter = (limit: HttpLimit) => void;

export function applyServerLimits(server: Server, limits: HttpLimits, refused: RefusalCounter): void {
  server.keepAliveTimeout = limits.KEEPALIVE_TIMEOUT_MS;
  // Node drops headers past maxHeadersCount silently: one more than the limit lets
  // withHeaderCountLimit tell a request over the limit from one at it, and refuse it.
  server.maxHeadersCount = limits.MAX_HEADERS_COUNT + 1;
  server.on("clientError", answerRefused(limits, refused));
  limitConnections(
    server,
    {
      maxConnections: limits.MAX_CONNECTIONS,
      maxPerAddress: limits.MAX_CONNECTIONS_PER_ADDRESS,
      // Behind a load balancer every connection comes from its address.
      exempt: limits.PROXYPASS ? limits.TRUSTED_PROXIES : [],
    },
    refused,
  );
}

type Fetch = Parameters<typeof serve>[0]["fetch"];

/** `fetch`, except that a request with more than MAX_HEADERS_COUNT headers gets a failure. */
export function withHeaderCountLimit(fetch: Fetch, limits: HttpLimits, refused: RefusalCounter): Fetch {
  const max = limits.MAX_HEADERS_COUNT;
  const reason = `too many headers: send at most ${max}`;
  return (request, env) => {
    const incoming = env.incoming as IncomingMessage | undefined;
    if (incoming === undefined || incoming.rawHeaders.length / 2 <= max) return fetch(request, env);
    refused("header_count");
    return new Response(encodeFailure(reason) as Uint8Array<ArrayBuffer>, {
      headers: { "Content-Type": "text/plain", Connection: "close" },
    });
  };
}

/** Answers a request Node's HTTP parser refused or timed out, then closes its connection. */
function answerRefused(
  limits: HttpLimits,
  refused: RefusalCounter,
): (error: Error & { code?: string }, socket: Duplex) => void {
  const tooLarge = `request too large: keep the request line and headers under ${bytes(limits.MAX_HEADER_BYTES)}`;
  const tooSlow =
    `request timed out: send the request line and headers within ${seconds(limits.HEADERS_TIMEOUT_MS)}` +
    ` and the whole request within ${seconds(limits.REQUEST_TIMEOUT_MS)}`;
  return (error, socket) => {
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const limit: HttpLimit =
      error.code === "HPE_HEADER_OVERFLOW"
        ? "request_size"
        : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? "headers_timeout"
          : "malformed";
    refused(limit);
    const reason =
      limit === "request_size"
        ? tooLarge
        : limit === "headers_timeout"
          ? tooSlow
          : `malformed HTTP request (${error.code ?? error.message}): percent-encode every byte outside ASCII`;
    const body = Buffer.from(encodeFailure(reason));
    const head = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    // end() alone half-closes: a client that never closes its side would keep the socket.
    const timer = setTimeout(() => socket.destroy(), ANSWER_GRACE_MS);
    timer.unref();
    socket.end(Buffer.concat([Buffer.from(head), body]), () => {
      clearTimeout(timer);
      socket.destroy();
    });
  };
}

function bytes(n: number): string {
  return n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}
