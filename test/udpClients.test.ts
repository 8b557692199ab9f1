import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { activateTransfer, type TransferStore } from "../src/store/transfers.js";
import {
  seenAsSeeder as seenAsSeederIn,
  makeTestTorrent,
  startAria2,
  startOrigin,
  startRtorrent,
  stopClient,
  waitForDownload,
  type RunningClient,
  type TestTorrent,
} from "./helpers/clients.js";
import { scrapeMetrics } from "./helpers/metrics.js";
import { freePort } from "./helpers/redisServer.js";
import { trackerFixture } from "./helpers/tracker.js";

const PAYLOAD_SIZE = 4 * 1024 * 1024;
const ACTIVE_INTERVAL = 2;
const DOWNLOAD_TIMEOUT_MS = 60_000;
/**
 * aria2c's UDP tracker client shares the DHT's socket: with DHT off (as etc/aria2.conf has
 * it) it refuses udp:// ("udp is not supported yet"). DHT on, with no bootstrap nodes and a
 * private torrent, finds nobody and is never used for the torrent.
 */
const aria2Udp = async (home: string) => [
  "--enable-dht=true",
  `--dht-listen-port=${await freePort()}`,
  // Its own, empty routing table: not the one in ~/.cache/aria2 from earlier runs.
  `--dht-file-path=${join(home, "dht.dat")}`,
];

/** Real clients whose torrent names only a udp:// tracker: every announce they make is BEP 15. */
describe("real clients through the UDP front end", { concurrency: true }, () => {
  const f = trackerFixture({ ACTIVE_INTERVAL: String(ACTIVE_INTERVAL), UDP_PORT: "0" });
  let work: string;
  let build: TestTorrent;
  const clients: RunningClient[] = [];
  const seenAsSeeder = (client: RunningClient) => seenAsSeederIn(f.redis.client, build.infoHashHex, client);
  const udpAnnounces = async () =>
    (await scrapeMetrics(f.tracker.url)).value("p2ptracker_frontend_announces_total", {
      frontend: "udp",
      outcome: "ok",
    });

  before(async () => {
    for (const [command, flag] of [
      ["aria2c", "--version"],
      ["rtorrent", "-h"],
    ] as const) {
      const probe = spawnSync(command, [flag], { encoding: "utf8" });
      if (probe.error)
        throw new Error(`${command} is not installed (scripts/test installs it): ${probe.error.message}`);
    }
    work = mkdtempSync(join(tmpdir(), "p2ptracker-udp-clients-"));
    // Private: aria2c needs DHT on to speak UDP to a tracker, and the private flag keeps it
    // from using DHT for this torrent (BEP 27), so every peer still comes from the tracker.
    build = await makeTestTorrent(work, `udp://127.0.0.1:${f.tracker.udpPort}/announce`, PAYLOAD_SIZE, {
      privateFlag: true,
    });
    await activateTransfer(f.admin as unknown as TransferStore, build.infoHashHex, build.file, String(build.size));
    const originsKey = `{${build.infoHashHex}}:O`;
    clients.push(
      await startOrigin(
        build,
        "127.0.50.1",
        async () => (await f.redis.client.zCard(originsKey)) > 0,
        await aria2Udp(build.buildDir),
      ),
    );
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => stopClient(c)));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function download(client: RunningClient): Promise<void> {
    clients.push(client);
    await waitForDownload(client, build, DOWNLOAD_TIMEOUT_MS, {
      check: async () => (await seenAsSeeder(client)) !== undefined,
      description: "the tracker has it as a seeder",
    });
  }

  it("aria2c downloads over udp:// and is a seeder in the tracker's Redis; no announce came over HTTP", async () => {
    const client = startAria2({
      name: "aria2",
      ip: "127.0.51.1",
      workDir: join(work, "aria2"),
      torrent: build.torrent,
      extra: await aria2Udp(join(work, "aria2")),
    });
    await download(client);
    assert.ok((await udpAnnounces()) >= 2, "the origin's and the leecher's announces came over UDP");
    const http = (await scrapeMetrics(f.tracker.url)).value("p2ptracker_frontend_announces_total", {
      frontend: "http",
      outcome: "ok",
    });
    assert.equal(http, 0);
  });

  it("rtorrent downloads over udp:// (trackers.use_udp, on by default) and is a seeder in the tracker's Redis", async () => {
    const client = startRtorrent({
      name: "rtorrent",
      ip: "127.0.52.1",
      workDir: join(work, "rtorrent"),
      torrent: build.torrent,
      announceSeconds: ACTIVE_INTERVAL,
    });
    await download(client);
  });
});
