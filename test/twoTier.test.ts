import assert from "node:assert/strict";
import { eventually } from "./helpers/wait.js";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { activateTransfer, type TransferStore } from "../src/store/transfers.js";
import {
  addressOf,
  announce,
  compactOf,
  hexOf,
  peer,
  peersOf,
  randomInfoHash,
  trackerFixture,
  type TestPeer,
} from "./helpers/tracker.js";

const RACK_MAP = `# test racks
10.10.1.0/24     rackA
10.10.2.0/24     rackB
10.10.3.0/24     rackC
10.10.5.0/24     rackE
10.10.9.0/24     build
fd00:10:1::/48   rackA
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const set = (peers: TestPeer[]) => peers.map(addressOf).sort();

describe("two-tier swarms", () => {
  const rackMapPath = join(mkdtempSync(join(tmpdir(), "p2ptracker-racks-")), "racks.txt");
  writeFileSync(rackMapPath, RACK_MAP);
  const f = trackerFixture({ RACK_MAP: rackMapPath });
  const register = async (infoHash: Uint8Array) =>
    activateTransfer(f.admin as unknown as TransferStore, hexOf(infoHash), "t", "1");
  const reps = async (infoHash: Uint8Array, rack: string) =>
    (await f.redis.client.zRange(`{${hexOf(infoHash)}}:rack:${rack}:R`, 0, -1)).length;
  const isRep = async (infoHash: Uint8Array, rack: string, p: TestPeer) =>
    (await f.admin.zScore(`{${hexOf(infoHash)}}:rack:${rack}:R`, compactOf(p))) !== null;

  /** Rack A: a1, a2 (representatives), a3..a6; rack B: b1, b2 (representatives), b3; origin s. */
  async function swarm() {
    const infoHash = randomInfoHash();
    await register(infoHash);
    const a = [1, 2, 3, 4, 5, 6].map((i) => peer(`10.10.1.${i}`));
    const b = [1, 2, 3].map((i) => peer(`10.10.2.${i}`));
    const s = peer("10.10.9.1");
    await announce(f.tracker, infoHash, s, { left: 0, event: "started" });
    for (const p of [...a, ...b]) await announce(f.tracker, infoHash, p, { event: "started" });
    return { infoHash, a, b, s };
  }

  it("elects the first MAX_REPR_RACK clients of each rack as its representatives", async () => {
    const { infoHash, a, b, s } = await swarm();
    assert.equal(await reps(infoHash, "rackA"), 2);
    assert.equal(await reps(infoHash, "rackB"), 2);
    assert.ok(await isRep(infoHash, "rackA", a[0]!));
    assert.ok(await isRep(infoHash, "rackA", a[1]!));
    assert.ok(!(await isRep(infoHash, "rackA", a[2]!)));
    assert.ok(!(await isRep(infoHash, "build", s)), "an origin seeder takes no representative slot");
    assert.ok(await isRep(infoHash, "rackB", b[1]!));
  });

  it("gives a representative other racks' representatives and the origins first, then rack mates", async () => {
    const { infoHash, a, b, s } = await swarm();
    const outside = set([b[0]!, b[1]!, s]);
    // Random draws: repeat so a selection that only sometimes prefers outside peers fails.
    for (let i = 0; i < 30; i++) {
      const first = await announce(f.tracker, infoHash, a[0]!, { numwant: 3 });
      assert.deepEqual(peersOf(first).sort(), outside);
    }
    const all = await announce(f.tracker, infoHash, a[0]!, { numwant: 50 });
    assert.deepEqual(peersOf(all).sort(), [...outside, ...set(a.slice(1))].sort());
  });

  it("gives every other client only live peers of its own rack, representatives included", async () => {
    const { infoHash, a } = await swarm();
    for (let i = 0; i < 5; i++) {
      const reply = await announce(f.tracker, infoHash, a[3]!, { numwant: 50 });
      assert.deepEqual(peersOf(reply).sort(), set(a.filter((_, j) => j !== 3)));
    }
    const small = await announce(f.tracker, infoHash, a[2]!, { numwant: 2 });
    assert.equal(peersOf(small).length, 2);
    for (const got of peersOf(small)) assert.match(got, /^10\.10\.1\./);
  });

  it("never gives a seeder a seeder, and a seeder that reports left > 0 leeches again", async () => {
    const { infoHash, a, b, s } = await swarm();
    await announce(f.tracker, infoHash, a[4]!, { left: 0, event: "completed" });
    await announce(f.tracker, infoHash, b[0]!, { left: 0, event: "completed" });
    const member = await announce(f.tracker, infoHash, a[4]!, { left: 0, numwant: 50 });
    assert.deepEqual(peersOf(member).sort(), set([a[0]!, a[1]!, a[2]!, a[3]!, a[5]!]));
    await announce(f.tracker, infoHash, a[0]!, { left: 0, event: "completed" });
    const rep = await announce(f.tracker, infoHash, a[0]!, { left: 0, numwant: 50 });
    // Rep seeder: leeching representatives of other racks (b1), then leeching rack mates.
    assert.deepEqual(peersOf(rep).sort(), set([b[1]!, a[1]!, a[2]!, a[3]!, a[5]!]));
    const origin = await announce(f.tracker, infoHash, s, { left: 0, numwant: 50 });
    assert.deepEqual(peersOf(origin).sort(), set([a[1]!, b[1]!]), "origin: leeching representatives");
    const again = await announce(f.tracker, infoHash, a[4]!, { left: 10, numwant: 50 });
    assert.ok(peersOf(again).includes(addressOf(a[0]!)), "leeching again, it may get seeders");
  });

  it("frees a representative's slot when it stops its last transfer; the next leecher of the rack is elected", async () => {
    // Rack E's hosts take part in this transfer only: a host that stops one transfer
    // keeps its rack slot while it serves another (see the budget tests).
    const infoHash = randomInfoHash();
    await register(infoHash);
    const e = [1, 2, 3, 4].map((i) => peer(`10.10.5.${i}`));
    const b = [1, 2].map((i) => peer(`10.10.2.${i}`));
    const s = peer("10.10.9.1");
    await announce(f.tracker, infoHash, s, { left: 0, event: "started" });
    for (const p of [...e, ...b]) await announce(f.tracker, infoHash, p, { event: "started" });
    assert.equal(await reps(infoHash, "rackE"), 2);
    const stopped = await announce(f.tracker, infoHash, e[0]!, { event: "stopped" });
    assert.equal(peersOf(stopped).length, 0);
    assert.equal(await reps(infoHash, "rackE"), 1);
    assert.equal(await f.admin.hExists(`{${hexOf(infoHash)}}:peers`, compactOf(e[0]!)), 0);
    const next = await announce(f.tracker, infoHash, e[2]!, { numwant: 50 });
    assert.ok(await isRep(infoHash, "rackE", e[2]!));
    assert.deepEqual(peersOf(next).sort(), [...set([b[0]!, b[1]!, s]), ...set([e[1]!, e[3]!])].sort());
  });

  it("keeps a client's first rack for the life of its record, even when the map changes", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    const moving = peer("10.10.3.7");
    await announce(f.tracker, infoHash, moving);
    writeFileSync(rackMapPath, RACK_MAP.replace("10.10.3.0/24     rackC", "10.10.3.0/24     rackD"));
    process.kill(process.pid, "SIGHUP");
    await sleep(100);
    try {
      await announce(f.tracker, infoHash, moving);
      const newcomer = peer("10.10.3.8");
      await announce(f.tracker, infoHash, newcomer);
      const rackOf = async (p: TestPeer) =>
        String(await f.admin.hGet(`{${hexOf(infoHash)}}:peers`, compactOf(p))).split(" ")[0];
      assert.equal(await rackOf(moving), "rackC");
      assert.equal(await rackOf(newcomer), "rackD");
    } finally {
      writeFileSync(rackMapPath, RACK_MAP);
      process.kill(process.pid, "SIGHUP");
      await sleep(100);
    }
  });

  it("records first/last started and completed times from Redis", async () => {
    const { infoHash, a } = await swarm();
    await announce(f.tracker, infoHash, a[2]!, { left: 0, event: "completed" });
    const info = await f.redis.client.hGetAll(`{${hexOf(infoHash)}}:info`);
    const [redisNow] = await f.redis.client.time();
    for (const field of ["first_started", "last_started", "first_completed", "last_completed", "registered"]) {
      assert.ok(Math.abs(Number(info[field]) - Number(redisNow)) <= 2, `${field} = ${info[field]}`);
    }
    assert.equal(info.completed, "1", "an origin seeder is not a completion");
    assert.equal(info.seeders, "2");
    assert.equal(info.leechers, "8");
  });

  it("counts a first announce that is the completion as a completion, not as an origin", async () => {
    const { infoHash } = await swarm();
    const late = peer("10.10.3.7");
    await announce(f.tracker, infoHash, late, { left: 0, event: "completed" });
    const hex = hexOf(infoHash);
    assert.equal(await f.redis.client.zCard(`{${hex}}:O`), 1, "only the build server is an origin");
    const info = await f.redis.client.hGetAll(`{${hex}}:info`);
    assert.equal(info.completed, "1");
    assert.ok(Number(info.first_completed) > 0);
    const record = (await f.admin.hGet(`{${hex}}:peers`, compactOf(late))) as unknown as Buffer;
    const fields = /^rackC Sc \d+ 0 0 0 /.exec(record.toString("latin1"));
    assert.ok(fields, `record ${record.toString("latin1")}`);
    assert.deepEqual(record.subarray(fields[0].length), Buffer.from(late.peerId), "the peer id ends it");
  });

  it("keeps an origin reachable from every rack when its own rack's slots are full", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    const a = [1, 2, 3].map((i) => peer(`10.10.1.${i}`));
    for (const p of a) await announce(f.tracker, infoHash, p);
    const originInA = peer("10.10.1.50");
    await announce(f.tracker, infoHash, originInA, { left: 0 });
    const b1 = peer("10.10.2.1");
    const reply = await announce(f.tracker, infoHash, b1, { numwant: 50 });
    assert.ok(peersOf(reply).includes(addressOf(originInA)), "rack B's representative reaches the origin");
    assert.ok(!peersOf(reply).includes(addressOf(a[2]!)), "but not rack A's members");
  });

  it("never returns an origin of the client's own rack twice (it is in the origins and in the rack's seeders)", async () => {
    for (let round = 0; round < 20; round++) {
      const infoHash = randomInfoHash();
      await register(infoHash);
      const originInA = peer("10.10.1.50");
      await announce(f.tracker, infoHash, originInA, { left: 0 });
      const a1 = peer("10.10.1.1");
      const reply = await announce(f.tracker, infoHash, a1, { numwant: 50 });
      const got = peersOf(reply);
      assert.deepEqual(got, [addressOf(originInA)], `round ${round}: ${got.join(", ")}`);
      const a2 = await announce(f.tracker, infoHash, peer("10.10.1.2"), { numwant: 50 });
      assert.deepEqual(peersOf(a2).sort(), set([originInA, a1]), `round ${round}`);
    }
  });

  it("samples randomly when the pool is larger than numwant", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    const rack = Array.from({ length: 30 }, (_, i) => peer(`10.10.2.${100 + i}`));
    for (const p of rack) await announce(f.tracker, infoHash, p);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++)
      for (const got of peersOf(await announce(f.tracker, infoHash, rack[10]!, { numwant: 5 }))) seen.add(got);
    assert.ok(seen.size > 10, `10 samples of 5 from 29 covered only ${seen.size} peers`);
  });

  it("maps IPv6 clients through the same rack map", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    const v6 = peer("fd00:10:1::9");
    await announce(f.tracker, infoHash, v6);
    const mate = await announce(f.tracker, infoHash, peer("10.10.1.9"));
    assert.deepEqual(peersOf(mate), [addressOf(v6)]);
  });
});

describe("expiry", () => {
  const f = trackerFixture({ ACTIVE_INTERVAL: "1", PEER_TTL: "2", SWEEP_INTERVAL: "1" });

  it("drops a silent representative after PEER_TTL and elects the next announcer of its rack", async () => {
    const infoHash = randomInfoHash();
    await activateTransfer(f.admin as unknown as TransferStore, hexOf(infoHash));
    const [r1, r2, r3] = [1, 2, 3].map((i) => peer(`10.20.1.${i}`));
    const other = peer("10.20.2.1");
    for (const p of [r1!, r2!, r3!, other]) await announce(f.tracker, infoHash, p);
    const deadline = Date.now() + 3500;
    while (Date.now() < deadline) {
      await announce(f.tracker, infoHash, r3!);
      await announce(f.tracker, infoHash, other);
      await sleep(500);
    }
    const reply = await announce(f.tracker, infoHash, r3!, { numwant: 50 });
    assert.deepEqual(peersOf(reply), [addressOf(other)], "r3 is now a representative and sees the other rack");
    const hex = hexOf(infoHash);
    assert.deepEqual(await f.redis.client.zCard(`{${hex}}:rack:10.20.1.0/24:R`), 1);
    assert.equal(await f.redis.client.hLen(`{${hex}}:peers`), 2);
    const info = await f.redis.client.hGetAll(`{${hex}}:info`);
    assert.equal(info.leechers, "2");
  });

  it("sweeps a swarm nobody announces to", async () => {
    const infoHash = randomInfoHash();
    const hex = hexOf(infoHash);
    await activateTransfer(f.admin as unknown as TransferStore, hex);
    for (let i = 1; i <= 5; i++) await announce(f.tracker, infoHash, peer(`10.21.${i}.1`), { left: i === 1 ? 0 : 9 });
    assert.equal(await f.redis.client.hLen(`{${hex}}:peers`), 5);
    const deadline = Date.now() + 6000;
    while ((await f.redis.client.hLen(`{${hex}}:peers`)) > 0 && Date.now() < deadline) await sleep(200);
    assert.equal(await f.redis.client.hLen(`{${hex}}:peers`), 0);
    const info = await f.redis.client.hGetAll(`{${hex}}:info`);
    assert.equal(info.seeders, "0");
    assert.equal(info.leechers, "0");
    const left = await f.redis.client.keys(`{${hex}}:*`);
    assert.deepEqual(left.sort(), [`{${hex}}:info`], "every per-rack key is gone");
  });
});

describe("expiry inside the announce, with no sweep to help", () => {
  const f = trackerFixture({ ACTIVE_INTERVAL: "1", PEER_TTL: "2", SWEEP_INTERVAL: "86400" });

  it("never returns a dead peer nor lets a dead representative hold its slot, however many are dead", async () => {
    const infoHash = randomInfoHash();
    const hex = hexOf(infoHash);
    await activateTransfer(f.admin as unknown as TransferStore, hex);
    // 40 dead clients in rack 10.22.1 (two of them its representatives), more than one
    // announce prunes; a dead representative and a dead origin elsewhere.
    const dead = Array.from({ length: 40 }, (_, i) => peer(`10.22.1.${i + 1}`));
    for (const p of dead) await announce(f.tracker, infoHash, p);
    await announce(f.tracker, infoHash, peer("10.22.2.1"));
    await announce(f.tracker, infoHash, peer("10.22.9.1"), { left: 0 });
    assert.equal(await f.redis.client.zCard(`{${hex}}:rack:10.22.1.0/24:R`), 2);
    await sleep(3100);

    const outsider = peer("10.22.3.1");
    await announce(f.tracker, infoHash, outsider);
    const [n1, n2, n3] = [101, 102, 103].map((i) => peer(`10.22.1.${i}`));
    const electing = await announce(f.tracker, infoHash, n1!, { numwant: 50 });
    assert.deepEqual(peersOf(electing), [addressOf(outsider)], "elected at once, and given only live outside peers");
    assert.ok(await f.admin.zScore(`{${hex}}:rack:10.22.1.0/24:R`, compactOf(n1!)));
    await announce(f.tracker, infoHash, n2!);
    const member = await announce(f.tracker, infoHash, n3!, { numwant: 50 });
    assert.deepEqual(peersOf(member).sort(), set([n1!, n2!]), "a member gets only live rack mates");
    assert.equal(await f.admin.zScore(`{${hex}}:rack:10.22.1.0/24:R`, compactOf(n3!)), null);
  });
});

describe("flat mode (RACK_AWARE off)", () => {
  const f = trackerFixture({ RACK_AWARE: "false", AUTO_ACTIVATE: "true" });

  it("gives every client a random sample of the whole swarm and elects nobody", async () => {
    const infoHash = randomInfoHash();
    const peers = [1, 2, 3, 4].flatMap((rack) => [1, 2, 3].map((h) => peer(`10.30.${rack}.${h}`)));
    for (const p of peers) await announce(f.tracker, infoHash, p);
    const reply = await announce(f.tracker, infoHash, peers[11]!, { numwant: 50 });
    assert.deepEqual(peersOf(reply).sort(), set(peers.slice(0, 11)));
    const hex = hexOf(infoHash);
    assert.equal(await f.redis.client.zCard(`{${hex}}:RL`), 0);
    assert.deepEqual(await f.redis.client.keys(`{${hex}}:rack:*:R`), []);
    await eventually("AUTO_ACTIVATE lists it in transfers:active", async () => {
      return (await f.redis.client.zScore("transfers:active", hex)) !== null;
    });
  });
});
