import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { RESP_TYPES } from "redis";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { allPages, api, TEST_TOKEN } from "./helpers/api.js";
import { BAD_TORRENTS } from "./helpers/badTorrents.js";
import { text } from "./helpers/http.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { makeTorrent } from "./helpers/torrent.js";
import {
  announce,
  hexOf,
  peer,
  peersOf,
  randomInfoHash,
  startTestTracker,
  trackerFixture,
  type TestTracker,
} from "./helpers/tracker.js";

const auth = { token: TEST_TOKEN };

function buildTorrent(announceUrl = "http://tracker.test/announce", name = "build-7.tar") {
  return makeTorrent(randomBytes(50_000), { name, announce: announceUrl, pieceLength: 16384, private: true });
}

/** Every key with its type and value: what a refused request must leave as it was. */
async function snapshot(redis: TestRedis): Promise<string> {
  const keys = (await redis.client.keys("*")).sort();
  const binary = redis.client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  const dumps = await Promise.all(keys.map(async (key) => `${key}=${(await binary.dump(key))?.toString("hex")}`));
  return dumps.join("\n");
}

describe("operators' API: authentication", () => {
  const f = trackerFixture({ ADMIN_TOKEN: TEST_TOKEN });

  it("refuses a change without a token, saying how to send one", async () => {
    const answer = await api(f.tracker.url, "POST", `/transfers/${hexOf(randomInfoHash())}`);
    assert.equal(answer.status, 401);
    assert.equal(answer.json.error, "this needs Authorization: Bearer <token>");
    assert.equal(answer.headers.get("www-authenticate"), 'Bearer realm="p2ptracker"');
  });

  it("refuses a wrong token, and a token in the URL even when it is right", async () => {
    const hex = hexOf(randomInfoHash());
    const wrong = await api(f.tracker.url, "POST", `/transfers/${hex}`, { token: `${TEST_TOKEN}x` });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error, "the token is not valid");
    const inUrl = await api(f.tracker.url, "POST", `/transfers/${hex}?token=${TEST_TOKEN}`);
    assert.equal(inUrl.status, 400);
    assert.match(inUrl.json.error, /Authorization header/);
    assert.equal(await f.redis.client.exists(`{${hex}}:info`), 0, "nothing registered");
  });

  it("accepts the right token; reads need none by default", async () => {
    const hex = hexOf(randomInfoHash());
    const created = await api(f.tracker.url, "POST", `/transfers/${hex}`, auth);
    assert.equal(created.status, 201);
    const read = await api(f.tracker.url, "GET", `/transfers/${hex}`);
    assert.equal(read.status, 200);
    assert.equal(read.json.active, true);
  });
});

describe("operators' API: no token configured", () => {
  const f = trackerFixture();

  it("answers every change with 403 saying how to set a token; reads still work", async () => {
    for (const [method, path] of [
      ["POST", "/torrents"],
      ["POST", `/transfers/${hexOf(randomInfoHash())}`],
      ["DELETE", `/transfers/${hexOf(randomInfoHash())}`],
    ] as const) {
      const answer = await api(f.tracker.url, method, path, auth);
      assert.equal(answer.status, 403, `${method} ${path}`);
      assert.match(answer.json.error, /set ADMIN_TOKEN \(or ADMIN_TOKEN_FILE\)/);
    }
    assert.equal((await api(f.tracker.url, "GET", "/transfers")).status, 200);
  });
});

describe("operators' API: ADMIN_TOKEN_FILE and ADMIN_READS_NEED_TOKEN", () => {
  const dir = mkdtempSync(join(tmpdir(), "p2ptracker-token-"));
  const file = join(dir, "token");
  writeFileSync(file, `${TEST_TOKEN}\n`);
  const f = trackerFixture({ ADMIN_TOKEN_FILE: file, ADMIN_READS_NEED_TOKEN: "true" });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the token from the file (first line) and asks it of reads too", async () => {
    assert.equal((await api(f.tracker.url, "GET", "/transfers")).status, 401);
    assert.equal((await api(f.tracker.url, "GET", "/transfers", auth)).status, 200);
    assert.equal((await api(f.tracker.url, "POST", `/transfers/${hexOf(randomInfoHash())}`, auth)).status, 201);
  });

  it("still serves the OpenAPI document without a token", async () => {
    const answer = await api(f.tracker.url, "GET", "/openapi.json");
    assert.equal(answer.status, 200);
    assert.equal(answer.json.openapi, "3.1.0");
    for (const path of [
      "/api/v1/torrents",
      "/api/v1/torrents/{file}",
      "/api/v1/transfers",
      "/api/v1/transfers/{infohash}",
      "/api/v1/transfers/{infohash}/{list}",
      "/api/v1/racks/resolve",
    ]) {
      assert.ok(answer.json.paths[path], `${path} is documented`);
    }
    assert.ok(answer.json.paths["/api/v1/transfers/{infohash}"].delete.responses["200"]);
  });
});

describe("operators' API: registering torrents", () => {
  const f = trackerFixture({ ADMIN_TOKEN: TEST_TOKEN, TORRENT_MAX_BYTES: "131072" });

  it("registers an uploaded .torrent (201), stores it in the transfer's slot and serves it back", async () => {
    const torrent = buildTorrent();
    const hex = hexOf(torrent.infoHash);
    const answer = await api(f.tracker.url, "POST", "/torrents", { ...auth, body: torrent.bytes });
    assert.equal(answer.status, 201, JSON.stringify(answer.json));
    assert.equal(answer.json.info_hash, hex);
    assert.equal(answer.json.status, "registered");
    const transfer = answer.json.transfer;
    assert.equal(transfer.active, true);
    assert.equal(transfer.name, "build-7.tar");
    assert.equal(transfer.size, 50_000);
    assert.equal(transfer.piece_length, 16384);
    assert.equal(transfer.files, 1);
    assert.equal(transfer.torrent, true);
    assert.ok(Math.abs(transfer.registered - Date.now() / 1000) < 30);
    const info = await f.redis.client.hGetAll(`{${hex}}:info`);
    assert.deepEqual(
      { active: info.active, name: info.name, length: info.length, piece_length: info.piece_length, files: info.files },
      { active: "1", name: "build-7.tar", length: "50000", piece_length: "16384", files: "1" },
    );
    const binary = f.redis.client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    assert.deepEqual(await binary.get(`{${hex}}:torrent`), Buffer.from(torrent.bytes), "stored in the transfer's slot");

    const fetched = await api(f.tracker.url, "GET", `/torrents/${hex.toLowerCase()}.torrent`);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.headers.get("content-type"), "application/x-bittorrent");
    assert.deepEqual(fetched.bytes, Buffer.from(torrent.bytes));

    const p = peer("10.7.1.1");
    await announce(f.tracker, torrent.infoHash, peer("10.7.1.2"));
    assert.equal(peersOf(await announce(f.tracker, torrent.infoHash, p)).length, 1, "announces get peers now");
  });

  it("is idempotent: the same .torrent again is 200 and changes nothing", async () => {
    const torrent = buildTorrent();
    assert.equal((await api(f.tracker.url, "POST", "/torrents", { ...auth, body: torrent.bytes })).status, 201);
    const before = await snapshot(f.redis);
    const again = await api(f.tracker.url, "POST", "/torrents", { ...auth, body: torrent.bytes });
    assert.equal(again.status, 200);
    assert.equal(again.json.status, "unchanged");
    assert.equal(await snapshot(f.redis), before);
  });

  it("refuses a different .torrent with the same info hash (409) and keeps the first", async () => {
    const payload = randomBytes(30_000);
    const first = makeTorrent(payload, { name: "x", announce: "http://a.test/announce", pieceLength: 16384 });
    const second = makeTorrent(payload, { name: "x", announce: "http://b.test/announce", pieceLength: 16384 });
    assert.deepEqual(first.infoHash, second.infoHash);
    assert.equal((await api(f.tracker.url, "POST", "/torrents", { ...auth, body: first.bytes })).status, 201);
    const conflict = await api(f.tracker.url, "POST", "/torrents", { ...auth, body: second.bytes });
    assert.equal(conflict.status, 409);
    assert.match(conflict.json.error, /a different \.torrent/);
    const fetched = await api(f.tracker.url, "GET", `/torrents/${hexOf(first.infoHash)}.torrent`);
    assert.deepEqual(fetched.bytes, Buffer.from(first.bytes));
  });

  it("adds the .torrent to a transfer first registered by bare hash (201), keeping its registration", async () => {
    const torrent = buildTorrent();
    const hex = hexOf(torrent.infoHash);
    const bare = await api(f.tracker.url, "POST", `/transfers/${hex}`, auth);
    assert.equal(bare.status, 201);
    assert.equal(bare.json.transfer.torrent, false);
    const again = await api(f.tracker.url, "POST", `/transfers/${hex}`, auth);
    assert.equal(again.status, 200);
    assert.equal(again.json.status, "unchanged");
    const missing = await api(f.tracker.url, "GET", `/torrents/${hex}.torrent`);
    assert.equal(missing.status, 404);
    const added = await api(f.tracker.url, "POST", "/torrents", { ...auth, body: torrent.bytes });
    assert.equal(added.status, 201);
    assert.equal(added.json.status, "torrent-added");
    assert.equal(added.json.transfer.registered, bare.json.transfer.registered);
    assert.equal(added.json.transfer.name, "build-7.tar");
  });

  for (const [label, bytes, message] of BAD_TORRENTS) {
    it(`refuses ${label} with 400 and stores nothing`, async () => {
      const before = await snapshot(f.redis);
      const answer = await api(f.tracker.url, "POST", "/torrents", { ...auth, body: bytes });
      assert.equal(answer.status, 400, JSON.stringify(answer.json));
      assert.match(answer.json.error, message);
      assert.equal(await snapshot(f.redis), before);
    });
  }

  it("refuses a body over TORRENT_MAX_BYTES with 413, with or without Content-Length, and stores nothing", async () => {
    const before = await snapshot(f.redis);
    const big = new Uint8Array(200_000);
    const sized = await api(f.tracker.url, "POST", "/torrents", { ...auth, body: big });
    assert.equal(sized.status, 413);
    assert.match(sized.json.error, /larger than 131072 bytes \(TORRENT_MAX_BYTES\)/);
    let sent = 0;
    const chunked = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 20) controller.enqueue(new Uint8Array(10_000));
        else controller.close();
      },
    });
    const response = await fetch(`${f.tracker.url}/api/v1/torrents`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_TOKEN}` },
      body: chunked,
      duplex: "half",
    } as RequestInit);
    assert.equal(response.status, 413);
    assert.match(((await response.json()) as { error: string }).error, /TORRENT_MAX_BYTES/);
    assert.equal(await snapshot(f.redis), before);
  });

  it("answers bad paths and parameters with 400/404 in JSON", async () => {
    const bad = await api(f.tracker.url, "GET", "/transfers/xyz");
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /infohash: expected an info hash of 40 hex digits/);
    const unknown = await api(f.tracker.url, "GET", `/transfers/${hexOf(randomInfoHash())}`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.error, /^no transfer [0-9A-F]{40}: register it/);
    const limit = await api(f.tracker.url, "GET", "/transfers?limit=0");
    assert.equal(limit.status, 400);
    const state = await api(f.tracker.url, "GET", "/transfers?state=gone");
    assert.equal(state.status, 400);
    const nowhere = await api(f.tracker.url, "GET", "/nowhere");
    assert.equal(nowhere.status, 404);
    assert.match(nowhere.json.error, /no such endpoint/);
  });
});

describe("operators' API: a transfer's state, peers and racks", () => {
  const f = trackerFixture({ ADMIN_TOKEN: TEST_TOKEN });
  const torrent = buildTorrent();
  const hex = hexOf(torrent.infoHash);
  const RACKS = 4;
  const HOSTS = 60; // 240 peers: more than a small hash holds, so HSCAN pages for real

  before(async () => {
    assert.equal((await api(f.tracker.url, "POST", "/torrents", { ...auth, body: torrent.bytes })).status, 201);
    await announce(f.tracker, torrent.infoHash, peer("10.50.9.1"), { left: 0, event: "started" });
    for (let r = 1; r <= RACKS; r++) {
      for (let h = 1; h <= HOSTS; h++) {
        const left = r === 1 && h > HOSTS / 2 ? 0 : 25_000;
        const event = left === 0 ? "completed" : "started";
        await announce(f.tracker, torrent.infoHash, peer(`10.50.${r}.${h}`), { left, event });
      }
    }
  });

  it("shows the origin's fields, counts and progress, and per rack with racks=1", async () => {
    const answer = await api(f.tracker.url, "GET", `/transfers/${hex}?racks=1`);
    assert.equal(answer.status, 200);
    const t = answer.json;
    assert.equal(t.peers, RACKS * HOSTS + 1);
    assert.equal(t.origins, 1);
    assert.equal(t.seeders, HOSTS / 2 + 1);
    assert.equal(t.leechers, RACKS * HOSTS - HOSTS / 2);
    assert.equal(t.completed, HOSTS / 2);
    for (const field of ["first_started", "last_started", "first_completed", "last_completed", "registered"]) {
      assert.equal(typeof t[field], "number", field);
    }
    assert.equal(t.deregistered, null);
    // Hosts: 30 complete, 210 half-way (25,000 of 50,000 left).
    assert.equal(t.progress, Math.round(((30 + 210 * 0.5) / 240) * 10000) / 10000);
    assert.equal(t.racks.length, RACKS + 1);
    const rack1 = t.racks.find((r: { rack: string }) => r.rack === "10.50.1.0/24");
    assert.deepEqual(
      {
        peers: rack1.peers,
        seeders: rack1.seeders,
        leechers: rack1.leechers,
        done: rack1.done,
        progress: rack1.progress,
      },
      { peers: HOSTS, seeders: HOSTS / 2, leechers: HOSTS / 2, done: HOSTS / 2, progress: 0.75 },
    );
    assert.deepEqual(rack1.representatives, [
      "10.50.1.1:" + rack1.representatives[0].split(":")[1],
      rack1.representatives[1],
    ]);
    assert.equal(rack1.representatives.length, 2);
    const origin = t.racks.find((r: { rack: string }) => r.rack === "10.50.9.0/24");
    assert.deepEqual(
      { peers: origin.peers, progress: origin.progress, reps: origin.representatives },
      { peers: 1, progress: null, reps: [] },
    );
    const plain = await api(f.tracker.url, "GET", `/transfers/${hex}`);
    assert.equal(plain.json.racks, undefined);
  });

  it("pages through every peer with its details; each list holds exactly its peers", async () => {
    const pages = await allPages(f.tracker.url, `/transfers/${hex}/peers`, 50);
    assert.ok(pages.length > 1, `several pages (${pages.length})`);
    const peers = pages.flat() as Array<Record<string, unknown>>;
    const addresses = peers.map((p) => p.address);
    assert.equal(new Set(addresses).size, RACKS * HOSTS + 1, "every peer once");
    const sample = peers.find((p) => p.ip === "10.50.2.7")!;
    assert.deepEqual(
      {
        rack: sample.rack,
        role: sample.role,
        state: sample.state,
        left: sample.left,
        live: sample.live,
        last_event: sample.last_event,
      },
      { rack: "10.50.2.0/24", role: "member", state: "leecher", left: 25_000, live: true, last_event: "started" },
    );
    assert.equal(typeof sample.last_seen, "number");
    const count = async (list: string) => (await allPages(f.tracker.url, `/transfers/${hex}/${list}`, 40)).flat();
    assert.equal((await count("seeders")).length, HOSTS / 2 + 1);
    assert.equal((await count("leechers")).length, RACKS * HOSTS - HOSTS / 2);
    const reps = (await count("representatives")) as Array<{ role: string; rack: string }>;
    assert.equal(reps.length, 2 * RACKS);
    assert.ok(reps.every((p) => p.role === "representative"));
    const origins = (await count("origins")) as Array<{ ip: string }>;
    assert.deepEqual(
      origins.map((p) => p.ip),
      ["10.50.9.1"],
    );
    const racks = (await allPages(f.tracker.url, `/transfers/${hex}/racks`, 2)).flat() as Array<{ rack: string }>;
    assert.equal(racks.length, RACKS + 1);
  });

  it("lists active transfers with counts, paginated by cursor", async () => {
    const hashes = Array.from({ length: 23 }, () => hexOf(randomInfoHash()));
    for (const h of hashes) assert.equal((await api(f.tracker.url, "POST", `/transfers/${h}`, auth)).status, 201);
    const pages = await allPages(f.tracker.url, "/transfers", 10);
    const rows = pages.flat() as Array<{ info_hash: string; seeders: number }>;
    assert.equal(pages.length, 3);
    assert.equal(rows.length, 24);
    assert.deepEqual(new Set(rows.map((r) => r.info_hash)), new Set([...hashes, hex]));
    assert.equal(rows.find((r) => r.info_hash === hex)!.seeders, HOSTS / 2 + 1);
    const first = await api(f.tracker.url, "GET", "/transfers?limit=10");
    assert.equal(first.json.total, 24);
  });

  it("pages by the last row shown: rows registered or archived meanwhile make no row skip or repeat", async () => {
    const before = (await allPages(f.tracker.url, "/transfers", 1000)).flat() as Array<{ info_hash: string }>;
    const first = await api(f.tracker.url, "GET", "/transfers?limit=7");
    const firstRows = first.json.items as Array<{ info_hash: string }>;
    // Meanwhile: newer transfers arrive (a second later, so at the top) and one already
    // shown is archived.
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 5; i++) await api(f.tracker.url, "POST", `/transfers/${hexOf(randomInfoHash())}`, auth);
    const archived = firstRows[0]!.info_hash;
    assert.equal((await api(f.tracker.url, "DELETE", `/transfers/${archived}`, auth)).status, 200);
    const rest: Array<{ info_hash: string }> = [];
    let cursor: string | null = first.json.next_cursor;
    while (cursor !== null) {
      const page = await api(f.tracker.url, "GET", `/transfers?limit=7&cursor=${encodeURIComponent(cursor)}`);
      assert.equal(page.status, 200, JSON.stringify(page.json));
      rest.push(...page.json.items);
      cursor = page.json.next_cursor;
    }
    const walked = [...firstRows, ...rest].map((r) => r.info_hash);
    assert.equal(new Set(walked).size, walked.length, "no row twice");
    const missed = before.map((r) => r.info_hash).filter((h) => !walked.includes(h));
    assert.deepEqual(missed, [], "every row that was there before the walk is in it");
  });

  it("refuses a cursor it did not make with 400", async () => {
    for (const path of [
      "/transfers?cursor=12",
      "/transfers?cursor=99999999999999999999:AB",
      `/transfers/${hex}/peers?cursor=99999999999999999999999`,
      `/transfers/${hex}/peers?cursor=-1`,
    ]) {
      const answer = await api(f.tracker.url, "GET", path);
      assert.equal(answer.status, 400, path);
      assert.match(answer.json.error, /cursor: expected the next_cursor of an earlier page/);
    }
  });

  it("lists hashes that clients announced but nobody registered (?state=seen)", async () => {
    const stray = randomInfoHash();
    await announce(f.tracker, stray, peer("10.51.0.1"));
    const seen = (await allPages(f.tracker.url, "/transfers?state=seen", 100)).flat() as Array<{ info_hash: string }>;
    assert.ok(seen.some((row) => row.info_hash === hexOf(stray)));
    assert.ok(!seen.some((row) => row.info_hash === hex), "registered transfers are not 'seen'");
  });

  it("tells which resolver answers for an address", async () => {
    const answer = await api(f.tracker.url, "GET", "/racks/resolve?ip=10.50.3.4");
    assert.deepEqual(answer.json, { ip: "10.50.3.4", location: "10.50.3.0/24", resolver: "subnet" });
    const bad = await api(f.tracker.url, "GET", "/racks/resolve?ip=10.50.3");
    assert.equal(bad.status, 400);
  });
});

describe("operators' API: archiving", () => {
  const f = trackerFixture({ ADMIN_TOKEN: TEST_TOKEN, ARCHIVE_TTL: "3600" });

  it("archives: keys renamed behind the UTC time with the hash tag and the TTL, stats still readable", async () => {
    const torrent = buildTorrent();
    const hex = hexOf(torrent.infoHash);
    assert.equal((await api(f.tracker.url, "POST", "/torrents", { ...auth, body: torrent.bytes })).status, 201);
    const a = peer("10.60.1.1");
    const b = peer("10.60.2.1");
    await announce(f.tracker, torrent.infoHash, a, { event: "started" });
    await announce(f.tracker, torrent.infoHash, b, { left: 0, event: "completed" });
    const liveKeys = (await f.redis.client.keys(`{${hex}}*`)).sort();
    assert.ok(liveKeys.length >= 8, liveKeys.join(" "));

    const archived = await api(f.tracker.url, "DELETE", `/transfers/${hex}`, auth);
    assert.equal(archived.status, 200, JSON.stringify(archived.json));
    const stamp = archived.json.archive as string;
    assert.match(stamp, /^\d{8}T\d{6}Z$/);
    const expectedStamp = new Date(archived.json.deregistered * 1000).toISOString().replace(/[-:]|\.\d+/g, "");
    assert.equal(stamp, expectedStamp, "the stamp is the deactivation time in UTC");
    assert.equal(archived.json.peers, 2);

    assert.deepEqual(await f.redis.client.keys(`{${hex}}*`), [], "{H}:* names only a live transfer");
    assert.deepEqual(await f.redis.client.zRange(`archives:{${hex}}`, 0, -1), [stamp], "the transfer's archive index");
    assert.ok((await f.redis.client.ttl(`archives:{${hex}}`)) > 3500);
    const archiveKeys = (await f.redis.client.keys(`archive:${stamp}:{${hex}}*`)).sort();
    assert.deepEqual(archiveKeys, liveKeys.map((k) => `archive:${stamp}:${k}`).sort(), "every key renamed");
    for (const key of archiveKeys) {
      const ttl = await f.redis.client.ttl(key);
      assert.ok(ttl > 3500 && ttl <= 3600, `${key} TTL ${ttl}`);
      assert.ok(key.includes(`:{${hex}}:`), `${key} keeps the hash tag`);
    }

    const after = await announce(f.tracker, torrent.infoHash, a);
    assert.equal(after.interval, f.tracker.config.PASSIVE_INTERVAL);
    assert.match(text(after["warning message"]), /not registered/);
    assert.deepEqual(peersOf(after), []);

    const view = await api(f.tracker.url, "GET", `/transfers/${hex}?racks=1`);
    assert.equal(view.status, 200);
    assert.equal(view.json.active, false);
    assert.equal(view.json.archive, stamp);
    assert.equal(view.json.deregistered, archived.json.deregistered);
    assert.equal(view.json.completed, 1);
    assert.equal(view.json.peers, 2);
    assert.equal(view.json.racks.length, 2);
    const peers = (await allPages(f.tracker.url, `/transfers/${hex}/peers`, 10)).flat();
    assert.equal(peers.length, 2);
    const torrentBack = await api(f.tracker.url, "GET", `/torrents/${hex}.torrent`);
    assert.deepEqual(torrentBack.bytes, Buffer.from(torrent.bytes), "the archive's .torrent stays readable");
    const listed = (await allPages(f.tracker.url, "/transfers?state=archived", 10)).flat() as Array<{
      info_hash: string;
      archive: string;
      completed: number;
    }>;
    assert.deepEqual(
      listed.filter((r) => r.info_hash === hex).map((r) => [r.archive, r.completed]),
      [[stamp, 1]],
    );
    const active = (await allPages(f.tracker.url, "/transfers", 10)).flat() as Array<{ info_hash: string }>;
    assert.ok(!active.some((r) => r.info_hash === hex));

    const again = await api(f.tracker.url, "DELETE", `/transfers/${hex}`, auth);
    assert.equal(again.status, 404);

    // Registering again starts fresh and leaves the archive alone.
    await new Promise((r) => setTimeout(r, 1000));
    const fresh = await api(f.tracker.url, "POST", "/torrents", { ...auth, body: torrent.bytes });
    assert.equal(fresh.status, 201);
    assert.equal(fresh.json.transfer.completed, 0);
    assert.equal(fresh.json.transfer.peers, 0);
    assert.equal(fresh.json.transfer.archive, null);
    assert.deepEqual((await f.redis.client.keys(`archive:${stamp}:{${hex}}*`)).sort(), archiveKeys);
    const old = await api(f.tracker.url, "GET", `/transfers/${hex}?archive=${stamp}`);
    assert.equal(old.json.completed, 1);
    assert.equal(old.json.archive, stamp);
    const second = await api(f.tracker.url, "DELETE", `/transfers/${hex}`, auth);
    assert.equal(second.status, 200);
    assert.notEqual(second.json.archive, stamp);
  });

  it("has no endpoint that deletes more than one transfer", async () => {
    for (const path of ["/transfers", "/transfers/", "/torrents"]) {
      const answer = await api(f.tracker.url, "DELETE", path, auth);
      assert.equal(answer.status, 404, path);
    }
  });
});

describe("operators' API: storage down, and on its own address", () => {
  let redis: TestRedis;
  let tracker: TestTracker;
  before(async () => {
    redis = await startTestRedis();
    tracker = await startTestTracker(redis, { ADMIN_TOKEN: TEST_TOKEN, API_LISTEN: "127.0.0.1:0" });
  });
  after(async () => {
    await tracker.close();
    await redis.close();
  });

  it("serves the API only on API_LISTEN when it is set", async () => {
    const apiUrl = `http://127.0.0.1:${tracker.apiPort}`;
    assert.notEqual(tracker.apiPort, tracker.port);
    assert.equal((await api(apiUrl, "GET", "/transfers")).status, 200);
    const onAnnouncePort = await api(tracker.url, "GET", "/transfers");
    assert.equal(onAnnouncePort.status, 404);
    assert.match(onAnnouncePort.json.error, /API_LISTEN/);
    const announceOnApi = await fetch(`${apiUrl}/announce`);
    assert.equal(announceOnApi.status, 404);
  });

  it("answers 503 in JSON while Redis is down, and works again after", async () => {
    const apiUrl = `http://127.0.0.1:${tracker.apiPort}`;
    await redis.stopServer();
    try {
      const down = await api(apiUrl, "GET", "/transfers");
      assert.equal(down.status, 503);
      assert.equal(down.json.error, "tracker storage unavailable, retry later");
      const write = await api(apiUrl, "POST", `/transfers/${hexOf(randomInfoHash())}`, auth);
      assert.equal(write.status, 503);
    } finally {
      await redis.startServer();
    }
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await api(apiUrl, "GET", "/transfers")).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200);
  });
});
