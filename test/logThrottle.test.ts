import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { throttledLog } from "../src/observe/logThrottle.js";

describe("throttledLog", () => {
  it("writes a text once per period and reports the repeats with its next line", () => {
    const written: string[] = [];
    let now = 0;
    const log = throttledLog(
      (m) => written.push(m),
      10_000,
      () => now,
    );
    log("redis down");
    log("redis down");
    log("other");
    now = 5_000;
    log("redis down");
    assert.deepEqual(written, ["redis down", "other"]);
    now = 10_000;
    log("redis down");
    log("redis down");
    now = 20_001;
    log("redis down");
    assert.deepEqual(written, [
      "redis down",
      "other",
      "redis down (and 2 more since its last line)",
      "redis down (and 1 more since its last line)",
    ]);
  });
});
