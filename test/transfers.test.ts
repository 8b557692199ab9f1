import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connectRedis, loadScripts, type TrackerRedis } from "../src/store/redis.js";
import { archiveTransfer, registerTransfer, type TransferStore } from "../src/store/transfers.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { eventually } from "./helpers/wait.js";
import { hexOf, randomInfoHash } from "./helpers/tracker.js";

/**
 * A replica whose index writes (zAdd, zRem) wait for `release()`: its script runs at once,
 * so another replica's whole operation can land between the script and the index update.
 */
function heldReplica(redis: TrackerRedis) {
  const store = redis as unknown as TransferStore;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held: TransferStore = {
    announce: store.announce.bind(store),
    lease: store.lease.bind(store),
    sweep: store.sweep.bind(store),
    register: store.register.bind(store),
    archive: store.archive.bind(store),
    seen: store.seen.bind(store),
    hGet: store.hGet.bind(store),
    zRemRangeByScore: store.zRemRangeByScore.bind(store),
    zAdd: async (...args) => gate.then(() => store.zAdd(...args)),
    zRem: async (...args) => gate.then(() => store.zRem(...args)),
  };
  return { store: held, release };
}

describe("registering and archiving one transfer from two replicas at once", () => {
  let redis: TestRedis;
  let replicas: TrackerRedis[];
  before(async () => {
    redis = await startTestRedis();
    replicas = await Promise.all([1, 2].map(() => connectRedis({ url: redis.url, commandTimeoutMs: 2000 })));
    await loadScripts(replicas[0]!);
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    await redis.close();
  });

  const state = async (hex: string) => ({
    active: (await redis.client.hGet(`{${hex}}:info`, "active")) === "1",
    listed: (await redis.client.zScore("transfers:active", hex)) !== null,
  });

  it("a registration whose index update lands after an archive still leaves the index right", async () => {
    const hex = hexOf(randomInfoHash());
    const archiver = replicas[0] as unknown as TransferStore;
    const late = heldReplica(replicas[1]!);
    const registering = registerTransfer(late.store, hex);
    await eventually("the register script ran", async () => (await state(hex)).active);
    assert.equal((await archiveTransfer(archiver, hex, 600)).status, "archived");
    late.release();
    await registering;
    assert.deepEqual(await state(hex), { active: false, listed: false });
  });

  it("an archive whose index update lands after a new registration still leaves the index right", async () => {
    const hex = hexOf(randomInfoHash());
    const registrar = replicas[0] as unknown as TransferStore;
    await registerTransfer(registrar, hex);
    const late = heldReplica(replicas[1]!);
    const archiving = archiveTransfer(late.store, hex, 600);
    await eventually("the archive script ran", async () => !(await state(hex)).active);
    await new Promise((r) => setTimeout(r, 1000)); // a new archive stamp for the next second
    await registerTransfer(registrar, hex);
    late.release();
    await archiving;
    assert.deepEqual(await state(hex), { active: true, listed: true });
  });
});
