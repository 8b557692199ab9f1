import { ARIA2_TEST_FLAGS } from "./helpers/clients.js";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connectRedis, type TrackerRedis } from "../src/store/redis.js";
import { activateTransfer, type TransferStore } from "../src/store/transfers.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { hexOf, startTestTracker, type TestTracker } from "./helpers/tracker.js";
import { makeTorrent } from "./helpers/torrent.js";

// The origin's rack, then two racks of three hosts; every address is on loopback.
const RACK_MAP = `127.0.9.0/24 build
127.0.1.0/24 rack1
127.0.2.0/24 rack2
`;
const NAME = "payload.bin";
const PAYLOAD_SIZE = 4 * 1024 * 1024;
const PIECE_LENGTH = 256 * 1024;
const DOWNLOAD_TIMEOUT_MS = 90_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** "ip:port" of a 6-byte compact IPv4 address. */
function addressText(compact: Buffer): string {
  return `${compact[0]}.${compact[1]}.${compact[2]}.${compact[3]}:${compact.readUInt16BE(4)}`;
}
const ipOf = (address: string) => address.split(":")[0]!;

/** One running aria2c, bound to its own loopback address, with the tail of its console output kept. */
interface Aria2 {
  readonly name: string;
  readonly ip: string;
  readonly dir: string;
  readonly log: string;
  readonly child: ChildProcess;
  tail(): string;
}

function startAria2(work: string, name: string, ip: string, torrent: string, extra: string[] = []): Aria2 {
  const dir = join(work, name);
  const log = join(work, `${name}.log`);
  mkdirSync(dir, { recursive: true });
  // --interface binds both its listening socket and its tracker requests, so the tracker sees its rack.
  const args = [...ARIA2_TEST_FLAGS, `--interface=${ip}`, `--dir=${dir}`, `--log=${log}`, ...extra, torrent];
  const child = spawn("aria2c", args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer | string) => (output = (output + chunk.toString()).slice(-3000));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("error", (error) => keep(`spawn error: ${error.message}\n`));
  return { name, ip, dir, log, child, tail: () => output };
}

const running = (client: Aria2) => client.child.exitCode === null && client.child.signalCode === null;

/** SIGTERM, then SIGKILL if it is still there after 3 s. */
async function stopAria2(client: Aria2): Promise<void> {
  const { child } = client;
  if (!running(client) || child.pid === undefined) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

/** Addresses of the peers an aria2c exchanged a BitTorrent handshake with, from its info log. */
function handshakePeers(client: Aria2): Set<string> {
  const log = readFileSync(client.log, "utf8");
  return new Set(Array.from(log.matchAll(/(?:To|From): ([\d.]+):\d+ handshake/g), (m) => m[1]!));
}

describe("aria2c through the tracker", () => {
  let redis: TestRedis | undefined;
  let admin: TrackerRedis | undefined;
  let tracker: TestTracker | undefined;
  let work: string | undefined;
  const clients: Aria2[] = [];

  before(async () => {
    const version = spawnSync("aria2c", ["--version"], { encoding: "utf8" });
    if (version.error || version.status !== 0) {
      throw new Error(`aria2c is not installed (Debian package aria2; scripts/test installs it): ${version.error}`);
    }
    work = mkdtempSync(join(tmpdir(), "p2ptracker-aria2-"));
    writeFileSync(join(work, "racks.txt"), RACK_MAP);
    redis = await startTestRedis();
    admin = await connectRedis({ url: redis.url, commandTimeoutMs: 2000 });
    tracker = await startTestTracker(redis, { RACK_MAP: join(work, "racks.txt"), ACTIVE_INTERVAL: "2" });
  });

  after(async () => {
    // Each step on its own, so one failure does not leave the rest running.
    await Promise.allSettled(clients.map(stopAria2));
    await tracker?.close().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await redis?.close().catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("delivers a payload to two racks through their representatives", async () => {
    assert.ok(work && redis && admin && tracker);
    const db = admin;
    const payload = randomBytes(PAYLOAD_SIZE);
    const { bytes, infoHash } = makeTorrent(payload, {
      name: NAME,
      announce: `${tracker.url}/announce`,
      pieceLength: PIECE_LENGTH,
      private: true,
    });
    const torrent = join(work, "payload.torrent");
    writeFileSync(torrent, bytes);
    const hex = hexOf(infoHash);
    await activateTransfer(db as unknown as TransferStore, hex, NAME, String(PAYLOAD_SIZE));

    const fail = (message: string): never =>
      assert.fail(`${message}\n${clients.map((c) => `--- ${c.name} (${c.ip}):\n${c.tail()}`).join("\n")}`);
    // A client that died or was refused by the tracker will not recover: stop waiting at once.
    const checkClients = () => {
      for (const c of clients) {
        if (!running(c)) fail(`${c.name} exited (code ${c.child.exitCode})`);
        if (c.tail().includes("Tracker returned failure reason")) fail(`the tracker refused ${c.name}`);
      }
    };

    // The origin verifies its copy before its first announce, which is complete: it lands in {H}:O.
    const originDir = join(work, "origin");
    mkdirSync(originDir);
    writeFileSync(join(originDir, NAME), payload);
    const origin = startAria2(work, "origin", "127.0.9.1", torrent, ["--check-integrity=true"]);
    clients.push(origin);
    for (const deadline = Date.now() + 30_000; (await redis.client.zCard(`{${hex}}:O`)) < 1; await sleep(200)) {
      checkClients();
      if (Date.now() > deadline) fail("the origin seeder never announced");
    }

    // h1 and h2 of each rack announce before any h3, so they take the two representative slots.
    const leechers: Aria2[] = [];
    for (const host of [1, 2, 3]) {
      for (const rack of [1, 2]) {
        const leecher = startAria2(work, `r${rack}h${host}`, `127.0.${rack}.${10 + host}`, torrent);
        clients.push(leecher);
        leechers.push(leecher);
        await sleep(300);
      }
    }

    // Done: the file is there, aria2c has dropped its control file, and the bytes match.
    const expected = sha256(payload);
    const done = new Set<string>();
    for (const deadline = Date.now() + DOWNLOAD_TIMEOUT_MS; done.size < leechers.length; await sleep(500)) {
      checkClients();
      for (const l of leechers) {
        const file = join(l.dir, NAME);
        if (done.has(l.name) || !existsSync(file) || existsSync(`${file}.aria2`)) continue;
        if (sha256(readFileSync(file)) === expected) done.add(l.name);
      }
      if (Date.now() > deadline) fail(`downloads incomplete after ${DOWNLOAD_TIMEOUT_MS} ms: done ${[...done]}`);
    }
    for (const l of leechers) assert.equal(sha256(readFileSync(join(l.dir, NAME))), expected, l.name);

    // Representatives: the first two announcers of each rack, under the port aria2c listens on.
    const members = async (key: string) => ((await db.zRange(key, 0, -1)) as Buffer[]).map(addressText);
    for (const rack of [1, 2]) {
      const reps = await members(`{${hex}}:rack:rack${rack}:R`);
      assert.deepEqual(reps.map(ipOf).sort(), [`127.0.${rack}.11`, `127.0.${rack}.12`], `rack${rack}: ${reps}`);
      for (const rep of reps) assert.match(rep, /:688\d$/, "a representative is stored under aria2c's listen port");
    }
    assert.deepEqual((await members(`{${hex}}:O`)).map(ipOf), [origin.ip]);
    const repSets = (await redis.client.keys(`{${hex}}:rack:*:R`)).sort();
    assert.deepEqual(repSets, [`{${hex}}:rack:rack1:R`, `{${hex}}:rack:rack2:R`], "the origin takes no rack's slot");

    // Every client has a peer record, under its own loopback address.
    const recorded = ((await db.hKeys(`{${hex}}:peers`)) as Buffer[]).map((a) => ipOf(addressText(a)));
    assert.deepEqual(recorded.sort(), clients.map((c) => c.ip).sort());

    // Two tiers on the wire: the origin met only representatives, each h3 only its rack mates.
    const repIps = ["127.0.1.11", "127.0.1.12", "127.0.2.11", "127.0.2.12"];
    const originPeers = [...handshakePeers(origin)];
    assert.ok(originPeers.length > 0 && originPeers.every((ip) => repIps.includes(ip)), `origin met ${originPeers}`);
    for (const h3 of leechers.filter((l) => l.name.endsWith("h3"))) {
      const peers = [...handshakePeers(h3)];
      const mate = (ip: string) => ip.startsWith(h3.ip.replace(/\d+$/, ""));
      assert.ok(peers.length > 0 && peers.every(mate), `${h3.name} met ${peers}`);
    }
  });
});
