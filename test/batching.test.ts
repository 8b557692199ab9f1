import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { batchedWhileBusy } from "../src/store/batching.js";

/** A target whose calls stay pending until the test settles them, in order of arrival. */
function controlledTarget() {
  const calls: Array<{ arg: number; resolve(v: number): void; reject(e: Error): void }> = [];
  const target = {
    call(arg: number): Promise<number> {
      if (arg < 0) throw new Error(`refused ${arg}`);
      return new Promise((resolve, reject) => calls.push({ arg, resolve, reject }));
    },
  };
  return { target, calls };
}

const tick = () => new Promise((done) => setImmediate(done));

describe("batchedWhileBusy", () => {
  it("sends a call at once when nothing is in flight", async () => {
    const { target, calls } = controlledTarget();
    const { call } = batchedWhileBusy(target, ["call"]);
    const first = call(1);
    assert.deepEqual(
      calls.map((c) => c.arg),
      [1],
    );
    calls[0]!.resolve(10);
    assert.equal(await first, 10);
    const second = call(2);
    assert.deepEqual(
      calls.map((c) => c.arg),
      [1, 2],
      "sent at once again after the first returned",
    );
    calls[1]!.resolve(20);
    assert.equal(await second, 20);
  });

  it("holds calls made while others are in flight, then sends them together, in order", async () => {
    const { target, calls } = controlledTarget();
    const { call } = batchedWhileBusy(target, ["call"]);
    const a = call(1);
    const b = call(2);
    await tick();
    const c = call(3);
    const cFails = assert.rejects(c, /three failed/, "each caller gets its own call's outcome");
    await tick();
    assert.deepEqual(
      calls.map((x) => x.arg),
      [1],
      "2 and 3 wait while 1 is in flight",
    );
    calls[0]!.resolve(10);
    await tick();
    assert.deepEqual(
      calls.map((x) => x.arg),
      [1, 2, 3],
      "sent together once 1 returned",
    );
    const d = call(4);
    calls[1]!.resolve(20);
    await tick();
    assert.deepEqual(
      calls.map((x) => x.arg),
      [1, 2, 3],
      "4 waits for the whole batch, not only for 2",
    );
    calls[2]!.reject(new Error("three failed"));
    await tick();
    assert.deepEqual(
      calls.map((x) => x.arg),
      [1, 2, 3, 4],
    );
    calls[3]!.resolve(40);
    assert.equal(await a, 10);
    assert.equal(await b, 20);
    await cFails;
    assert.equal(await d, 40);
  });

  it("a call that throws at once rejects and leaves nothing stuck", async () => {
    const { target, calls } = controlledTarget();
    const { call } = batchedWhileBusy(target, ["call"]);
    await assert.rejects(call(-1), /refused -1/);
    const next = call(5);
    assert.deepEqual(
      calls.map((x) => x.arg),
      [5],
      "nothing counts as in flight after the throw",
    );
    calls[0]!.resolve(50);
    assert.equal(await next, 50);
  });
});
