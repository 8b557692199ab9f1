import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { after, before, describe, it } from "node:test";
import { connectRedis, type TrackerRedis } from "../src/store/redis.js";
import { activateTransfer, type TransferStore } from "../src/store/transfers.js";
import { decode, text, type Decoded } from "./helpers/http.js";
import { summarize } from "./helpers/latency.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { announceQuery, hexOf, peer, randomInfoHash, spawnTracker, type TestPeer } from "./helpers/tracker.js";

const SEEN_MAX = 1000;
/** Distinct unknown info hashes the flood announces, 20 times SEEN_MAX. */
const FLOODED = 20_000;
/** Concurrent flood connections (kept alive) and ordinary clients announcing meanwhile. */
const FLOODERS = 64;
const ORDINARY_WORKERS = 4;
const SWARM = 200;

/** Announces over a kept-alive connection of `agent`, as `p` behind the trusted proxy. */
function announceVia(agent: Agent, url: string, infoHash: Uint8Array, p: TestPeer): Promise<Decoded> {
  return new Promise((done, fail) => {
    const req = request(
      `${url}/announce?${announceQuery(infoHash, p)}`,
      { agent, headers: { "X-Forwarded-For": p.ip } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          res.statusCode === 200 ? done(decode(Buffer.concat(chunks))) : fail(new Error(`HTTP ${res.statusCode}`)),
        );
        res.on("error", fail);
      },
    );
    req.on("error", fail);
    req.end();
  });
}

describe("a flood of announces for unknown info hashes, under load", () => {
  let redis: TestRedis;
  let admin: TrackerRedis;
  let tracker: Awaited<ReturnType<typeof spawnTracker>>;
  const agent = new Agent({ keepAlive: true, maxSockets: FLOODERS + ORDINARY_WORKERS });

  before(async () => {
    redis = await startTestRedis();
    admin = await connectRedis({ url: redis.url, commandTimeoutMs: 5000 });
    tracker = await spawnTracker({
      P2PTRACKER_REDIS_URL: redis.url,
      P2PTRACKER_PROXYPASS: "true",
      P2PTRACKER_SEEN_MAX: String(SEEN_MAX),
    });
  });
  after(async () => {
    agent.destroy();
    await tracker.stop();
    await admin.close();
    await redis.close();
  });

  const measure = async () => {
    const info = await redis.client.info("memory");
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)![1]);
    return {
      keys: await redis.client.dbSize(),
      seen: await redis.client.zCard("transfers:seen"),
      seenBytes: (await redis.client.memoryUsage("transfers:seen")) ?? 0,
      usedMemory: field("used_memory"),
      dataset: field("used_memory_dataset"),
    };
  };

  /** Announces `count` fresh random info hashes, FLOODERS at a time. */
  const flood = async (count: number) => {
    let next = 0;
    let failures = 0;
    await Promise.all(
      Array.from({ length: FLOODERS }, async () => {
        while (next++ < count) {
          const reply = await announceVia(
            agent,
            tracker.url,
            randomInfoHash(),
            peer(`10.70.${next % 200}.${next % 250}`),
          );
          if (!/not registered/.test(text(reply["warning message"] ?? ""))) failures++;
        }
      }),
    );
    return failures;
  };

  it(`keeps Redis flat over ${FLOODED} unknown hashes while a registered transfer's announces all succeed`, async () => {
    const infoHash = randomInfoHash();
    await activateTransfer(admin as unknown as TransferStore, hexOf(infoHash), "load", "1000");
    const swarm = Array.from({ length: SWARM }, (_, i) => peer(`10.71.${i >> 6}.${i & 63}`));
    const ordinary = async (i: number) => {
      const start = performance.now();
      const reply = await announceVia(agent, tracker.url, infoHash, swarm[i % SWARM]!);
      return { ms: performance.now() - start, failure: reply["failure reason"] };
    };
    // The swarm is whole and the seen index full before the baseline.
    for (let i = 0; i < SWARM; i++) assert.equal((await ordinary(i)).failure, undefined);
    assert.equal(await flood(2 * SEEN_MAX), 0);
    const full = await measure();
    assert.equal(full.seen, SEEN_MAX);

    let flooding = true;
    const latencies: number[] = [];
    const failures: unknown[] = [];
    let n = 0;
    const ordinaryLoad = Promise.all(
      Array.from({ length: ORDINARY_WORKERS }, async () => {
        while (flooding) {
          const { ms, failure } = await ordinary(n++);
          latencies.push(ms);
          if (failure !== undefined) failures.push(text(failure));
        }
      }),
    );
    const started = performance.now();
    const floodFailures = await flood(FLOODED);
    const seconds = (performance.now() - started) / 1000;
    flooding = false;
    await ordinaryLoad;
    const after = await measure();

    const perEntry = full.seenBytes / SEEN_MAX;
    const unbounded = Math.round(FLOODED * perEntry);
    const report =
      `${FLOODED} unknown hashes in ${seconds.toFixed(1)} s (${Math.round(FLOODED / seconds)}/s) ` +
      `with ${latencies.length} ordinary announces ${JSON.stringify(summarize(latencies))}; ` +
      `keys ${full.keys} -> ${after.keys}, seen ${full.seen} -> ${after.seen}, ` +
      `used_memory ${full.usedMemory} -> ${after.usedMemory}, dataset ${full.dataset} -> ${after.dataset} ` +
      `(kept, the hashes would cost about ${unbounded} bytes)`;
    console.log(report);

    assert.equal(floodFailures, 0, `every flood announce was told its hash is not registered: ${report}`);
    assert.deepEqual(failures, [], `every ordinary announce succeeded: ${report}`);
    assert.ok(latencies.length >= 100, `ordinary announces ran all along: ${report}`);
    assert.equal(after.keys, full.keys, `no key was added: ${report}`);
    assert.equal(after.seen, SEEN_MAX, `the seen index stays at SEEN_MAX: ${report}`);
    assert.equal(await redis.client.hLen(`{${hexOf(infoHash)}}:peers`), SWARM, "the swarm is whole");
    // Flat: Redis grew by far less than keeping the flood's hashes would cost. used_memory
    // also holds client buffers, which the load leaves bigger or smaller: a looser bound.
    assert.ok(after.dataset - full.dataset < unbounded / 10, `the dataset stays flat: ${report}`);
    assert.ok(after.usedMemory - full.usedMemory < unbounded / 4, `used_memory stays flat: ${report}`);
  });
});
