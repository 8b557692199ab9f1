import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { rackBudgetKeys, rackKey } from "../src/store/keys.js";
import { announceWithBudget } from "../src/store/rackBudget.js";
import { connectRedis, scriptRunner, type TrackerRedis } from "../src/store/redis.js";
import { runAnnounce, type AnnounceRequest, type Priority } from "../src/store/scripts.js";
import { registerTransfer, type TransferStore } from "../src/store/transfers.js";
import { transferKeys } from "../src/store/keys.js";
import { api, TEST_TOKEN } from "./helpers/api.js";
import { budgetViolations, liveLeases } from "./helpers/budget.js";
import { runCli } from "./helpers/cli.js";
import { SCRIPT_POLICY } from "./helpers/policy.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { announce, hexOf, peer, peersOf, randomInfoHash, trackerFixture } from "./helpers/tracker.js";

// The rack uplink budget, against a real redis-server: one lease per slot shared by every
// transfer, a waiting line in the policy's order, priorities, and fencing. Each test uses
// racks of its own: a rack's slots are shared by every transfer, across tests too.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ONE_SLOT = { ...SCRIPT_POLICY, slots: 1 };

interface Client {
  readonly ip: string;
  readonly rack: string;
}

function request(c: Client, o: { left?: bigint; event?: AnnounceRequest["event"] } = {}): AnnounceRequest {
  return {
    address: Buffer.from([...c.ip.split(".").map(Number), 0x1a, 0xe1]),
    rack: c.rack,
    peerId: Buffer.alloc(20, 0xab),
    event: o.event ?? "",
    left: o.left ?? 100n,
    uploaded: 0n,
    downloaded: 0n,
    numwant: 50,
    withPeerIds: false,
  };
}

const ipsOf = (peers4: Uint8Array) => peersOf({ peers: peers4 }).map((p) => p.split(":")[0]!);

describe("rack uplink budget", () => {
  let redis: TestRedis;
  let admin: TrackerRedis;

  before(async () => {
    redis = await startTestRedis();
    admin = await connectRedis({ url: redis.url, commandTimeoutMs: 2000 });
  });
  after(async () => {
    await admin.close();
    await redis.close();
  });

  const transfer = async (priority?: Priority) => {
    const hex = hexOf(randomInfoHash());
    await registerTransfer(admin as unknown as TransferStore, hex, priority ? { priority } : {});
    return hex;
  };
  const as = async (hex: string, c: Client, o: Parameters<typeof request>[1] = {}, policy = ONE_SLOT) =>
    announceWithBudget(scriptRunner(admin), hex, request(c, o), policy, 1);
  const holders = async (rack: string) =>
    (await liveLeases(admin as never, rack, Math.floor(Date.now() / 1000))).map((l) => l.host).sort();
  const waiting = async (rack: string) => Object.keys(await admin.hGetAll(rackBudgetKeys(rack).waiting)).sort();

  it("a host that holds a slot represents every transfer it takes part in; its rack mates stay members", async () => {
    const rack = "budget-share";
    const [h1, h2, h3] = [1, 2, 3].map((i) => ({ ip: `10.90.1.${i}`, rack }));
    const twoSlots = { ...ONE_SLOT, slots: 2 };
    const t1 = await transfer();
    const t2 = await transfer();
    assert.equal((await as(t1, h1!, {}, twoSlots)).result.role, "rep");
    assert.equal((await as(t1, h2!, {}, twoSlots)).result.role, "rep");
    assert.equal((await as(t1, h3!, {}, twoSlots)).result.role, "member");
    // h3 comes first to t2: both slots are held by hosts not (yet) in t2, so t2 waits.
    const first = await as(t2, h3!, {}, twoSlots);
    assert.deepEqual([first.result.role, first.lease?.verdict], ["member", "waiting"]);
    assert.deepEqual(await waiting(rack), [t2]);
    // h1 holds a slot: it represents t2 as well, with the same lease, and t2 waits no more.
    const joined = await as(t2, h1!, {}, twoSlots);
    assert.deepEqual([joined.result.role, joined.lease?.verdict], ["rep", "granted"]);
    assert.deepEqual(await waiting(rack), []);
    assert.equal((await as(t2, h3!, {}, twoSlots)).result.role, "member");
    assert.deepEqual(await holders(rack), ["10.90.1.1", "10.90.1.2"]);
    assert.deepEqual(await budgetViolations(admin as never, [rack], [t1, t2], 2), []);
  });

  it("a transfer whose slots are all held outside it waits, and takes a freed slot in the policy's order", async () => {
    const rack = "budget-line";
    const [h1, h2, h3] = [1, 2, 3].map((i) => ({ ip: `10.90.2.${i}`, rack }));
    const [t1, t2, t3] = [await transfer(), await transfer(), await transfer()];
    assert.equal((await as(t1!, h1!)).result.role, "rep");
    assert.equal((await as(t2!, h2!)).lease?.verdict, "waiting");
    await sleep(1100); // waiting times are whole seconds: t3 waits from a later one
    assert.equal((await as(t3!, h3!)).lease?.verdict, "waiting");
    assert.deepEqual(await waiting(rack), [t2, t3].sort());
    // h1 stops its only transfer: the slot is free, and t2 has waited longest.
    assert.equal((await as(t1!, h1!, { event: "stopped" })).lease?.verdict, "released");
    assert.deepEqual(await holders(rack), []);
    const early = await as(t3!, h3!);
    assert.deepEqual([early.result.role, early.lease?.verdict], ["member", "waiting"], "t2 is first in line");
    const granted = await as(t2!, h2!);
    assert.deepEqual([granted.result.role, granted.lease?.verdict, granted.result.elected], ["rep", "granted", true]);
    assert.deepEqual(await waiting(rack), [t3]);
    // And when h2 is done with t2 and stops, t3 is next.
    await as(t2!, h2!, { event: "stopped" });
    assert.equal((await as(t3!, h3!)).result.role, "rep");
    assert.deepEqual(await waiting(rack), []);
    assert.deepEqual(await budgetViolations(admin as never, [rack], [t1!, t2!, t3!], 1), []);
  });

  it("an urgent transfer takes a background transfer's slot at its first client's announce; the background host falls back to its rack", async () => {
    const rack = "budget-urgent";
    const b1 = { ip: "10.90.3.1", rack };
    const m1 = { ip: "10.90.3.2", rack };
    const u1 = { ip: "10.90.3.3", rack };
    const outsider = { ip: "10.90.4.1", rack: "budget-urgent-other" };
    const background = await transfer("background");
    const urgent = await transfer("urgent");
    assert.equal((await as(background, b1)).result.role, "rep");
    assert.equal((await as(background, m1)).result.role, "member");
    assert.equal((await as(background, outsider)).result.role, "rep");
    assert.equal((await as(urgent, outsider)).result.role, "rep");
    const before = await as(background, b1);
    assert.ok(ipsOf(before.result.peers4).includes(outsider.ip), "the background representative sees the other rack");
    // A normal transfer would wait behind it; the urgent one takes the slot at once.
    const taken = await as(urgent, u1);
    assert.deepEqual([taken.result.role, taken.lease?.verdict, taken.lease?.displaced], ["rep", "granted", b1.ip]);
    assert.ok(ipsOf(taken.result.peers4).includes(outsider.ip));
    // The background host's next announce: its lease is gone, it gets only its rack.
    const after = await as(background, b1);
    assert.deepEqual([after.result.role, after.lease?.verdict], ["member", "revoked"]);
    assert.deepEqual(ipsOf(after.result.peers4), [m1.ip]);
    assert.deepEqual(await holders(rack), [u1.ip]);
    assert.deepEqual(await budgetViolations(admin as never, [rack], [background, urgent], 1), []);
  });

  it("a normal transfer never takes a slot from another normal one, and background never from normal", async () => {
    const rack = "budget-equal";
    const n1 = { ip: "10.90.5.1", rack };
    const n2 = { ip: "10.90.5.2", rack };
    const bg = { ip: "10.90.5.3", rack };
    const [normal, other, background] = [await transfer(), await transfer(), await transfer("background")];
    assert.equal((await as(normal, n1)).result.role, "rep");
    assert.equal((await as(other, n2)).lease?.verdict, "waiting");
    assert.equal((await as(background, bg)).lease?.verdict, "waiting");
    assert.deepEqual(await holders(rack), [n1.ip]);
  });

  it("a holder done with every transfer it serves gives its slot to a transfer that waits, or that claims", async () => {
    const rack = "budget-done";
    const [h1, h2, h3] = [1, 2, 3].map((i) => ({ ip: `10.90.6.${i}`, rack }));
    const [t1, t2, t3] = [await transfer(), await transfer(), await transfer()];
    assert.equal((await as(t1, h1!)).result.role, "rep");
    assert.equal((await as(t2, h2!)).lease?.verdict, "waiting");
    // h1 completes t1 while t2 waits: its duties are done, it gives the slot up at once.
    const yielded = await as(t1, h1!, { left: 0n, event: "completed" });
    assert.deepEqual([yielded.result.role, yielded.lease?.verdict], ["member", "revoked"]);
    assert.equal((await as(t2, h2!)).result.role, "rep");
    // h2 completes t2 with nobody waiting: it keeps serving its rack's outside tier...
    const done = await as(t2, h2!, { left: 0n, event: "completed" });
    assert.deepEqual([done.result.role, done.lease?.verdict], ["rep", "held"]);
    // ...until a transfer claims: a done holder's slot is taken at once.
    const taken = await as(t3, h3!);
    assert.deepEqual([taken.result.role, taken.lease?.displaced], ["rep", h2!.ip]);
    assert.equal((await as(t2, h2!, { left: 0n })).result.role, "member");
    assert.deepEqual(await budgetViolations(admin as never, [rack], [t1, t2, t3], 1), []);
  });

  it("a transfer that has a representative in the rack does not take a done holder's slot for a second one", async () => {
    const rack = "budget-done-second";
    const [h1, h2, h3] = [1, 2, 3].map((i) => ({ ip: `10.90.8.${i}`, rack }));
    const twoSlots = { ...ONE_SLOT, slots: 2 };
    const [t1, t2] = [await transfer(), await transfer()];
    assert.equal((await as(t1, h1!, {}, twoSlots)).result.role, "rep");
    assert.equal((await as(t1, h2!, {}, twoSlots)).result.role, "rep");
    assert.equal((await as(t2, h1!, {}, twoSlots)).result.role, "rep");
    // h2 is done (it served t1 only), but it still feeds other racks over its connections.
    assert.equal((await as(t1, h2!, { left: 0n, event: "completed" }, twoSlots)).lease?.verdict, "held");
    const second = await as(t2, h3!, {}, twoSlots);
    assert.deepEqual([second.result.role, second.lease?.verdict], ["member", "denied"]);
    assert.deepEqual(await holders(rack), [h1!.ip, h2!.ip]);
  });

  it("a holder whose lease lapsed and came back on another slot renews its newest lease", async () => {
    const rack = "budget-moved";
    const [h1, h3] = [1, 3].map((i) => ({ ip: `10.90.9.${i}`, rack }));
    const twoSlots = { ...ONE_SLOT, slots: 2 };
    const t = await transfer();
    assert.equal((await as(t, h3!, {}, twoSlots)).lease?.slot, 1);
    assert.equal((await as(t, h1!, {}, twoSlots)).lease?.slot, 2);
    // h1 goes silent, h3 leaves: h1 comes back on slot 1, and t's fence still names it on
    // slot 2 under its old token (a field written after slot 1's).
    const [slot, token] = String(await admin.hGet(rackBudgetKeys(rack).holders, h1!.ip)).split(" ");
    await admin.hSet(rackBudgetKeys(rack).holders, h1!.ip, `${slot} ${token} 1`);
    await admin.zAdd(rackKey(t, rack, "R"), { score: 1, value: request(h1!).address as Buffer });
    await as(t, h3!, { event: "stopped" }, twoSlots);
    const back = await as(t, h1!, {}, twoSlots);
    assert.deepEqual([back.result.role, back.lease?.slot], ["rep", 1]);
    for (let i = 0; i < 2; i++) {
      const renewed = await as(t, h1!, {}, twoSlots);
      assert.deepEqual([renewed.result.role, renewed.lease?.verdict], ["rep", "held"]);
    }
  });

  it("a grant the transfer could not use goes back at once: concurrent first announces leave only its representatives holding slots", async () => {
    const rack = "budget-spare";
    const hosts = Array.from({ length: 12 }, (_, i) => ({ ip: `10.90.10.${i + 1}`, rack }));
    // More slots than a transfer elects (MAX_REPR_RACK 2): every first announce below sees
    // the rack short of representatives, claims, and is granted a free slot.
    const sixSlots = { ...ONE_SLOT, maxRepr: 2, slots: 6 };
    const t = await transfer();
    const results = await Promise.all(hosts.map((h) => as(t, h, {}, sixSlots)));
    const reps = results.filter((r) => r.result.role === "rep");
    assert.equal(reps.length, 2);
    assert.ok(results.filter((r) => r.lease?.verdict === "granted").length > 2, "the race this test is about happened");
    assert.deepEqual(
      await holders(rack),
      hosts
        .filter((_, i) => results[i]!.result.role === "rep")
        .map((h) => h.ip)
        .sort(),
    );
    // The four slots the transfer does not use are free for another transfer at once.
    const other = await transfer();
    const others = await Promise.all(hosts.slice(0, 4).map((h) => as(other, h, {}, sixSlots)));
    assert.equal(others.filter((r) => r.result.role === "rep").length, 2);
    assert.deepEqual(await budgetViolations(admin as never, [rack], [t, other], 6), []);
  });

  it("a late call carrying a superseded lease changes nothing (fencing)", async () => {
    const rack = "budget-fence";
    const h1 = { ip: "10.90.7.1", rack };
    const h2 = { ip: "10.90.7.2", rack };
    const hex = await transfer();
    const first = await as(hex, h1);
    assert.equal(first.lease?.verdict, "granted");
    const old = { slot: first.lease!.slot, token: first.lease!.token, expiresAt: first.lease!.expiresAt };
    // h1 goes silent: its lease and the transfer's copy expire.
    const [slot, token] = String(await admin.hGet(rackBudgetKeys(rack).holders, h1.ip)).split(" ");
    await admin.hSet(rackBudgetKeys(rack).holders, h1.ip, `${slot} ${token} 1`);
    await admin.zAdd(rackKey(hex, rack, "R"), { score: 1, value: request(h1).address as Buffer });
    const next = await as(hex, h2);
    assert.deepEqual([next.result.role, next.result.failover], ["rep", true]);
    assert.ok(next.lease!.token > old.token);
    // A replica that sat on h1's grant all this time sends it now: refused.
    const late = await runAnnounce(scriptRunner(admin), transferKeys(hex), request(h1), ONE_SLOT, 1, old);
    assert.equal(late.role, "member");
    assert.equal(late.peers4.length / 6, 1, "h1 gets its rack mate only");
    assert.deepEqual(await budgetViolations(admin as never, [rack], [hex], 1), []);
  });
});

describe("rack uplink budget through the tracker", () => {
  const f = trackerFixture({
    MAX_REPR_RACK: "1",
    ACTIVE_INTERVAL: "4",
    REP_INTERVAL: "1",
    LEASE_TTL: "2",
    PEER_TTL: "30",
    ADMIN_TOKEN: TEST_TOKEN,
  });

  it("tells representatives REP_INTERVAL and replaces a silent one within LEASE_TTL, long before PEER_TTL", async () => {
    const infoHash = randomInfoHash();
    await api(f.tracker.url, "POST", `/transfers/${hexOf(infoHash)}`, { token: TEST_TOKEN });
    const [rep, member] = [peer("10.91.1.1"), peer("10.91.1.2")];
    const other = peer("10.91.2.1");
    await announce(f.tracker, infoHash, other);
    const elected = await announce(f.tracker, infoHash, rep);
    assert.deepEqual([elected.interval, elected["min interval"]], [1, 1]);
    const plain = await announce(f.tracker, infoHash, member);
    assert.deepEqual([plain.interval, peersOf(plain)], [4, [`${rep.ip}:${rep.port}`]]);
    // Renewed by its announces, the lease outlives LEASE_TTL.
    for (let i = 0; i < 4; i++) {
      await sleep(900);
      const renewed = await announce(f.tracker, infoHash, rep);
      assert.ok(peersOf(renewed).includes(`${other.ip}:${other.port}`), `still the representative after ${i + 1} s`);
      await announce(f.tracker, infoHash, other);
    }
    assert.deepEqual(peersOf(await announce(f.tracker, infoHash, member)), [`${rep.ip}:${rep.port}`]);
    // Silent for LEASE_TTL: the member's next announce takes the slot (the peer record lives on).
    await sleep(3100);
    await announce(f.tracker, infoHash, other);
    const takeover = await announce(f.tracker, infoHash, member);
    assert.equal(takeover.interval, 1);
    assert.ok(peersOf(takeover).includes(`${other.ip}:${other.port}`), "the new representative sees the other rack");
    const dead = await announce(f.tracker, infoHash, rep);
    assert.ok(!peersOf(dead).includes(`${other.ip}:${other.port}`), "the old one, back, is a member");
  });

  it("shows waiting racks and priorities in the API and the CLI", async () => {
    const holderTransfer = randomInfoHash();
    const waiter = randomInfoHash();
    const hex = hexOf(waiter);
    await api(f.tracker.url, "POST", `/transfers/${hexOf(holderTransfer)}`, { token: TEST_TOKEN });
    const registered = await api(f.tracker.url, "POST", `/transfers/${hex}?priority=background`, { token: TEST_TOKEN });
    assert.equal(registered.status, 201);
    await announce(f.tracker, holderTransfer, peer("10.92.1.1"));
    await announce(f.tracker, waiter, peer("10.92.1.2"));
    const view = await api(f.tracker.url, "GET", `/transfers/${hex}?racks=1`);
    const body = view.json as { priority: string; racks: Array<{ rack: string; waiting_since: number | null }> };
    assert.equal(body.priority, "background");
    assert.equal(body.racks.length, 1);
    assert.ok(Math.abs(body.racks[0]!.waiting_since! - Date.now() / 1000) < 5, "waiting since about now");
    const shown = await runCli(["transfer", "show", hex, "--racks", "--tracker", f.tracker.url]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^priority +background$/m);
    assert.match(
      shown.stdout,
      /10\.92\.1\.0\/24 .*- \(waiting for an uplink slot since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)/,
    );
    const bad = await api(f.tracker.url, "POST", `/transfers/${hex}?priority=soon`, { token: TEST_TOKEN });
    assert.equal(bad.status, 400);
    const cliBad = await runCli(["transfer", "activate", hex, "--priority", "soon", "--tracker", f.tracker.url]);
    assert.equal(cliBad.code, 2);
    assert.match(cliBad.stderr, /--priority "soon": expected urgent, normal, background/);
  });
});
