import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { httpRequest } from "./helpers/http.js";
import { trackerFixture } from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";

describe("health checks", () => {
  const f = trackerFixture();

  it("reports ready while Redis is up, and not ready (503) while it is down; liveness never depends on it", async () => {
    assert.equal((await httpRequest(`${f.tracker.url}/readyz`)).status, 200);
    assert.equal((await httpRequest(`${f.tracker.url}/healthz`)).status, 200);
    await f.redis.stopServer();
    await eventually("/readyz turns 503", async () => {
      const ready = await httpRequest(`${f.tracker.url}/readyz`);
      return ready.status === 503 && /redis unreachable/.test(ready.body.toString());
    });
    assert.equal((await httpRequest(`${f.tracker.url}/healthz`)).status, 200);
    await f.redis.startServer();
    await eventually(
      "/readyz turns 200 again",
      async () => (await httpRequest(`${f.tracker.url}/readyz`)).status === 200,
    );
  });

  it("reports not ready once draining starts", async () => {
    f.tracker.readiness.startDraining();
    const ready = await httpRequest(`${f.tracker.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(ready.body.toString(), /draining/);
    assert.equal((await httpRequest(`${f.tracker.url}/healthz`)).status, 200);
  });
});
