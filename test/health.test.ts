import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { httpRequest } from "./helpers/http.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { startTestTracker, type TestTracker } from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";

describe("health checks", () => {
  let redis: TestRedis;
  let tracker: TestTracker;
  before(async () => {
    redis = await startTestRedis();
    tracker = await startTestTracker(redis);
  });
  after(async () => {
    await tracker.close();
    await redis.close();
  });

  it("reports ready while Redis is up, and not ready (503) while it is down; liveness never depends on it", async () => {
    assert.equal((await httpRequest(`${tracker.url}/readyz`)).status, 200);
    assert.equal((await httpRequest(`${tracker.url}/healthz`)).status, 200);
    await redis.stopServer();
    await eventually("/readyz turns 503", async () => {
      const ready = await httpRequest(`${tracker.url}/readyz`);
      return ready.status === 503 && /redis unreachable/.test(ready.body.toString());
    });
    assert.equal((await httpRequest(`${tracker.url}/healthz`)).status, 200);
    await redis.startServer();
    await eventually(
      "/readyz turns 200 again",
      async () => (await httpRequest(`${tracker.url}/readyz`)).status === 200,
    );
  });

  it("reports not ready once draining starts", async () => {
    tracker.readiness.startDraining();
    const ready = await httpRequest(`${tracker.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(ready.body.toString(), /draining/);
    assert.equal((await httpRequest(`${tracker.url}/healthz`)).status, 200);
  });
});
