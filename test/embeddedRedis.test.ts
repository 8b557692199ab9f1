import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { createClient } from "redis";
import { portAccepts } from "../src/net/ports.js";
import { api, TEST_TOKEN } from "./helpers/api.js";
import { freePort } from "./helpers/redisServer.js";
import { announce, hexOf, peer, randomInfoHash, spawnTracker } from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A timer for Promise.race that does not keep the test process alive once the race is won. */
const lapse = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** PID of the redis-server on `port`, from INFO; undefined while none answers. */
async function redisPid(port: number): Promise<number | undefined> {
  const client = createClient({ socket: { port, host: "127.0.0.1", reconnectStrategy: false } });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const info = await client.info("server");
    return Number(/process_id:(\d+)/.exec(info)?.[1]);
  } catch {
    return undefined;
  } finally {
    if (client.isOpen) client.destroy();
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A tracker started as `p2ptracker serve` with its own redis-server, as scripts/start runs it. */
async function startServe(dataDir: string) {
  const redisPort = await freePort();
  const tracker = await spawnTracker({
    P2PTRACKER_REDISPORT: String(redisPort),
    P2PTRACKER_DATA_DIR: dataDir,
    P2PTRACKER_ADMIN_TOKEN: TEST_TOKEN,
    P2PTRACKER_PROXYPASS: "true",
  });
  const exited = new Promise<number | null>((done) => tracker.child.once("exit", (code) => done(code)));
  return { ...tracker, redisPort, exited };
}

describe("the embedded redis-server is supervised", () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), "p2ptracker-embedded-"));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it("is restarted after kill -9 with its AOF, and stopped with the tracker", async () => {
    const tracker = await startServe(dataDir);
    let redisPidAtEnd: number | undefined;
    try {
      const infoHash = randomInfoHash();
      const H = hexOf(infoHash);
      assert.equal((await api(tracker.url, "POST", `/transfers/${H}`, { token: TEST_TOKEN })).status, 201);
      const seeder = peer("10.90.1.1");
      assert.equal((await announce(tracker, infoHash, seeder, { left: 0 }))["failure reason"], undefined);

      const first = await redisPid(tracker.redisPort);
      assert.ok(first !== undefined);
      process.kill(first, "SIGKILL");
      const killedAt = Date.now();
      let failures = 0;
      let servedAt: number | undefined;
      const leecher = peer("10.90.1.2");
      while (Date.now() - killedAt < 15_000) {
        const reply = await announce(tracker, infoHash, leecher);
        if (reply["failure reason"] === undefined) {
          servedAt = Date.now();
          break;
        }
        const reason = Buffer.from(reply["failure reason"] as Uint8Array).toString();
        assert.match(reason, /storage unavailable/, tracker.stderr());
        failures++;
        await sleep(50);
      }
      console.log(
        `embedded redis-server killed: ${failures} failed announces, served again ${
          servedAt === undefined ? "never" : `${servedAt - killedAt} ms`
        } after the kill`,
      );
      assert.ok(servedAt !== undefined, "announces work again without restarting the tracker");
      assert.equal(tracker.child.exitCode, null, "the tracker stayed up");
      const second = await redisPid(tracker.redisPort);
      assert.ok(second !== undefined && second !== first, "a new redis-server runs");
      assert.match(tracker.stderr(), new RegExp(`redis-server \\(pid ${first}\\) exited on SIGKILL; restarting it`));

      // Registered before the kill: the restarted server replayed its AOF. The API has its
      // own Redis connection, whose reconnect back-off (at most 1 s) may end a moment after
      // the announces' one: until then it answers 503, retry later, and nothing else.
      let transfer = await api(tracker.url, "GET", `/transfers/${H}`);
      for (const until = Date.now() + 5000; transfer.status === 503 && Date.now() < until;) {
        await sleep(100);
        transfer = await api(tracker.url, "GET", `/transfers/${H}`);
      }
      assert.equal(transfer.status, 200);
      assert.equal(transfer.json.active, true);
      assert.equal(transfer.json.peers, 2);
      redisPidAtEnd = second;
    } finally {
      await tracker.stop();
    }
    assert.equal(await tracker.exited, 0);
    assert.ok(redisPidAtEnd !== undefined);
    await eventually("SIGTERM to the tracker stops its redis-server", async () => !isRunning(redisPidAtEnd!), 5000);
    assert.equal(await portAccepts(tracker.redisPort), false);
  });

  it("takes its redis-server along when it crashes, so a restart finds the port free", async () => {
    const port = await freePort();
    const module = fileURLToPath(new URL("../src/store/embeddedRedis.js", import.meta.url));
    const script =
      `const { startEmbeddedRedis } = await import(${JSON.stringify(module)});` +
      `await startEmbeddedRedis(${port}, ${JSON.stringify(join(dataDir, "crash"))});` +
      `throw new Error("crash");`;
    const crashed = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = execFile(process.execPath, ["--input-type=module", "-e", script], (_error, _out, stderr) =>
        done({ code: child.exitCode, stderr }),
      );
    });
    assert.notEqual(crashed.code, 0);
    assert.match(crashed.stderr, /Error: crash/);
    await eventually("the redis-server is gone", async () => !(await portAccepts(port)), 5000);
  });

  it("exits non-zero when its redis-server cannot be started again", async () => {
    const tracker = await startServe(dataDir);
    let squatter: Server | undefined;
    try {
      const pid = await redisPid(tracker.redisPort);
      assert.ok(pid !== undefined);
      process.kill(pid, "SIGKILL");
      await eventually("the port is free", async () => !(await portAccepts(tracker.redisPort)), 2000);
      // Something else takes the port: every restart fails, with backoff, until it gives up.
      squatter = createServer((socket) => socket.destroy());
      await new Promise<void>((done) => squatter!.listen(tracker.redisPort, "127.0.0.1", done));
      const started = Date.now();
      const code = await Promise.race([tracker.exited, lapse(40_000).then(() => "still running")]);
      console.log(`gave up and exited ${Date.now() - started} ms after the port was taken`);
      assert.equal(code, 1);
      assert.match(tracker.stderr(), /gave up after 5 restarts/);
      assert.match(tracker.stderr(), /port \d+ is already in use/);
    } finally {
      await tracker.stop();
      await new Promise((done) => (squatter ? squatter.close(done) : done(undefined)));
    }
  });
});
