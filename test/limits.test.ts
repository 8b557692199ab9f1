import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "../src/config/config.js";
import { serverOptions } from "../src/http/serverLimits.js";
import { decode, httpRequest, text } from "./helpers/http.js";
import { announce, announceQuery, peer, randomInfoHash, trackerFixture } from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";
import { scrapeMetrics } from "./helpers/metrics.js";

/** What came back on a raw connection, and whether the tracker closed it (or reset it). */
interface Exchange {
  readonly reply: string;
  readonly closed: boolean;
  /** When it closed, in ms from the connect. */
  readonly closedAfter: number;
}

/**
 * Writes raw bytes from `localAddress` (a loopback address) and collects what comes back
 * until the tracker closes the connection, or `waitMs` passes.
 */
function exchange(port: number, bytes: string, localAddress = "127.0.0.1", waitMs = 3000): Promise<Exchange> {
  return new Promise((done) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    const chunks: Buffer[] = [];
    const start = performance.now();
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      done({ reply: Buffer.concat(chunks).toString("latin1"), closed, closedAfter: performance.now() - start });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => finish(true));
    if (bytes !== "") socket.write(bytes);
  });
}

/** The decoded body of a raw 200 reply. */
function bodyOf(reply: string): Record<string, unknown> {
  assert.match(reply, /^HTTP\/1\.1 200 /);
  return decode(Buffer.from(reply.slice(reply.indexOf("\r\n\r\n") + 4), "latin1"));
}

/** The failure reason of a raw 200 reply. */
function failureOf(reply: string): string {
  return text(bodyOf(reply)["failure reason"]);
}

const HEALTH = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/** A keep-alive connection from `localAddress` that has had one answer and now idles. */
function held(port: number, localAddress: string): Promise<Socket> {
  return new Promise((done, fail) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    let reply = "";
    socket.on("data", (chunk: Buffer) => {
      reply += chunk.toString("latin1");
      if (reply.endsWith("ok\n")) done(socket);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => fail(new Error(`closed from ${localAddress} before an answer`)));
    socket.write(HEALTH);
  });
}

/** Closes held connections and waits until the tracker has seen them go. */
async function release(sockets: Socket[]): Promise<void> {
  await Promise.all(
    sockets.map((socket) => new Promise((r) => (socket.destroyed ? r(null) : (socket.once("close", r), socket.end())))),
  );
  await new Promise((r) => setTimeout(r, 100));
}

/** True when a fresh connection from `localAddress` gets its request answered. */
async function served(port: number, localAddress: string): Promise<boolean> {
  const { reply } = await exchange(port, HEALTH.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"), localAddress);
  return /^HTTP\/1\.1 200 [^]*ok\n$/.test(reply);
}

describe("the defaults suit a load balancer in front", () => {
  it("keeps idle connections longer than common load-balancer idle timeouts (60 s), and checks timeouts often", () => {
    const options = serverOptions(loadConfig([], {}));
    assert.ok(options.keepAliveTimeout! > 60_000, `keepAliveTimeout ${options.keepAliveTimeout}`);
    assert.ok(options.connectionsCheckingInterval! <= 1000, "Node's 30 s check would let slow clients linger");
    assert.ok(options.headersTimeout! <= options.requestTimeout!);
  });
});

describe("limit settings", () => {
  const problem = (env: Record<string, string>) => {
    try {
      loadConfig([], env);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    assert.fail("accepted");
  };

  it("refuses a request timeout shorter than the headers timeout, and values out of range, naming the key", () => {
    assert.equal(
      problem({ P2PTRACKER_HEADERS_TIMEOUT_MS: "20000", P2PTRACKER_REQUEST_TIMEOUT_MS: "5000" }),
      'REQUEST_TIMEOUT_MS = "5000": expected at least HEADERS_TIMEOUT_MS (20000), as the headers are part of the request',
    );
    assert.match(
      problem({ P2PTRACKER_MAX_CONNECTIONS: "-1" }),
      /^MAX_CONNECTIONS = "-1" \(environment[^)]*\): expected an integer/,
    );
    assert.match(problem({ P2PTRACKER_KEEPALIVE_TIMEOUT_MS: "0" }), /^KEEPALIVE_TIMEOUT_MS = "0"/);
    assert.match(problem({ P2PTRACKER_MAX_HEADER_BYTES: "64k" }), /^MAX_HEADER_BYTES = "64k"/);
  });
});

describe("oversized requests", () => {
  const f = trackerFixture({ MAX_HEADER_BYTES: "8192", MAX_HEADERS_COUNT: "20" });
  const headers = (count: number) => Array.from({ length: count }, (_, i) => `X-H${i}: ${i}\r\n`).join("");
  const announceWith = (extraHeaders: string) =>
    `GET /announce?${announceQuery(randomInfoHash(), peer("10.90.0.1"))} HTTP/1.1\r\nHost: x\r\n${extraHeaders}\r\n`;

  it("a request line over MAX_HEADER_BYTES gets a bencoded failure and the connection is closed", async () => {
    const result = await exchange(f.tracker.port, `GET /announce?x=${"a".repeat(10_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.ok(result.closed);
    assert.equal(failureOf(result.reply), "request too large: keep the request line and headers under 8 KiB");
  });

  it("one huge header gets the same", async () => {
    const result = await exchange(f.tracker.port, announceWith(`X-Big: ${"b".repeat(10_000)}\r\n`));
    assert.ok(result.closed);
    assert.match(failureOf(result.reply), /^request too large/);
  });

  it("more than MAX_HEADERS_COUNT headers get a bencoded failure and the connection is closed", async () => {
    const result = await exchange(f.tracker.port, announceWith(headers(20))); // and Host: 21
    assert.ok(result.closed);
    assert.match(result.reply, /\r\nConnection: close\r\n/i);
    assert.equal(failureOf(result.reply), "too many headers: send at most 20");
  });

  it("MAX_HEADERS_COUNT headers are fine, and the tracker still serves announces", async () => {
    const result = await exchange(f.tracker.port, announceWith(headers(18) + "Connection: close\r\n"));
    assert.ok(result.closed);
    const body = bodyOf(result.reply);
    assert.equal(body["failure reason"], undefined);
    assert.equal(typeof body.interval, "number");
    const reply = await announce(f.tracker, randomInfoHash(), peer("10.90.0.2"));
    assert.equal(reply["failure reason"], undefined);
    assert.equal((await httpRequest(`${f.tracker.url}/healthz`)).status, 200);
  });

  it("counts each refusal in /metrics, by limit", async () => {
    const malformed = await exchange(f.tracker.port, "NOT-HTTP\r\n\r\n");
    assert.match(failureOf(malformed.reply), /^malformed HTTP request/);
    const metrics = await scrapeMetrics(f.tracker.url);
    const refused = (limit: string) => metrics.value("p2ptracker_http_refused_total", { limit });
    assert.deepEqual(
      [refused("request_size"), refused("header_count"), refused("malformed"), refused("headers_timeout")],
      [2, 1, 1, 0],
    );
  });
});

describe("connection caps", () => {
  const f = trackerFixture({ PROXYPASS: "false", MAX_CONNECTIONS_PER_ADDRESS: "4", MAX_CONNECTIONS: "10" });

  it("closes a connection beyond MAX_CONNECTIONS_PER_ADDRESS from one address; other addresses are served", async () => {
    const port = f.tracker.port;
    const mine = await Promise.all(Array.from({ length: 4 }, () => held(port, "127.0.0.2")));
    const refused = await exchange(port, HEALTH, "127.0.0.2");
    assert.deepEqual([refused.closed, refused.reply], [true, ""], "closed unanswered");
    assert.ok(await served(port, "127.0.0.3"));
    const reply = await httpRequest(`${f.tracker.url}/announce?${announceQuery(randomInfoHash(), peer("127.0.0.4"))}`, {
      localAddress: "127.0.0.4",
    });
    assert.equal(decode(reply.body)["failure reason"], undefined);
    await release(mine.slice(0, 1));
    assert.ok(await served(port, "127.0.0.2"), "the cap counts open connections only");
    await release(mine);
  });

  it("closes a connection beyond MAX_CONNECTIONS, and serves again once some close", async () => {
    const port = f.tracker.port;
    const open = [
      ...(await Promise.all(Array.from({ length: 4 }, () => held(port, "127.0.0.2")))),
      ...(await Promise.all(Array.from({ length: 4 }, () => held(port, "127.0.0.3")))),
      ...(await Promise.all(Array.from({ length: 2 }, () => held(port, "127.0.0.4")))),
    ];
    const refused = await exchange(port, HEALTH, "127.0.0.5");
    assert.deepEqual([refused.closed, refused.reply], [true, ""], "closed unanswered");
    await release(open.slice(0, 2));
    await eventually("a fresh address is served", () => served(port, "127.0.0.5"));
    await release(open);
  });

  it("counts the connections each cap refused in /metrics", async () => {
    const metrics = await scrapeMetrics(f.tracker.url);
    const refused = (limit: string) => metrics.value("p2ptracker_http_refused_total", { limit });
    assert.ok(refused("max_connections_per_address") >= 1, "per-address refusals counted");
    assert.ok(refused("max_connections") >= 1, "MAX_CONNECTIONS refusals counted");
  });
});

describe("connection caps behind a load balancer", () => {
  // 127.0.0.2 plays the load balancer; 127.0.0.3 a client reaching the tracker directly.
  const f = trackerFixture({ PROXYPASS: "true", TRUSTED_PROXIES: "127.0.0.2/32", MAX_CONNECTIONS_PER_ADDRESS: "4" });

  it("leaves trusted proxies out of the per-address cap, and caps everyone else", async () => {
    const port = f.tracker.port;
    const proxied = await Promise.all(Array.from({ length: 12 }, () => held(port, "127.0.0.2")));
    assert.ok(await served(port, "127.0.0.2"));
    const direct = await Promise.all(Array.from({ length: 4 }, () => held(port, "127.0.0.3")));
    assert.equal((await exchange(port, HEALTH, "127.0.0.3")).reply, "");
    await release([...proxied, ...direct]);
  });
});

describe("timeouts", () => {
  const f = trackerFixture({ HEADERS_TIMEOUT_MS: "1000", KEEPALIVE_TIMEOUT_MS: "7000" });

  it("answers and closes a connection that sends nothing within HEADERS_TIMEOUT_MS", async () => {
    const result = await exchange(f.tracker.port, "", "127.0.0.1", 6000);
    assert.ok(result.closed, "closed");
    assert.ok(result.closedAfter >= 900 && result.closedAfter < 4000, `closed after ${result.closedAfter} ms`);
    assert.match(failureOf(result.reply), /^request timed out: send the request line and headers within 1 s/);
    const metrics = await scrapeMetrics(f.tracker.url);
    assert.equal(metrics.value("p2ptracker_http_refused_total", { limit: "headers_timeout" }), 1);
  });

  it("keeps an idle keep-alive connection past Node's old 5 s default and closes it after KEEPALIVE_TIMEOUT_MS", async () => {
    const socket = await held(f.tracker.port, "127.0.0.1");
    let closedAt = 0;
    socket.on("close", () => (closedAt = performance.now()));
    await new Promise((r) => setTimeout(r, 6000));
    assert.equal(closedAt, 0, "open after 6 s idle (and past the 1 s headers timeout)");
    const answered = new Promise((r) => socket.once("data", r));
    socket.write(HEALTH);
    await answered;
    const since = performance.now();
    await eventually("the idle connection is closed", async () => closedAt > 0, 12_000);
    const idle = closedAt - since;
    assert.ok(idle >= 6500 && idle < 10_000, `closed after ${Math.round(idle)} ms idle (KEEPALIVE_TIMEOUT_MS 7000)`);
  });
});

describe("the API's own listener (API_LISTEN)", () => {
  const f = trackerFixture({ API_LISTEN: "127.0.0.1:0", HEADERS_TIMEOUT_MS: "1000", MAX_HEADERS_COUNT: "20" });

  it("has the same limits as the announce port", async () => {
    assert.notEqual(f.tracker.apiPort, f.tracker.port);
    const silent = await exchange(f.tracker.apiPort, "", "127.0.0.1", 6000);
    assert.ok(silent.closed && silent.closedAfter < 4000, `closed after ${silent.closedAfter} ms`);
    assert.match(failureOf(silent.reply), /^request timed out/);
    const crowded = Array.from({ length: 21 }, (_, i) => `X-H${i}: ${i}\r\n`).join("");
    const result = await exchange(f.tracker.apiPort, `GET /healthz HTTP/1.1\r\nHost: x\r\n${crowded}\r\n`);
    assert.equal(failureOf(result.reply), "too many headers: send at most 20");
  });
});
