import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { announce, hexOf, peer, peersOf, randomInfoHash, startTestTracker } from "./helpers/tracker.js";

describe("indexes of earlier versions are moved at startup", () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.close();
  });

  it("active_transfers becomes transfers:active by registration time; the unbounded transfers set goes", async () => {
    const infoHash = randomInfoHash();
    const hex = hexOf(infoHash);
    await redis.client.hSet(`{${hex}}:info`, { active: "1", registered: "1700000000" });
    await redis.client.sAdd("active_transfers", hex);
    await redis.client.sAdd("transfers", [hex, hexOf(randomInfoHash()), hexOf(randomInfoHash())]);
    const tracker = await startTestTracker(redis);
    try {
      assert.equal(await redis.client.exists(["active_transfers", "transfers"]), 0);
      assert.deepEqual(await redis.client.zRangeWithScores("transfers:active", 0, -1), [
        { value: hex, score: 1700000000 },
      ]);
      await announce(tracker, infoHash, peer("10.90.0.1"));
      assert.equal(peersOf(await announce(tracker, infoHash, peer("10.90.0.2"))).length, 1, "still active");
      const scrape = await fetch(`${tracker.url}/scrape`);
      assert.ok(Buffer.from(await scrape.arrayBuffer()).includes(Buffer.from(infoHash)), "in the full scrape");
    } finally {
      await tracker.close();
    }
  });
});
