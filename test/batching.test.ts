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

  it("with a linger, an idle call waits that long for others and they go together; busy, calls wait for the batch", async () => {
    const { target, calls } = controlledTarget();
    const sizes: number[] = [];
    const { call } = batchedWhileBusy(target, ["call"], (n) => sizes.push(n), 30);
    const a = call(1);
    const b = call(2);
    await tick();
    assert.equal(calls.length, 0, "nothing sent before the linger is over");
    await new Promise((done) => setTimeout(done, 40));
    assert.deepEqual(
      calls.map((x) => x.arg),
      [1, 2],
      "sent together after the linger",
    );
    const c = call(3);
    await new Promise((done) => setTimeout(done, 40));
    assert.deepEqual(
      calls.map((x) => x.arg),
      [1, 2],
      "3 waits for the batch in flight, past the linger",
    );
    calls[0]!.resolve(10);
    calls[1]!.resolve(20);
    await tick();
    assert.deepEqual(
      calls.map((x) => x.arg),
      [1, 2, 3],
      "3 goes as soon as the batch returned",
    );
    calls[2]!.resolve(30);
    assert.deepEqual([await a, await b, await c], [10, 20, 30]);
    assert.deepEqual(sizes, [2, 1]);
  });

  it("a linger of 0 gathers the calls of one turn of the event loop", async () => {
    const { target, calls } = controlledTarget();
    const { call } = batchedWhileBusy(target, ["call"], () => undefined, 0);
    const pending = [call(1), call(2), call(3)];
    assert.equal(calls.length, 0);
    await tick();
    assert.deepEqual(
      calls.map((x) => x.arg),
      [1, 2, 3],
    );
    calls.forEach((x) => x.resolve(x.arg));
    assert.deepEqual(await Promise.all(pending), [1, 2, 3]);
  });
});
