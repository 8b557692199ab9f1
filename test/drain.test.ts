import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { decode, httpRequest } from "./helpers/http.js";
import { freePort, startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { startReplica } from "./helpers/replica.js";
import { announceQuery, peer, randomInfoHash } from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";

const DRAIN_DELAY_MS = 2000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** GET over a keep-alive agent: status, the Connection header and the body. */
function keepAliveGet(
  agent: Agent,
  url: string,
): Promise<{ status: number; connection: string | undefined; body: Buffer }> {
  return new Promise((done, fail) => {
    const req = request(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        done({ status: res.statusCode ?? 0, connection: res.headers.connection, body: Buffer.concat(chunks) }),
      );
    });
    req.on("error", fail);
    req.end();
  });
}

/** A keep-alive connection that made one request and now sits idle; records how it ends. */
async function idleConnection(port: number): Promise<{ ended: Promise<{ at: number; how: string }> }> {
  const socket = connect(port, "127.0.0.1");
  const ended = new Promise<{ at: number; how: string }>((done) => {
    socket.once("end", () => done({ at: Date.now(), how: "closed by the server" }));
    socket.once("error", (error) => done({ at: Date.now(), how: `error ${error.message}` }));
  });
  const answered = new Promise<string>((done) => socket.once("data", (chunk: Buffer) => done(chunk.toString())));
  socket.write("GET /healthz HTTP/1.1\r\nHost: tracker\r\n\r\n");
  assert.match(await answered, /^HTTP\/1\.1 200[\s\S]*keep-alive/i);
  socket.on("end", () => socket.end());
  return { ended };
}

/** A connection that never sends a byte; resolves when the server closes it. */
function silentConnection(port: number): Promise<number> {
  const socket = connect(port, "127.0.0.1");
  return new Promise((done) => socket.once("close", () => done(Date.now())).on("error", () => undefined));
}

describe("SIGTERM drains a replica", () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.close();
  });

  it("turns /readyz 503 at once, serves through the drain delay, finishes requests in flight, closes idle and silent sockets, exits 0", async () => {
    const replica = await startReplica(await freePort(), {
      REDIS_URL: redis.url,
      AUTO_ACTIVATE: "true",
      PROXYPASS: "true",
      DRAIN_DELAY_MS: String(DRAIN_DELAY_MS),
      SHUTDOWN_TIMEOUT_MS: "8000",
      REDIS_TIMEOUT_MS: "8000",
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const infoHash = randomInfoHash();
      const announceUrl = (ip: string) => `${replica.url}/announce?${announceQuery(infoHash, peer(ip))}`;
      const before = await keepAliveGet(agent, announceUrl("10.0.0.1"));
      assert.equal(before.status, 200);
      assert.equal(before.connection, "keep-alive");
      const idle = await idleConnection(replica.port);
      const silent = silentConnection(replica.port);
      await sleep(100);

      const signalled = Date.now();
      replica.child.kill("SIGTERM");
      await eventually(
        "/readyz answers 503",
        async () => (await httpRequest(`${replica.url}/readyz`)).status === 503,
        DRAIN_DELAY_MS / 2,
      );
      const readyz = await httpRequest(`${replica.url}/readyz`);
      assert.match(readyz.body.toString(), /draining/);

      // The load balancer has not noticed yet: requests are still served, and told to close.
      const during = await keepAliveGet(agent, announceUrl("10.0.0.2"));
      assert.equal(during.status, 200);
      assert.equal(during.connection, "close");
      assert.equal(decode(during.body)["failure reason"], undefined);

      // A request that is in flight when the server closes: Redis holds writes until after close().
      await sleep(signalled + DRAIN_DELAY_MS - 500 - Date.now());
      await redis.client.sendCommand(["CLIENT", "PAUSE", "2500", "WRITE"]);
      const inFlight = httpRequest(announceUrl("10.0.0.3")).then((response) => ({ response, at: Date.now() }));

      const idleEnd = await idle.ended;
      assert.equal(idleEnd.how, "closed by the server");
      assert.ok(idleEnd.at >= signalled + DRAIN_DELAY_MS - 100, "the idle socket stays open through the drain delay");
      const finished = await inFlight;
      assert.ok(idleEnd.at < finished.at, "the idle socket is closed while a request is still in flight");
      const silentClosed = await silent;
      assert.ok(silentClosed < finished.at, "a socket that never sent a byte is closed while a request is in flight");
      assert.ok(finished.at >= signalled + DRAIN_DELAY_MS, "the request in flight outlived close()");
      assert.equal(finished.response.status, 200);
      const reply = decode(finished.response.body);
      assert.equal(reply["failure reason"], undefined, "the request in flight got a real answer");
      assert.equal(typeof reply.interval, "number");

      const exit = await replica.exited;
      assert.equal(exit.code, 0, replica.stderr());
      assert.ok(exit.at - signalled < DRAIN_DELAY_MS + 2500 + 5000, `exited ${exit.at - signalled} ms after SIGTERM`);
      assert.match(replica.stderr(), /SIGTERM: stopping[\s\S]*draining[\s\S]*closing[\s\S]*stopped/);
    } finally {
      agent.destroy();
      await replica.kill();
    }
  });

  it("exits at once, with 128 + the signal's number, on a second signal", async () => {
    const replica = await startReplica(await freePort(), { REDIS_URL: redis.url, DRAIN_DELAY_MS: "60000" });
    try {
      replica.child.kill("SIGTERM");
      await eventually("/readyz answers 503", async () => (await httpRequest(`${replica.url}/readyz`)).status === 503);
      const signalled = Date.now();
      replica.child.kill("SIGINT");
      const exit = await replica.exited;
      assert.equal(exit.code, 130, replica.stderr());
      assert.ok(exit.at - signalled < 5000, `exited ${exit.at - signalled} ms after the second signal`);
      assert.match(replica.stderr(), /SIGINT again: exiting now/);
    } finally {
      await replica.kill();
    }
  });
});
