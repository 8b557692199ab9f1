import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decode, httpRequest, text } from "./helpers/http.js";
import { SCRIPTS } from "../src/store/scripts.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import {
  announce,
  announceQuery,
  peer,
  peersOf,
  randomInfoHash,
  startTestTracker,
  type TestPeer,
  type TestTracker,
} from "./helpers/tracker.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("resilience", () => {
  let redis: TestRedis;
  let tracker: TestTracker;

  before(async () => {
    redis = await startTestRedis();
    tracker = await startTestTracker(redis, { AUTO_ACTIVATE: "true", REDIS_TIMEOUT_MS: "500" });
  });
  after(async () => {
    await tracker.close();
    await redis.close();
  });

  /** Announces every 100 ms for up to 10 s until the tracker serves it; the last reply. */
  async function announceUntilServed(infoHash: Uint8Array, client: TestPeer): Promise<Record<string, unknown>> {
    let reply: Record<string, unknown> = {};
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(100)) {
      reply = await announce(tracker, infoHash, client);
      if (reply["failure reason"] === undefined) break;
    }
    return reply;
  }

  it("recovers from SCRIPT FLUSH (NOSCRIPT) transparently", async () => {
    const infoHash = randomInfoHash();
    const first = peer("10.70.0.1");
    await announce(tracker, infoHash, first);
    await redis.client.scriptFlush();
    const reply = await announce(tracker, infoHash, peer("10.70.0.2"));
    assert.equal(reply["failure reason"], undefined);
    assert.deepEqual(peersOf(reply), [`10.70.0.1:${first.port}`]);
    assert.deepEqual(await redis.client.scriptExists([SCRIPTS.announce.SHA1]), [1], "the script was loaded again");
  });

  it("fails fast with a bencoded failure while Redis is down, and recovers without a restart", async () => {
    const infoHash = randomInfoHash();
    await redis.stopServer();
    try {
      const started = Date.now();
      const response = await httpRequest(`${tracker.url}/announce?${announceQuery(infoHash, peer("10.71.0.1"))}`, {
        headers: { "X-Forwarded-For": "10.71.0.1" },
      });
      const elapsed = Date.now() - started;
      assert.equal(response.status, 200);
      const failure = decode(response.body);
      assert.match(text(failure["failure reason"]), /storage unavailable/);
      assert.ok(elapsed < 2000, `failure took ${elapsed} ms`);
    } finally {
      await redis.startServer();
    }
    const reply = await announceUntilServed(infoHash, peer("10.71.0.2"));
    assert.equal(reply["failure reason"], undefined, "announces work again once Redis is back");
  });

  it("times out on a Redis that hangs, then recovers when it resumes", async () => {
    const infoHash = randomInfoHash();
    await announce(tracker, infoHash, peer("10.72.0.1"));
    process.kill(redis.pid(), "SIGSTOP");
    try {
      const started = Date.now();
      const reply = await announce(tracker, infoHash, peer("10.72.0.2"));
      const elapsed = Date.now() - started;
      assert.match(text(reply["failure reason"]), /storage unavailable/);
      assert.ok(elapsed < 2000, `failure took ${elapsed} ms`);
    } finally {
      process.kill(redis.pid(), "SIGCONT");
    }
    const reply = await announceUntilServed(infoHash, peer("10.72.0.3"));
    assert.equal(reply["failure reason"], undefined);
  });
});
