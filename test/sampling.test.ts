import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { transferKeys, type TransferKeys } from "../src/store/keys.js";
import { connectRedis, scriptRunner, type TrackerRedis } from "../src/store/redis.js";
import { runActivate, type AnnounceRequest, type ScriptRunner } from "../src/store/scripts.js";
import { announceWithBudget } from "../src/store/rackBudget.js";
import { SCRIPT_POLICY } from "./helpers/policy.js";
import { assertUniform, drawRequest, tallyDraws } from "./helpers/draws.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { hexOf, randomInfoHash } from "./helpers/tracker.js";

// The announce script must pick peers uniformly among the eligible members of the pools
// it draws from, whatever their sizes and however many excluded members they hold
// (helpers/draws.ts: fixed seeds, bounds of ±5 standard deviations).

const POLICY = SCRIPT_POLICY;
const request = drawRequest;

describe("peer sampling in the announce script", () => {
  let redis: TestRedis;
  let admin: TrackerRedis;
  let runner: ScriptRunner;

  before(async () => {
    redis = await startTestRedis();
    admin = await connectRedis({ url: redis.url, commandTimeoutMs: 2000 });
    runner = scriptRunner(admin);
  });
  after(async () => {
    await admin.close();
    await redis.close();
  });

  async function join(keys: TransferKeys, ip: string, rack: string, left = 100n) {
    // Through the rack budget, as the tracker does: the first leechers of a rack get its leases.
    return (await announceWithBudget(runner, keys.info.slice(1, 41), request(ip, rack, left, 0), POLICY, 1)).result;
  }

  const tally = (keys: TransferKeys, client: AnnounceRequest, never: ReadonlySet<string>) =>
    tallyDraws(runner, keys.info.slice(1, 41), client, never, POLICY);

  it("a member gets a uniform sample of its rack's leechers and seeders", async () => {
    const keys = transferKeys(hexOf(randomInfoHash()));
    await runActivate(runner, keys, "t", "1");
    const rack = "rack-m";
    const leechers = Array.from({ length: 21 }, (_, i) => `10.1.0.${i + 1}`);
    const seeders = Array.from({ length: 9 }, (_, i) => `10.1.1.${i + 1}`);
    for (const ip of leechers) await join(keys, ip, rack);
    for (const ip of seeders) await join(keys, ip, rack, 0n);
    const client = request(leechers[20]!, rack, 100n, 5);
    const counts = await tally(keys, client, new Set([leechers[20]!]));
    assertUniform(counts, [...leechers.slice(0, 20), ...seeders], 5);
  });

  it("a member's split between leechers and seeders is exact on average when a pool is small", async () => {
    // 3 eligible leechers and 1 seeder, 2 wanted: the leechers' share is 1.5, so a split that
    // rounded it either way would always or never return the seeder instead of half the time.
    const keys = transferKeys(hexOf(randomInfoHash()));
    await runActivate(runner, keys, "t", "1");
    const rack = "rack-s";
    const leechers = ["10.4.0.1", "10.4.0.2", "10.4.0.3", "10.4.0.4"];
    for (const ip of leechers) await join(keys, ip, rack);
    await join(keys, "10.4.1.1", rack, 0n);
    const client = request(leechers[3]!, rack, 100n, 2);
    const counts = await tally(keys, client, new Set([leechers[3]!]));
    assertUniform(counts, [...leechers.slice(0, 3), "10.4.1.1"], 2);
  });

  it("a representative gets a uniform sample of other racks' representatives and the origins", async () => {
    const keys = transferKeys(hexOf(randomInfoHash()));
    await runActivate(runner, keys, "t", "1");
    // Origins first, so they are origins (complete at their first announce), not reps.
    const origins = ["10.2.99.1", "10.2.99.2", "10.2.99.3"];
    for (const ip of origins) await join(keys, ip, "rack-origins", 0n);
    // 8 racks: 2 leeching representatives each in racks 0-5 (RL), 2 seeding ones in 6-7 (RS),
    // and a third client per rack that is a member, never an outside peer.
    const outside: string[] = [];
    const members: string[] = [];
    for (let r = 0; r < 8; r++) {
      for (let h = 1; h <= 3; h++) {
        const ip = `10.2.${r}.${h}`;
        const role = (await join(keys, ip, `rack-${r}`)).role;
        if (r >= 6) await join(keys, ip, `rack-${r}`, 0n);
        (h <= 2 ? outside : members).push(ip);
        assert.equal(role, h <= 2 ? "rep" : "member", ip);
      }
    }
    // The client's rack mate is a representative too: it must not come back as an outside peer.
    const client = request("10.2.50.1", "rack-client", 100n, 6);
    assert.equal((await join(keys, "10.2.50.2", "rack-client")).role, "rep");
    const joined = await announceWithBudget(runner, keys.info.slice(1, 41), { ...client, numwant: 0 }, POLICY, 1);
    assert.equal(joined.result.role, "rep");
    const counts = await tally(keys, client, new Set([...members, "10.2.50.1", "10.2.50.2"]));
    assertUniform(counts, [...outside, ...origins], 6);
  });
});
