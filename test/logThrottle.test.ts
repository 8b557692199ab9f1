import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { throttledLog } from "../src/observe/logThrottle.js";

describe("throttledLog", () => {
  it("writes a text once per period and reports the repeats with its next line", () => {
    const written: string[] = [];
    let now = 0;
    const log = throttledLog((m) => written.push(m), 10_000, { now: () => now });
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

  it("counts every text of one kind together when given the kind", () => {
    const written: string[] = [];
    let now = 0;
    const log = throttledLog((m) => written.push(m), 60_000, { now: () => now, kindOf: () => "cap" });
    log("refused: 127.0.0.2");
    log("refused: 127.0.0.3");
    now = 60_000;
    log("refused: 127.0.0.4");
    assert.deepEqual(written, ["refused: 127.0.0.2", "refused: 127.0.0.4 (and 1 more since its last line)"]);
  });
});
