import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "redis";
import { ConfigError, parseSettings } from "../src/config/config.js";
import { api, TEST_TOKEN } from "./helpers/api.js";
import { decode, httpRequest, text } from "./helpers/http.js";
import {
  DOWN_AFTER_MS,
  FAILOVER_TIMEOUT_MS,
  startSentinelTopology,
  type SentinelTopology,
} from "./helpers/sentinel.js";
import {
  addressOf,
  announce,
  announceQuery,
  hexOf,
  peer,
  peersOf,
  randomInfoHash,
  startTestTracker,
  type TestPeer,
  type TestTracker,
} from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";

const TIMEOUT_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A timer for Promise.race that does not keep the test process alive once the race is won. */
const lapse = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

describe("REDIS_SENTINELS settings", () => {
  const parse = (settings: Record<string, string>) =>
    parseSettings([new Map(Object.entries(settings).map(([k, value]) => [k, { value, source: "test" }]))]);

  it("takes host:port items, IPv6 in brackets, and turns off the embedded Redis", () => {
    const config = parse({ REDIS_SENTINELS: "10.0.0.1:26379, [fd00::2]:26380" });
    assert.deepEqual(config.REDIS_SENTINELS, [
      { host: "10.0.0.1", port: 26379 },
      { host: "fd00::2", port: 26380 },
    ]);
    assert.equal(config.REDIS_SENTINEL_NAME, "mymaster");
    assert.equal(config.EMBEDDED_REDIS, false);
  });

  it("refuses bad items and a second way to name Redis, with the key named", () => {
    assert.throws(() => parse({ REDIS_SENTINELS: "10.0.0.1" }), /REDIS_SENTINELS = "10.0.0.1".*host:port/);
    assert.throws(() => parse({ REDIS_SENTINELS: "10.0.0.1:99999" }), /REDIS_SENTINELS/);
    assert.throws(
      () => parse({ REDIS_SENTINELS: "10.0.0.1:26379", REDIS_URL: "redis://10.0.0.5:6379" }),
      (error: Error) => error instanceof ConfigError && /REDIS_SENTINELS.*REDIS_URL/.test(error.message),
    );
    assert.throws(() => parse({ REDIS_SENTINELS: "10.0.0.1:26379", REDISHOST: "10.0.0.5" }), ConfigError);
  });
});

// A primary that dies closes its connections; one that hangs (SIGSTOP) leaves them open
// and silent, so the tracker can only tell by the lack of answers.
for (const how of ["kill -9", "SIGSTOP"] as const) {
  describe(`Redis Sentinel failover: primary stopped with ${how}`, () => {
    let topology: SentinelTopology;
    let tracker: TestTracker;

    before(async () => {
      topology = await startSentinelTopology();
      // An empty url leaves REDIS_URL unset: the sentinels name the primary.
      tracker = await startTestTracker(
        { url: "" },
        {
          REDIS_SENTINELS: topology.sentinels,
          REDIS_SENTINEL_NAME: topology.name,
          REDIS_TIMEOUT_MS: String(TIMEOUT_MS),
          ADMIN_TOKEN: TEST_TOKEN,
        },
      );
    });
    after(async () => {
      await tracker?.close();
      await topology?.close();
    });

    it(
      "refuses to start, saying why, when the sentinels know no primary by that name",
      { skip: how !== "kill -9" },
      async () => {
        await assert.rejects(
          startTestTracker({ url: "" }, { REDIS_SENTINELS: topology.sentinels, REDIS_SENTINEL_NAME: "no-such-name" }),
          /cannot reach a Redis primary through sentinel no-such-name via 127\.0\.0\.1:\d+.*No such master with that name/,
        );
      },
    );

    /** One announce, its latency, and whether it failed; a reply slower than 5 s fails the test. */
    async function timedAnnounce(infoHash: Uint8Array, client: TestPeer) {
      const started = Date.now();
      const response = await Promise.race([
        httpRequest(`${tracker.url}/announce?${announceQuery(infoHash, client)}`, {
          headers: { "X-Forwarded-For": client.ip },
        }),
        lapse(5000).then(() => {
          throw new Error("an announce hung for 5 s");
        }),
      ]);
      const ms = Date.now() - started;
      assert.equal(response.status, 200);
      const reply = decode(response.body);
      const failure = reply["failure reason"] === undefined ? undefined : text(reply["failure reason"]);
      return { ms, reply, failure };
    }

    it("follows the promoted replica, failing fast with a bencoded reason in between", async () => {
      const infoHash = randomInfoHash();
      const H = hexOf(infoHash);
      assert.equal((await api(tracker.url, "POST", `/transfers/${H}`, { token: TEST_TOKEN })).status, 201);
      const before = [peer("10.80.1.1"), peer("10.80.1.2"), peer("10.80.2.1")];
      for (const client of before)
        assert.equal((await announce(tracker, infoHash, client))["failure reason"], undefined);
      assert.equal((await httpRequest(`${tracker.url}/readyz`)).status, 200);

      // The swarm must be on the replica before the primary dies, as in any failover.
      const replica = createClient({
        socket: { port: topology.replicaPort, host: "127.0.0.1", reconnectStrategy: false },
      });
      replica.on("error", () => undefined);
      await replica.connect();
      try {
        await eventually("the replica holds the swarm", async () => (await replica.hLen(`{${H}}:peers`)) === 3);
      } finally {
        replica.destroy();
      }

      if (how === "kill -9") topology.killPrimary();
      else topology.hangPrimary();
      const killedAt = Date.now();
      // The API fails fast too (503), rather than waiting for the sentinels.
      await sleep(200);
      const apiStarted = Date.now();
      const during = await Promise.race([
        api(tracker.url, "GET", `/transfers/${H}`),
        lapse(5000).then(() => undefined),
      ]);
      const apiMs = Date.now() - apiStarted;
      assert.equal(during?.status, 503, `the API answered ${during?.status ?? "nothing"} after ${apiMs} ms`);
      assert.ok(apiMs < TIMEOUT_MS + 1000, `the API answered after ${apiMs} ms`);
      const periodic = before[0]!;
      const failures: number[] = [];
      let sawNotReady = false;
      let recoveredAt: number | undefined;
      const limit = DOWN_AFTER_MS + FAILOVER_TIMEOUT_MS + 10_000;
      while (Date.now() - killedAt < limit) {
        const { ms, failure } = await timedAnnounce(infoHash, periodic);
        if (failure === undefined) {
          if (failures.length > 0) {
            recoveredAt = Date.now();
            break;
          }
        } else {
          assert.match(failure, /tracker storage unavailable/);
          failures.push(ms);
        }
        if ((await httpRequest(`${tracker.url}/readyz`)).status === 503) sawNotReady = true;
        await sleep(100);
      }
      const maxMs = Math.max(...failures);
      console.log(
        `sentinel failover (${how}): ${failures.length} failed announces, slowest ${maxMs} ms, ` +
          `served again ${recoveredAt === undefined ? "never" : `${recoveredAt - killedAt} ms`} after the primary stopped`,
      );
      assert.ok(failures.length > 0, "announces fail while no primary answers");
      assert.ok(maxMs < TIMEOUT_MS + 1000, `every failure came within the timeout (slowest ${maxMs} ms)`);
      assert.ok(recoveredAt !== undefined, `announces work again within ${limit} ms of the kill`);
      assert.ok(sawNotReady, "/readyz said 503 while no primary answered");
      assert.equal(await topology.currentPrimaryPort(), topology.replicaPort, "the sentinels promoted the replica");

      // The transfer and its swarm, written before the kill, are on the new primary.
      const late = peer("10.80.1.3");
      const reply = await announce(tracker, infoHash, late);
      assert.equal(reply["failure reason"], undefined);
      assert.deepEqual(peersOf(reply).sort(), [addressOf(before[0]!), addressOf(before[1]!)].sort());
      // The API has a connection of its own, which notices the new primary by itself.
      let transfer = await api(tracker.url, "GET", `/transfers/${H}`);
      await eventually("the API answers again", async () => {
        transfer = await api(tracker.url, "GET", `/transfers/${H}`);
        return transfer.status === 200;
      });
      assert.equal(transfer.json.active, true);
      assert.equal(transfer.json.peers, 4);
      await eventually("/readyz is 200 again", async () => (await httpRequest(`${tracker.url}/readyz`)).status === 200);
    });
  });
}
