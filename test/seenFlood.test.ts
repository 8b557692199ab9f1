import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { announce, hexOf, peer, randomInfoHash, trackerFixture } from "./helpers/tracker.js";

const SEEN_MAX = 1000;
const WORKERS = 16;

/** Announces `count` random, unregistered info hashes, WORKERS at a time. */
async function flood(tracker: { url: string }, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (next++ < count) await announce(tracker, randomInfoHash(), peer(`10.70.${next % 200}.${next % 250}`));
    }),
  );
}

describe("announces of unknown info hashes cost bounded memory", () => {
  const f = trackerFixture({ SEEN_MAX: String(SEEN_MAX) });

  const measure = async () => {
    const info = await f.redis.client.info("memory");
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)![1]);
    return {
      keys: await f.redis.client.dbSize(),
      seen: await f.redis.client.zCard("transfers:seen"),
      seenBytes: (await f.redis.client.memoryUsage("transfers:seen")) ?? 0,
      dataset: field("used_memory_dataset"),
    };
  };

  it("keeps at most SEEN_MAX hashes, the newest, and Redis memory flat past it", async () => {
    // Hashes seen long ago (scores 1..SEEN_MAX): the flood must push out these first.
    const old = Array.from({ length: SEEN_MAX }, (_, i) => ({ score: i + 1, value: hexOf(randomInfoHash()) }));
    await f.redis.client.zAdd("transfers:seen", old);
    await flood(f.tracker, 3 * SEEN_MAX);
    const full = await measure();
    assert.equal(full.seen, SEEN_MAX);
    const kept = await f.redis.client.zmScore(
      "transfers:seen",
      old.map((o) => o.value),
    );
    assert.deepEqual(
      kept.filter((score) => score !== null),
      [],
      "the least recently seen went first",
    );
    const flooded = 12 * SEEN_MAX;
    await flood(f.tracker, flooded);
    const after = await measure();
    assert.equal(after.seen, SEEN_MAX, "the index stays at SEEN_MAX");
    assert.equal(after.keys, full.keys, "no key was added");
    // Kept, the flood's hashes would cost what a seen entry costs, each (about 100 bytes):
    // flat means Redis grew by less than a tenth of that (the allocator's churn as the
    // index turns over is the rest).
    const perEntry = full.seenBytes / SEEN_MAX;
    const unbounded = flooded * perEntry;
    const growth = after.dataset - full.dataset;
    assert.ok(
      growth < unbounded / 10,
      `dataset grew by ${growth} bytes over ${flooded} unknown hashes (kept, they would cost ${Math.round(unbounded)})`,
    );
    assert.ok(Math.abs(after.seenBytes - full.seenBytes) < full.seenBytes / 5, "the index's own size holds");
  });
});
