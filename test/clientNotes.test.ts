import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { activateTransfer, type TransferStore } from "../src/store/transfers.js";
import {
  seenAsSeeder as seenAsSeederIn,
  isRunning,
  makeTestTorrent,
  readmeBlock,
  startLibtorrentScript,
  startOrigin,
  startQbittorrent,
  stopClient,
  waitForDownload,
  type RunningClient,
  type TestTorrent,
} from "./helpers/clients.js";
import { freePort } from "./helpers/redisServer.js";
import { trackerFixture } from "./helpers/tracker.js";

// The setups etc/README.md gives as notes rather than files: qBittorrent and a program
// embedding libtorrent. Each runs from the README's own code blocks.

const PAYLOAD_SIZE = 4 * 1024 * 1024;
const ACTIVE_INTERVAL = 2;
const DOWNLOAD_TIMEOUT_MS = 25_000;
/** The WebUI address the README's commands use, replaced by the test's own port. */
const README_WEBUI = "http://127.0.0.1:8080/";
/** The .torrent name the README's commands use. */
const README_TORRENT = "build-1234.torrent";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one command line of the README with sh, in `cwd`; resolves to its output. */
function sh(line: string, cwd: string): Promise<string> {
  return new Promise((done, fail) => {
    execFile("sh", ["-c", line], { cwd, timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) return fail(new Error(`${line}: ${error.message}\n${stdout}${stderr}`));
      done(stdout);
    });
  });
}

/** The README's two qBittorrent commands (add a build, reannounce), aimed at `port`. */
function qbittorrentCommands(port: number): { add: string; reannounce: string } {
  const lines = readmeBlock("qBittorrent", "sh").split("\n");
  const add = lines.find((line) => line.includes("/api/v2/torrents/add"));
  const timer = lines.find((line) => line.includes("/api/v2/torrents/reannounce"));
  assert.ok(add && add.includes(README_WEBUI) && add.includes(README_TORRENT), `the add command: ${add}`);
  // The timer's loop body is the call; the test makes it once instead of every 30 s.
  const reannounce = timer && /^while sleep \d+; do (.+); done$/.exec(timer)?.[1];
  assert.ok(reannounce && reannounce.includes(README_WEBUI), `the reannounce timer: ${timer}`);
  const aim = (line: string) => line.replaceAll(README_WEBUI, `http://127.0.0.1:${port}/`);
  return { add: aim(add), reannounce: aim(reannounce) };
}

/** Waits until the client's WebUI answers. */
async function webUiUp(client: RunningClient, port: number): Promise<void> {
  for (const deadline = Date.now() + 15_000; ; await sleep(200)) {
    assert.ok(isRunning(client), `${client.name} exited\n${client.output()}`);
    const up = await fetch(`http://127.0.0.1:${port}/api/v2/app/version`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    assert.ok(Date.now() < deadline, `${client.name}: no WebUI on port ${port}\n${client.output()}`);
  }
}

describe("the client notes of etc/README.md through the tracker", { concurrency: true }, () => {
  const f = trackerFixture({ ACTIVE_INTERVAL: String(ACTIVE_INTERVAL) });
  let work: string;
  let build: TestTorrent;
  const clients: RunningClient[] = [];

  const seenAsSeeder = (client: RunningClient) => seenAsSeederIn(f.redis.client, build.infoHashHex, client);
  const trackerHasSeeder = (client: RunningClient) => ({
    check: async () => (await seenAsSeeder(client)) !== undefined,
    description: "the tracker has it as a seeder",
  });

  before(async () => {
    for (const [command, ...args] of [
      ["aria2c", "--version"],
      ["qbittorrent-nox", "--version"],
      ["/usr/bin/python3", "-c", "import libtorrent"],
      ["curl", "--version"],
    ] as const) {
      const probe = spawnSync(command, args, { encoding: "utf8" });
      if (probe.error || probe.status !== 0)
        throw new Error(`${command} fails (scripts/test installs it): ${probe.error?.message ?? probe.stderr}`);
    }
    work = mkdtempSync(join(tmpdir(), "p2ptracker-notes-"));
    build = await makeTestTorrent(work, `${f.tracker.url}/announce`, PAYLOAD_SIZE);
    await activateTransfer(f.admin as unknown as TransferStore, build.infoHashHex, build.file, String(build.size));
    const originsKey = `{${build.infoHashHex}}:O`;
    clients.push(await startOrigin(build, "127.0.50.1", async () => (await f.redis.client.zCard(originsKey)) > 0));
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => stopClient(c)));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("qbittorrent-nox with the README's qBittorrent.conf: adds through the WebUI API, downloads, reannounces on the README's call", async () => {
    const webUiPort = await freePort();
    const client = startQbittorrent({
      name: "qbittorrent",
      ip: "127.0.51.1",
      workDir: join(work, "qbittorrent"),
      torrent: build.torrent,
      listenPort: await freePort(),
      webUiPort,
    });
    clients.push(client);
    await webUiUp(client, webUiPort);
    const commands = qbittorrentCommands(webUiPort);
    // The README's command, run where the .torrent has the README's name.
    const here = join(work, "qbittorrent-cwd");
    mkdirSync(here);
    copyFileSync(build.torrent, join(here, README_TORRENT));
    assert.equal((await sh(commands.add, here)).trim(), "Ok.", "the WebUI API took the torrent");
    await waitForDownload(client, build, DOWNLOAD_TIMEOUT_MS, trackerHasSeeder(client));
    // What it runs with, not only what the file says: qBittorrent drops keys it does not know.
    const preferences = (await (await fetch(`http://127.0.0.1:${webUiPort}/api/v2/app/preferences`)).json()) as Record<
      string,
      unknown
    >;
    for (const key of ["dht", "pex", "lsd", "upnp", "queueing_enabled"]) assert.equal(preferences[key], false, key);
    for (const key of ["dl_limit", "up_limit"]) assert.equal(preferences[key], 12207 * 1024, `${key} (bytes/s)`);
    assert.equal(preferences.limit_lan_peers, true, "the cap applies to LAN peers");
    assert.equal(preferences.encryption, 0, "plain peers are accepted");

    // libtorrent alone would not announce again for 300 s: the tracker hears from it again
    // only through the README's reannounce call. Scores are whole seconds.
    const first = (await seenAsSeeder(client))!;
    await sleep(1100);
    assert.equal(await seenAsSeeder(client), first, "no announce of its own");
    await sh(commands.reannounce, here);
    for (const deadline = Date.now() + 5_000; ((await seenAsSeeder(client)) ?? 0) <= first; await sleep(200)) {
      assert.ok(Date.now() < deadline, `no announce after the reannounce call\n${client.output()}`);
    }
    await stopClient(client);
  });

  it("the README's libtorrent script: downloads and tells the tracker it is complete", async () => {
    const client = startLibtorrentScript({
      name: "libtorrent",
      ip: "127.0.52.1",
      workDir: join(work, "libtorrent"),
      torrent: build.torrent,
      listenPort: await freePort(),
      activeInterval: ACTIVE_INTERVAL,
    });
    clients.push(client);
    await waitForDownload(client, build, DOWNLOAD_TIMEOUT_MS, trackerHasSeeder(client));
    // Printed once the torrent is complete: the script got past its download loop.
    for (const deadline = Date.now() + 5_000; !client.output().includes("is complete"); await sleep(200)) {
      assert.ok(Date.now() < deadline, `the script never said it was complete\n${client.output()}`);
    }
    await stopClient(client);
  });
});
