import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { SCRIPTS } from "../src/store/scripts.js";
import { api, TEST_TOKEN } from "./helpers/api.js";
import { httpRequest } from "./helpers/http.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { makeTorrent } from "./helpers/torrent.js";
import {
  addressOf,
  announce,
  hexOf,
  peer,
  peersOf,
  randomInfoHash,
  startTestTracker,
  type TestTracker,
} from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const auth = { token: TEST_TOKEN };
/** The peers of a reply, each once, sorted. */
const distinct = (reply: Record<string, unknown>) => [...new Set(peersOf(reply))].sort();

describe("persistence: redis-server killed with -9 and started again from redis.conf", () => {
  let redis: TestRedis;
  const trackers: TestTracker[] = [];

  before(async () => {
    redis = await startTestRedis({ persistent: true });
    for (let i = 0; i < 2; i++) trackers.push(await startTestTracker(redis, { ADMIN_TOKEN: TEST_TOKEN }));
  });
  after(async () => {
    for (const tracker of trackers) await tracker.close();
    await redis.close();
  });

  it("keeps transfers, torrents, archives and swarms; replicas reconnect and reload the scripts", async () => {
    const [one, two] = trackers as [TestTracker, TestTracker];
    const torrent = makeTorrent(randomBytes(40_000), {
      name: "build-persist.tar",
      announce: `${one.url}/announce`,
      pieceLength: 16384,
    });
    const H = hexOf(torrent.infoHash);
    assert.equal((await api(one.url, "POST", "/torrents", { ...auth, body: torrent.bytes })).status, 201);
    const archivedHash = randomInfoHash();
    const archivedHex = hexOf(archivedHash);
    assert.equal((await api(two.url, "POST", `/transfers/${archivedHex}`, auth)).status, 201);
    await announce(two, archivedHash, peer("10.91.9.1"));
    const archive = await api(one.url, "DELETE", `/transfers/${archivedHex}`, auth);
    assert.equal(archive.status, 200);
    const swarm = [peer("10.91.1.1"), peer("10.91.1.2"), peer("10.91.2.1")];
    for (const [i, client] of swarm.entries()) {
      const reply = await announce(trackers[i % 2]!, torrent.infoHash, client, { left: i === 0 ? 0 : 1000 });
      assert.equal(reply["failure reason"], undefined);
    }

    // appendfsync everysec: what is older than a second is on disk. (A kill -9 of the
    // process loses nothing it wrote; the second is what a machine crash can lose.)
    await sleep(1500);
    await redis.killServer();
    await redis.startServer();
    await eventually(
      "both replicas reconnect by themselves",
      async () => {
        for (const tracker of trackers) {
          if ((await httpRequest(`${tracker.url}/readyz`)).status !== 200) return false;
        }
        return true;
      },
      10_000,
    );
    assert.deepEqual(await redis.client.scriptExists([SCRIPTS.announce.SHA1]), [0], "a restarted Redis has no scripts");

    // The first announce after the restart is served: EVALSHA fails with NOSCRIPT and the
    // client sends the script with EVAL, which loads it.
    const late = peer("10.91.1.3");
    const reply = await announce(two, torrent.infoHash, late, { numwant: 50 });
    assert.equal(reply["failure reason"], undefined);
    // A rack's second client is its representative: it gets every live peer here.
    assert.deepEqual(distinct(reply), swarm.map(addressOf).sort(), "the swarm survived");
    // It claims its rack's second slot: the announce and lease scripts come back, one EVAL each.
    assert.deepEqual(await redis.client.scriptExists([SCRIPTS.announce.SHA1, SCRIPTS.lease.SHA1]), [1, 1]);
    const stats = await redis.client.info("commandstats");
    assert.match(stats, /cmdstat_eval:calls=2,/, "each script came back through one EVAL");
    assert.match(stats, /cmdstat_evalsha:calls=\d+,.*failed_calls=[1-9]/, "after an EVALSHA that found no script");

    const other = await announce(one, torrent.infoHash, peer("10.91.2.2"));
    assert.deepEqual(distinct(other), [...swarm, late].map(addressOf).sort(), "through the other replica too");
    const transfer = await api(one.url, "GET", `/transfers/${H}`);
    assert.equal(transfer.status, 200);
    assert.equal(transfer.json.active, true);
    assert.equal(transfer.json.name, "build-persist.tar");
    assert.equal(transfer.json.peers, 5);
    assert.equal(transfer.json.seeders, 1);
    const stored = await api(two.url, "GET", `/torrents/${H}.torrent`);
    assert.equal(stored.status, 200);
    assert.ok(stored.bytes.equals(Buffer.from(torrent.bytes)), "the stored .torrent is byte-equal");
    const archives = await api(two.url, "GET", "/transfers?state=archived");
    const listed = (archives.json.items as Array<{ info_hash: string; archive: string }>).find(
      (item) => item.info_hash === archivedHex,
    );
    assert.equal(listed?.archive, archive.json.archive, "the archive is listed");
    const archived = await api(one.url, "GET", `/transfers/${archivedHex}`);
    assert.equal(archived.json.active, false);
    assert.equal(archived.json.peers, 1);
  });
});
