import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connectRedis, type TrackerRedis } from "../src/store/redis.js";
import { activateTransfer, type TransferStore } from "../src/store/transfers.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { threeTransfersAtOnce } from "./helpers/budget.js";
import { announce, hexOf, peer, peersOf, randomInfoHash, spawnTracker } from "./helpers/tracker.js";

const CLIENTS = 500;
const REPLICAS = 3;

describe("election under concurrency", () => {
  let redis: TestRedis;
  let admin: TrackerRedis;
  let replicas: Array<Awaited<ReturnType<typeof spawnTracker>>> = [];

  before(async () => {
    redis = await startTestRedis();
    admin = await connectRedis({ url: redis.url, commandTimeoutMs: 5000 });
    const rackMap = join(mkdtempSync(join(tmpdir(), "p2ptracker-conc-")), "racks.txt");
    writeFileSync(rackMap, "10.50.0.0/16 bigrack\n10.60.0.0/16 other\n10.70.0.0/16 budgetrack\n");
    replicas = await Promise.all(
      Array.from({ length: REPLICAS }, () =>
        spawnTracker({
          P2PTRACKER_REDIS_URL: redis.url,
          P2PTRACKER_RACK_MAP: rackMap,
          P2PTRACKER_PROXYPASS: "true",
          P2PTRACKER_REDIS_TIMEOUT_MS: "10000",
        }),
      ),
    );
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await admin.close();
    await redis.close();
  });

  const maxRepr = 2; // the default MAX_REPR_RACK
  it(`${CLIENTS} concurrent first announces from one rack over ${REPLICAS} replicas elect exactly ${maxRepr}`, async () => {
    for (let round = 0; round < 3; round++) {
      const infoHash = randomInfoHash();
      const hex = hexOf(infoHash);
      await activateTransfer(admin as unknown as TransferStore, hex);
      const outsider = peer("10.60.0.1");
      await announce(replicas[0]!, infoHash, outsider);
      const clients = Array.from({ length: CLIENTS }, (_, i) => peer(`10.50.${1 + (i >> 8)}.${i & 255}`));
      const replies = await Promise.all(clients.map((c, i) => announce(replicas[i % REPLICAS]!, infoHash, c)));
      assert.equal(replies.filter((r) => r["failure reason"] !== undefined).length, 0);
      assert.equal(await redis.client.zCard(`{${hex}}:rack:bigrack:R`), maxRepr);
      assert.equal(await redis.client.zCard(`{${hex}}:RL`), maxRepr + 1, "two from bigrack, one from the other rack");
      assert.equal(await redis.client.hLen(`{${hex}}:peers`), CLIENTS + 1);
      assert.equal(await redis.client.hGet(`{${hex}}:info`, "leechers"), String(CLIENTS + 1));
      // Exactly the representatives were told about the other rack.
      const sawOutsider = replies.filter((r) => peersOf(r).some((p) => p.startsWith("10.60."))).length;
      assert.equal(sawOutsider, maxRepr);
    }
  });

  it(`3 transfers, ${CLIENTS} concurrent first announces each over ${REPLICAS} replicas: one uplink budget per rack`, async () => {
    const problems = await threeTransfersAtOnce(
      {
        redis: admin as never,
        announce: (i, infoHash, client) => announce(replicas[i % REPLICAS]!, infoHash, client),
        activate: async (hex) => void (await activateTransfer(admin as unknown as TransferStore, hex)),
      },
      "budgetrack",
      peer("10.60.0.1"),
      CLIENTS,
      maxRepr,
    );
    assert.deepEqual(problems, []);
  });
});
