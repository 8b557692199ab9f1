import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { announce, peer, randomInfoHash, spawnTracker } from "./helpers/tracker.js";
import { summarize, timeCallsFor } from "./helpers/latency.js";
import { startSlowloris } from "./helpers/slowloris.js";

/** Slow-header connections held open at once, as the reporter tried (3,000). */
const ATTACKERS = 3000;
/** Spread over 20 loopback addresses, each under the per-address cap (256). */
const ADDRESSES = Array.from({ length: 20 }, (_, i) => `127.0.10.${i + 1}`);
const HEADERS_TIMEOUT_MS = 2000;
/** One header byte this often: alive enough for any per-read idle timer. */
const TRICKLE_MS = 1000;
/** Ordinary announces are timed this long before and during the attack, this many at a time. */
const TIMING_MS = 8000;
const ANNOUNCE_WORKERS = 4;

describe("slow-header clients (slowloris)", () => {
  let redis: TestRedis;
  let tracker: Awaited<ReturnType<typeof spawnTracker>>;

  before(async () => {
    redis = await startTestRedis();
    tracker = await spawnTracker({
      P2PTRACKER_REDIS_URL: redis.url,
      P2PTRACKER_AUTO_ACTIVATE: "true",
      P2PTRACKER_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    });
  });
  after(async () => {
    await tracker.stop();
    await redis.close();
  });

  it(`cuts off ${ATTACKERS} of them within the headers timeout while announces keep their latency`, async () => {
    const infoHash = randomInfoHash();
    const peers = Array.from({ length: 50 }, (_, i) => peer(`10.80.0.${i + 1}`));
    const ordinary = (ms: number) =>
      timeCallsFor(ms, ANNOUNCE_WORKERS, async (i) => {
        const reply = await announce(tracker, infoHash, peers[i % peers.length]!);
        assert.equal(reply["failure reason"], undefined);
      });
    await ordinary(1000); // warm-up: JIT, connections to Redis
    const before = summarize(await ordinary(TIMING_MS));

    const attack = await startSlowloris({
      port: Number(new URL(tracker.url).port),
      count: ATTACKERS,
      addresses: ADDRESSES,
      trickleMs: TRICKLE_MS,
      graceMs: HEADERS_TIMEOUT_MS + 8000,
    });
    await new Promise((r) => setTimeout(r, 3000));
    const openAtStart = await attack.open();
    const during = summarize(await ordinary(TIMING_MS));
    const seen = await attack.stop();

    const answered = summarize(seen.answeredAfter);
    const closed = summarize(seen.closedAfter);
    const [first, last] = [Math.min(...seen.answeredAfter), Math.max(...seen.answeredAfter)];
    const told = seen.replies.filter((r) => /^HTTP\/1\.1 200 [^]*request timed out/.test(r)).length;
    const report =
      `announces before ${JSON.stringify(before)}, during ${JSON.stringify(during)}; ` +
      `slow connections: ${seen.replies.length} cut (${seen.unanswered} closed unanswered), ` +
      `peak ${seen.peakOpen} open (${openAtStart} and ${seen.openAtStop} as the timing began and ended, ` +
      `${seen.leftOpen} left open); cut after ms p50 ${answered.p50} p99 ${answered.p99} ` +
      `min ${Math.round(first)} max ${Math.round(last)}; closed after the answer ms p50 ${closed.p50} ` +
      `p99 ${closed.p99}; ${told} answered "request timed out"`;
    console.log(report);

    assert.ok(seen.peakOpen >= ATTACKERS * 0.95, `the attack held its connections open: ${report}`);
    assert.ok(seen.openAtStop >= ATTACKERS * 0.8, `the attack lasted the timing: ${report}`);
    assert.ok(seen.replies.length >= 2 * ATTACKERS, `the attack went on as they were cut: ${report}`);
    assert.equal(seen.leftOpen, 0, `every slow connection was closed: ${report}`);
    assert.equal(seen.unanswered, 0, `no other limit closed them: ${report}`);
    assert.equal(told, seen.replies.length, `they were told why: ${report}`);
    // Cut by the headers timeout: not before it, and soon after (Node looks every 250 ms).
    assert.ok(first >= HEADERS_TIMEOUT_MS * 0.9, `none was cut before the timeout: ${report}`);
    assert.ok(last <= HEADERS_TIMEOUT_MS + 3000, `all were cut soon after the timeout: ${report}`);
    // The client learns of the reset at its next write or the one after.
    assert.ok(Math.max(...seen.closedAfter) <= 2 * TRICKLE_MS + 3000, `the tracker let go of them: ${report}`);
    // Generous margins: the attack and the timing share two busy cores.
    assert.ok(during.p50 <= Math.max(3 * before.p50, before.p50 + 20), `p50 held: ${report}`);
    assert.ok(during.p99 <= Math.max(5 * before.p99, before.p99 + 100), `p99 held: ${report}`);
  });
});
