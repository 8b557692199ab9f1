import assert from "node:assert/strict";
import { eventually } from "./helpers/wait.js";
import { after, before, describe, it } from "node:test";
import { activateTransfer } from "../src/store/transfers.js";
import { connectRedis, type TrackerRedis } from "../src/store/redis.js";
import type { TransferStore } from "../src/store/transfers.js";
import { decode, httpRequest, text } from "./helpers/http.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import {
  addressOf,
  announce,
  announceQuery,
  hexOf,
  peer,
  peersOf,
  randomInfoHash,
  startTestTracker,
  type TestTracker,
} from "./helpers/tracker.js";

describe("announce and scrape over HTTP", () => {
  let redis: TestRedis;
  let tracker: TestTracker;
  let admin: TrackerRedis;
  const register = async (infoHash: Uint8Array) =>
    activateTransfer(admin as unknown as TransferStore, hexOf(infoHash), "test", "1000");

  before(async () => {
    redis = await startTestRedis();
    tracker = await startTestTracker(redis);
    admin = await connectRedis({ url: redis.url, commandTimeoutMs: 2000 });
  });
  after(async () => {
    await admin.close();
    await tracker.close();
    await redis.close();
  });

  it("round-trips binary info_hash and peer_id bytes 0x00-0xFF", async () => {
    for (let start = 0; start < 256; start += 20) {
      const infoHash = Uint8Array.from({ length: 20 }, (_, i) => (start + i) % 256);
      const peerId = Uint8Array.from({ length: 20 }, (_, i) => 255 - ((start + i) % 256));
      await register(infoHash);
      const first = { ip: "10.9.0.1", port: 7001, peerId };
      await announce(tracker, infoHash, first);
      const stored = await redis.client.hGetAll(`{${hexOf(infoHash)}}:peers`);
      assert.equal(Object.keys(stored).length, 1, "one record under the exact info hash");
      const reply = await announce(tracker, infoHash, peer("10.9.0.2"), { compact: 0 });
      const [entry] = reply.peers as Array<{ ip: Uint8Array; port: number; "peer id": Uint8Array }>;
      assert.ok(entry, "the first peer is returned");
      assert.deepEqual(Buffer.from(entry["peer id"]), Buffer.from(peerId));
      assert.equal(text(entry.ip), "10.9.0.1");
      assert.equal(entry.port, 7001);
    }
  });

  it("answers compact, non-compact, no_peer_id and peers6 (BEP 7, 23)", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    const v4 = peer("10.1.0.5", 6881);
    const v6 = peer("fd00::1:5", 6882);
    await announce(tracker, infoHash, v4);
    await announce(tracker, infoHash, v6);
    const asker = peer("10.1.0.6");
    const compact = await announce(tracker, infoHash, asker);
    assert.ok(compact.peers instanceof Uint8Array);
    assert.equal((compact.peers as Uint8Array).length, 6);
    assert.equal((compact.peers6 as Uint8Array).length, 18);
    assert.deepEqual(peersOf(compact).sort(), [addressOf(v4), addressOf(v6)].sort());
    const dicts = await announce(tracker, infoHash, asker, { compact: 0 });
    assert.deepEqual(peersOf(dicts).sort(), [addressOf(v4), addressOf(v6)].sort());
    for (const entry of dicts.peers as Array<Record<string, unknown>>)
      assert.ok(entry["peer id"] instanceof Uint8Array);
    const bare = await announce(tracker, infoHash, asker, { compact: 0, noPeerId: true });
    for (const entry of bare.peers as Array<Record<string, unknown>>) assert.equal(entry["peer id"], undefined);
  });

  it("treats IPv4-mapped IPv6 clients as IPv4", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    await announce(tracker, infoHash, peer("::ffff:10.2.0.7", 7007));
    const reply = await announce(tracker, infoHash, peer("10.2.0.8"));
    assert.deepEqual(peersOf(reply), ["10.2.0.7:7007"]);
    assert.equal(reply.peers6, undefined);
  });

  it("never returns the client itself, caps numwant at MAXPEERS, counts seeders and leechers", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    const peers = Array.from({ length: 60 }, (_, i) => peer(`10.3.0.${i + 1}`));
    for (const p of peers) await announce(tracker, infoHash, p, { left: p === peers[0] ? 0 : 500 });
    const me = peers[5]!;
    const reply = await announce(tracker, infoHash, me, { numwant: 500 });
    const got = peersOf(reply);
    assert.equal(got.length, tracker.config.MAXPEERS);
    assert.ok(!got.includes(addressOf(me)));
    assert.equal(new Set(got).size, got.length, "no duplicates");
    assert.equal(reply.complete, 1);
    assert.equal(reply.incomplete, 59);
    assert.equal(reply.interval, tracker.config.ACTIVE_INTERVAL);
    assert.equal(reply["min interval"], tracker.config.MIN_INTERVAL);
    const few = await announce(tracker, infoHash, me, { numwant: 3 });
    assert.equal(peersOf(few).length, 3);
  });

  it("gives an unregistered transfer no peers, the passive interval and a warning, and stores nothing", async () => {
    const infoHash = randomInfoHash();
    const hex = hexOf(infoHash);
    await announce(tracker, infoHash, peer("10.4.0.1"));
    const reply = await announce(tracker, infoHash, peer("10.4.0.2"));
    assert.equal(peersOf(reply).length, 0);
    assert.equal(reply.interval, tracker.config.PASSIVE_INTERVAL);
    assert.match(text(reply["warning message"]), new RegExp(`${hex} is not registered`));
    await eventually(
      "listed in transfers:seen",
      async () => (await redis.client.zScore("transfers:seen", hex)) !== null,
    );
    assert.equal(await redis.client.zScore("transfers:active", hex), null);
    assert.deepEqual(await redis.client.keys(`{${hex}}*`), []);
  });

  it("scrapes one, several and all transfers (BEP 48)", async () => {
    const a = randomInfoHash();
    const b = randomInfoHash();
    await register(a);
    await register(b);
    await announce(tracker, a, peer("10.5.0.1"), { left: 0 });
    await announce(tracker, a, peer("10.5.0.2"));
    const leecher = peer("10.5.0.3");
    await announce(tracker, a, leecher);
    await announce(tracker, a, leecher, { left: 0, event: "completed" });
    const oneBody = Buffer.from((await httpRequest(`${tracker.url}/scrape?info_hash=${escape(a)}`)).body);
    // The files dict is keyed by the raw 20 bytes (a decoder would turn them into text).
    const entryBytes = "d8:completei2e10:downloadedi1e10:incompletei1ee";
    assert.deepEqual(oneBody, Buffer.concat([Buffer.from("d5:filesd20:"), a, Buffer.from(`${entryBytes}ee`)]));
    const both = decode(
      (await httpRequest(`${tracker.url}/scrape/?info_hash=${escape(a)}&info_hash=${escape(b)}`)).body,
    );
    assert.equal(Object.keys(both.files as object).length, 2);
    const all = decode((await httpRequest(`${tracker.url}/scrape`)).body);
    assert.ok(Object.keys(all.files as object).length >= 2);
  });

  it("accepts event=paused (BEP 21) as an ordinary announce", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    const first = peer("10.9.0.1");
    await announce(tracker, infoHash, first);
    const reply = await announce(tracker, infoHash, peer("10.9.0.2"), { event: "paused" });
    assert.equal(reply["failure reason"], undefined);
    assert.deepEqual(peersOf(reply), [addressOf(first)]);
    assert.equal(reply.incomplete, 2);
  });

  it("refuses a full scrape when FULL_SCRAPE is off, and still scrapes named transfers", async () => {
    const strict = await startTestTracker(redis, { FULL_SCRAPE: "false" });
    try {
      const all = decode((await httpRequest(`${strict.url}/scrape`)).body);
      assert.match(text(all["failure reason"]), /full scrape is disabled/);
      const infoHash = randomInfoHash();
      await register(infoHash);
      const named = decode((await httpRequest(`${strict.url}/scrape?info_hash=${escape(infoHash)}`)).body);
      assert.equal(Object.keys(named.files as object).length, 1);
    } finally {
      await strict.close();
    }
  });

  it("answers on /announce/ too, and 404 on other routes", async () => {
    const infoHash = randomInfoHash();
    const response = await httpRequest(`${tracker.url}/announce/?${announceQuery(infoHash, peer("10.6.0.1"))}`);
    assert.equal(response.status, 200);
    assert.ok(decode(response.body).interval);
    assert.equal((await httpRequest(`${tracker.url}/`)).status, 404);
    assert.equal((await httpRequest(`${tracker.url}/stats`)).status, 404);
  });
});

function escape(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => `%${b.toString(16).padStart(2, "0")}`).join("");
}
