import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TEST_TOKEN } from "./helpers/api.js";
import { cleanEnv, MAIN, runCli } from "./helpers/cli.js";
import { startAria2, stopClient, waitForDownload, type RunningClient } from "./helpers/clients.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { spawnTracker } from "./helpers/tracker.js";

const NAME = "build-42";
const FILES: Record<string, number> = {
  "app.bin": 3 * 1024 * 1024,
  "lib/libapp.so": 700_000,
  "etc/app.conf": 1_234,
};
/** Hosts that download: two racks of two (the tracker's subnet fallback makes the racks). */
const HOSTS = ["127.0.61.1", "127.0.61.2", "127.0.62.1", "127.0.62.2"];
const ORIGIN = "127.0.69.1";
const TIMEOUT_MS = 120_000;

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("a rollout, end to end, as a deploy pipeline runs it", () => {
  let dir: string;
  let redis: TestRedis;
  const trackers: Array<Awaited<ReturnType<typeof spawnTracker>>> = [];
  const clients: RunningClient[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "p2ptracker-rollout-"));
    redis = await startTestRedis();
    const env = {
      P2PTRACKER_REDIS_URL: redis.url,
      P2PTRACKER_ADMIN_TOKEN: TEST_TOKEN,
      P2PTRACKER_ACTIVE_INTERVAL: "2",
    };
    trackers.push(await spawnTracker(env), await spawnTracker(env));
  });
  after(async () => {
    await Promise.all(clients.map((client) => stopClient(client)));
    await Promise.all(trackers.map((tracker) => tracker.stop()));
    await redis.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("torrent create --register on one replica, .torrent from another, aria2c downloads, transfer wait returns 0", async () => {
    const [registrar, other] = trackers as [(typeof trackers)[0], (typeof trackers)[0]];
    const build = join(dir, "origin", NAME);
    const expected = Object.entries(FILES).map(([path, size]) => {
      const bytes = randomBytes(size);
      mkdirSync(join(build, path, ".."), { recursive: true });
      writeFileSync(join(build, path), bytes);
      return { file: join(NAME, path), size, sha256: sha256(bytes) };
    });

    const torrentPath = join(dir, `${NAME}.torrent`);
    const created = await runCli(
      [
        ...["torrent", "create", build, "--announce", `${registrar.url}/announce`],
        ...["-o", torrentPath, "--register", "--tracker", registrar.url, "--json"],
      ],
      { P2PTRACKER_TOKEN: TEST_TOKEN },
    );
    assert.equal(created.code, 0, created.stderr);
    const infoHash = (JSON.parse(created.stdout) as { infoHash: string }).infoHash;
    assert.match(infoHash, /^[0-9A-F]{40}$/);

    // Hosts fetch the .torrent from whichever replica the load balancer picks.
    const fetched = await fetch(`${other.url}/api/v1/torrents/${infoHash}.torrent`);
    assert.equal(fetched.status, 200);
    const fetchedBytes = Buffer.from(await fetched.arrayBuffer());
    assert.deepEqual(fetchedBytes, readFileSync(torrentPath));
    const hostTorrent = join(dir, "fetched.torrent");
    writeFileSync(hostTorrent, fetchedBytes);

    const wait = spawn(
      process.execPath,
      [MAIN, "transfer", "wait", infoHash, "--hosts", String(HOSTS.length), "--timeout", "2m", "--json"],
      { env: cleanEnv({ P2PTRACKER_URL: other.url }), stdio: ["ignore", "pipe", "pipe"] },
    );
    let waitOut = "";
    let waitErr = "";
    wait.stdout.on("data", (chunk: Buffer) => (waitOut += chunk.toString()));
    wait.stderr.on("data", (chunk: Buffer) => (waitErr += chunk.toString()));
    const waited = new Promise<number | null>((done) => wait.once("close", (code) => done(code)));

    // The build server seeds the files it has (aria2.conf checks them first); the hosts download.
    clients.push(
      startAria2({
        name: "origin",
        ip: ORIGIN,
        workDir: join(dir, "origin-work"),
        torrent: torrentPath,
        dir: join(dir, "origin"),
      }),
    );
    for (const ip of HOSTS) {
      clients.push(startAria2({ name: ip, ip, workDir: join(dir, ip), torrent: hostTorrent }));
    }
    for (const client of clients.slice(1)) {
      for (const file of expected) await waitForDownload(client, file, TIMEOUT_MS);
    }

    const code = await Promise.race([
      waited,
      new Promise<string>((done) => setTimeout(() => done("still waiting"), TIMEOUT_MS)),
    ]);
    assert.equal(code, 0, `transfer wait: ${waitErr}${waitOut}`);
    const result = JSON.parse(waitOut) as { result: string; completed: number; hosts: number };
    assert.equal(result.result, "completed");
    assert.ok(result.completed >= HOSTS.length, `${result.completed} hosts completed`);
    assert.equal(waitOut.trim().split("\n").length, 1, "--json prints one object and nothing else");
  });
});
