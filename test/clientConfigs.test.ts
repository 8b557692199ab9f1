import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseSettings } from "../src/config/config.js";
import { activateTransfer, type TransferStore } from "../src/store/transfers.js";
import {
  seenAsSeeder as seenAsSeederIn,
  ARIA2_CONF,
  RTORRENT_RC,
  TRANSMISSION_SETTINGS,
  makeTestTorrent,
  startAria2,
  startOrigin,
  startRtorrent,
  startTransmission,
  stopClient,
  transmissionSession,
  udpSockets,
  waitForDownload,
  type RunningClient,
  type TestTorrent,
} from "./helpers/clients.js";
import { freePort } from "./helpers/redisServer.js";
import { trackerFixture } from "./helpers/tracker.js";

/** The rate cap every shipped config sets (each in its client's unit), in bytes/s: 100 Mbit/s. */
const CAP_BYTES_PER_SECOND = 12_500_000;
const TRACKER_DEFAULTS = parseSettings([]);

const PAYLOAD_SIZE = 8 * 1024 * 1024;
const ACTIVE_INTERVAL = 2;
// Transmission 3.00 begins to download some 10 s after it has connected to its peers.
const DOWNLOAD_TIMEOUT_MS = 40_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** aria2.conf: `key=value` lines; `#` starts a comment line. */
function parseAria2Conf(text: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    const at = line.indexOf("=");
    assert.ok(at > 0, `aria2.conf: not key=value: ${line}`);
    options.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return options;
}

/** aria2 speeds: bytes per second, or with a K or M suffix (1K = 1024). */
function aria2Speed(value: string | undefined): number {
  const match = /^(\d+(?:\.\d+)?)([KM]?)$/.exec(value ?? "");
  assert.ok(match, `not an aria2 speed: ${value}`);
  return Number(match[1]) * { "": 1, K: 1024, M: 1024 * 1024 }[match[2] as "" | "K" | "M"];
}

/** rtorrent.rc: `command = arguments` lines, in order; `#` starts a comment line. */
function parseRtorrentRc(text: string): Array<{ command: string; args: string }> {
  const lines: Array<{ command: string; args: string }> = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    const at = line.indexOf("=");
    assert.ok(at > 0, `rtorrent.rc: not command = arguments: ${line}`);
    lines.push({ command: line.slice(0, at).trim(), args: line.slice(at + 1).trim() });
  }
  return lines;
}

describe("the client configs in etc/", () => {
  it("aria2.conf: no DHT, PEX or LPD; 100 Mbit/s each way; checks files on disk; seeds until stopped", () => {
    const conf = parseAria2Conf(readFileSync(ARIA2_CONF, "utf8"));
    for (const key of ["enable-dht", "enable-dht6", "enable-peer-exchange", "bt-enable-lpd"]) {
      assert.equal(conf.get(key), "false", key);
    }
    assert.equal(aria2Speed(conf.get("max-overall-download-limit")), CAP_BYTES_PER_SECOND);
    assert.equal(aria2Speed(conf.get("max-overall-upload-limit")), CAP_BYTES_PER_SECOND);
    assert.equal(conf.get("check-integrity"), "true", "files on disk are checked, not refused");
    assert.equal(Number(conf.get("seed-ratio")), 0, "0.0: no ratio limit");
    assert.notEqual(conf.get("bt-require-crypto"), "true", "plain peers are accepted");
    assert.equal(conf.get("bt-tracker-interval") ?? "0", "0", "the tracker's interval is used");
  });

  it("rtorrent.rc: no DHT or PEX; 100 Mbit/s each way; daemon mode; announces at the tracker's interval; unchokes every second", () => {
    const rc = parseRtorrentRc(readFileSync(RTORRENT_RC, "utf8"));
    const last = (command: string) => rc.filter((l) => l.command === command).at(-1)?.args;
    assert.equal(last("dht.mode.set"), "disable");
    assert.equal(last("protocol.pex.set"), "no");
    assert.equal(last("system.daemon.set"), "true");
    for (const direction of ["down", "up"]) {
      const bytes = last(`throttle.global_${direction}.max_rate.set`);
      const kib = last(`throttle.global_${direction}.max_rate.set_kb`);
      const rate = bytes !== undefined ? Number(bytes) : Number(kib) * 1024;
      // rtorrent keeps whole KiB.
      assert.equal(Math.floor(rate / 1024), Math.floor(CAP_BYTES_PER_SECOND / 1024), `${direction}: ${bytes ?? kib}`);
    }
    const encryption = last("protocol.encryption.set")?.split(/\s*,\s*/) ?? [];
    assert.ok(encryption.includes("allow_incoming"), "encrypted peers are accepted");
    assert.ok(!encryption.includes("require"), "plain peers are accepted");
    const announce = rc.find((l) => l.command === "schedule2" && l.args.startsWith("p2ptracker_announce,"));
    assert.ok(announce, "an announce schedule");
    const [, start, every] = announce.args.split(/\s*,\s*/);
    assert.equal(Number(every), TRACKER_DEFAULTS.ACTIVE_INTERVAL, "announces every ACTIVE_INTERVAL (default)");
    assert.equal(Number(start), TRACKER_DEFAULTS.ACTIVE_INTERVAL);
    // libtorrent 0.13 re-unchokes a peer interested again within 10 s only at its 30 s
    // choke round; setting the minimum slots re-runs the balance, every second.
    const unchoke = rc.find((l) => l.command === "schedule2" && l.args.startsWith("p2ptracker_unchoke,"));
    assert.ok(unchoke, "an unchoke schedule");
    const [, unchokeStart, unchokeEvery] = unchoke.args.split(/\s*,\s*/);
    assert.deepEqual([Number(unchokeStart), Number(unchokeEvery)], [1, 1], "every second");
    const method = rc.find((l) => l.command === "method.insert" && l.args.startsWith("p2ptracker.unchoke,"));
    assert.match(method?.args ?? "", /d\.uploads_min\.set=\d+.*d\.downloads_min\.set=\d+/, "both directions");
  });

  it("transmission/settings.json: no DHT, PEX, LPD or port mapping; 100 Mbit/s each way; no seeding limits", () => {
    const settings = JSON.parse(readFileSync(TRANSMISSION_SETTINGS, "utf8")) as Record<string, unknown>;
    for (const key of ["dht-enabled", "pex-enabled", "lpd-enabled", "port-forwarding-enabled"]) {
      assert.equal(settings[key], false, key);
    }
    // Transmission's daemon counts speeds in kB/s of 1000 bytes.
    for (const direction of ["down", "up"]) {
      assert.equal(Number(settings[`speed-limit-${direction}`]) * 1000, CAP_BYTES_PER_SECOND, direction);
      assert.equal(settings[`speed-limit-${direction}-enabled`], true, direction);
    }
    assert.equal(settings["alt-speed-enabled"], false, "no turtle mode in place of the cap");
    assert.equal(settings["alt-speed-time-enabled"], false, "no scheduled turtle mode");
    assert.equal(settings["ratio-limit-enabled"], false);
    assert.equal(settings["idle-seeding-limit-enabled"], false);
    assert.notEqual(settings.encryption, 2, "plain peers are accepted");
  });

  it("the rack promise: MAX_REPR_RACK (default) x cap is at most a fifth of a 1 Gbit/s uplink", () => {
    const rackUplinkBitsPerSecond = TRACKER_DEFAULTS.MAX_REPR_RACK * CAP_BYTES_PER_SECOND * 8;
    assert.ok(rackUplinkBitsPerSecond <= 1e9 / 5, `${rackUplinkBitsPerSecond} bit/s`);
  });
});

describe("the client configs in etc/ through the tracker", { concurrency: true }, () => {
  const f = trackerFixture({ ACTIVE_INTERVAL: String(ACTIVE_INTERVAL) });
  let work: string;
  let build: TestTorrent;
  const clients: RunningClient[] = [];

  const seenAsSeeder = (client: RunningClient) => seenAsSeederIn(f.redis.client, build.infoHashHex, client);

  before(async () => {
    for (const [command, flag] of [
      ["aria2c", "--version"],
      ["rtorrent", "-h"],
      ["transmission-daemon", "--version"],
      ["ss", "-V"],
    ] as const) {
      const probe = spawnSync(command, [flag], { encoding: "utf8" });
      if (probe.error)
        throw new Error(`${command} is not installed (scripts/test installs it): ${probe.error.message}`);
    }
    work = mkdtempSync(join(tmpdir(), "p2ptracker-clients-"));
    build = await makeTestTorrent(work, `${f.tracker.url}/announce`, PAYLOAD_SIZE);
    await activateTransfer(f.admin as unknown as TransferStore, build.infoHashHex, build.file, String(build.size));

    const originsKey = `{${build.infoHashHex}}:O`;
    clients.push(await startOrigin(build, "127.0.40.1", async () => (await f.redis.client.zCard(originsKey)) > 0));
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => stopClient(c)));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Downloads the build with `client` through the tracker and checks its bytes. */
  async function download(client: RunningClient): Promise<void> {
    clients.push(client);
    // The tracker must learn that the host is complete: it then serves it to its rack as a seeder.
    await waitForDownload(client, build, DOWNLOAD_TIMEOUT_MS, {
      check: async () => (await seenAsSeeder(client)) !== undefined,
      description: "the tracker has it as a seeder",
    });
  }

  /** Once it seeds, the client announces again within the tracker's interval. */
  async function keepsAnnouncing(client: RunningClient): Promise<void> {
    const first = await seenAsSeeder(client);
    assert.ok(first !== undefined);
    const deadline = Date.now() + (3 * ACTIVE_INTERVAL + 2) * 1000;
    for (let seen = first; seen < first + ACTIVE_INTERVAL; seen = (await seenAsSeeder(client)) ?? 0) {
      assert.ok(Date.now() < deadline, `${client.name} went silent after completing (PEER_TTL would drop it)`);
      await sleep(250);
    }
  }

  it("aria2 with aria2.conf: downloads, no DHT or LPD socket, keeps announcing", async () => {
    const client = startAria2({
      name: "aria2",
      ip: "127.0.41.1",
      workDir: join(work, "aria2"),
      torrent: build.torrent,
    });
    await download(client);
    // aria2c only warns about an option it does not know, and goes on without it.
    assert.doesNotMatch(client.output(), /Unknown option/, "aria2c knows every option of aria2.conf");
    assert.deepEqual(await udpSockets(client.child.pid!), [], "aria2c has no UDP socket: no DHT, no LPD");
    await keepsAnnouncing(client);
    await stopClient(client);
  });

  it("rtorrent with rtorrent.rc: headless, starts from the watch directory, no DHT socket, keeps announcing, ends when the .torrent is deleted", async () => {
    const client = startRtorrent({
      name: "rtorrent",
      ip: "127.0.42.1",
      workDir: join(work, "rtorrent"),
      torrent: build.torrent,
      announceSeconds: ACTIVE_INTERVAL,
    });
    await download(client);
    assert.deepEqual(await udpSockets(client.child.pid!), [], "rtorrent has no UDP socket: no DHT");
    // libtorrent alone would wait 600 s between announces: the rc's schedule keeps it announcing.
    await keepsAnnouncing(client);
    // Deleting the .torrent from the watch directory ends the transfer: "stopped" drops the host.
    rmSync(join(work, "rtorrent", "watch", basename(build.torrent)));
    for (const deadline = Date.now() + 10_000; (await seenAsSeeder(client)) !== undefined; await sleep(250)) {
      assert.ok(Date.now() < deadline, `rtorrent still announces after its .torrent was deleted\n${client.output()}`);
    }
    await stopClient(client);
  });

  it("transmission-daemon with settings.json: runs with them, downloads from the watch directory, keeps announcing", async () => {
    const client = startTransmission({
      name: "transmission",
      ip: "127.0.43.1",
      workDir: join(work, "transmission"),
      torrent: build.torrent,
      rpcPort: await freePort(),
    });
    await download(client);
    // What the daemon runs with, not only what the file says: it ignores keys it does not know.
    const session = await transmissionSession(client.rpcPort);
    for (const key of ["dht-enabled", "pex-enabled", "lpd-enabled", "port-forwarding-enabled"]) {
      assert.equal(session[key], false, key);
    }
    for (const direction of ["down", "up"]) {
      assert.equal(session[`speed-limit-${direction}-enabled`], true, direction);
      assert.equal(Number(session[`speed-limit-${direction}`]) * 1000, CAP_BYTES_PER_SECOND, direction);
    }
    assert.equal(session.seedRatioLimited, false, "no ratio limit");
    await keepsAnnouncing(client);
    await stopClient(client);
  });
});
