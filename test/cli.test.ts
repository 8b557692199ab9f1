import { RESP_TYPES } from "redis";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createClient } from "redis";
import { cleanEnv, MAIN, runCli } from "./helpers/cli.js";
import { httpRequest, text, type Decoded } from "./helpers/http.js";
import { freePort, startTestRedis, type TestRedis } from "./helpers/redisServer.js";
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NOT_REGISTERED = /is not registered with this tracker/;

interface ProcInfo {
  readonly pid: number;
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
}

function procInfo(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const close = stat.lastIndexOf(")");
  const [state, ppid] = stat.slice(close + 2).split(" ");
  return { pid, comm: stat.slice(stat.indexOf("(") + 1, close), state: state!, ppid: Number(ppid) };
}

/** Live (not zombie) processes whose parent is `pid`, read from /proc. */
function childrenOf(pid: number): ProcInfo[] {
  const children: ProcInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const info = procInfo(Number(entry));
    if (info && info.ppid === pid && info.state !== "Z") children.push(info);
  }
  return children;
}

const isAlive = (pid: number) => {
  const info = procInfo(pid);
  return info !== undefined && info.state !== "Z";
};

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(50);
  }
  return !isAlive(pid);
}

/** Every process this file started outside the helpers, killed by PID in `after`. */
const spawned = new Set<number>();

function killSpawned(): void {
  for (const pid of [...spawned]) {
    for (const child of childrenOf(pid)) if (child.comm === "redis-server") spawned.add(child.pid);
  }
  for (const pid of spawned) {
    if (isAlive(pid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  spawned.clear();
}

/** `p2ptracker serve ARGS` as a child in its own process group, once it answers HTTP. */
async function startServe(
  args: string[],
  env: Record<string, string>,
  port: number,
): Promise<{ url: string; child: ChildProcess; pid: number; stderr(): string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [MAIN, "serve", ...args], {
    // A short drain: no load balancer watches these trackers.
    env: cleanEnv({ P2PTRACKER_DRAIN_DELAY_MS: "1000", ...env }),
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  const pid = child.pid!;
  spawned.add(pid);
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tracker exited with ${child.exitCode}: ${stderr}`);
    try {
      await httpRequest(`${url}/scrape`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`tracker did not answer: ${stderr}`);
      await sleep(100);
    }
  }
  return { url, child, pid, stderr: () => stderr, exited };
}

/** Announces two peers of a transfer; returns the second one's reply (the first should be in it). */
async function twoPeers(tracker: { url: string }, infoHash: Uint8Array, net: string) {
  const first = peer(`${net}.1`);
  await announce(tracker, infoHash, first);
  const reply = await announce(tracker, infoHash, peer(`${net}.2`));
  return { first, reply };
}

function assertServed(reply: Decoded, first: ReturnType<typeof peer>): void {
  assert.equal(reply["failure reason"], undefined);
  assert.equal(reply["warning message"], undefined, "the transfer is registered");
  assert.deepEqual(peersOf(reply), [addressOf(first)]);
}

describe("p2ptracker command line", () => {
  let dir: string;
  let redis: TestRedis;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "p2ptracker-cli-"));
    redis = await startTestRedis();
  });
  after(async () => {
    killSpawned();
    await redis.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("serve with a configured Redis", () => {
    const variants: Array<[string, (redisPort: number) => string]> = [
      ["REDIS_URL", (p) => `REDIS_URL = "redis://127.0.0.1:${p}"\n`],
      ["REDISHOST/REDISPORT", (p) => `REDISHOST = '127.0.0.1'\nREDISPORT = ${p}\n`],
    ];
    for (const [label, redisLines] of variants) {
      it(`--config FILE with ${label}: uses that Redis and starts no redis-server`, async () => {
        const port = await freePort();
        const dataDir = join(dir, `unused-data-${port}`);
        const cfg = join(dir, `external-${port}.cfg`);
        writeFileSync(
          cfg,
          `# written for the origin tracker\nHOST = "127.0.0.1"\nPORT = "${port}"\n${redisLines(redis.port)}` +
            `ACTIVE_INTERVAL = 45\nPASSIVE_INTERVAL = 5 * 60 # 5 minutes\nPROXYPASS = True\nDEBUG = False\n` +
            `DATA_DIR = "${dataDir}"\n`,
        );
        const tracker = await startServe(["--config", cfg], {}, port);
        assert.deepEqual(
          childrenOf(tracker.pid).filter((c) => c.comm === "redis-server"),
          [],
          "no redis-server child of the tracker",
        );
        assert.equal(existsSync(dataDir), false, "no data directory for an embedded Redis");

        const unregistered = await announce(tracker, randomInfoHash(), peer("10.80.0.1"));
        assert.match(text(unregistered["warning message"]), NOT_REGISTERED);
        assert.equal(unregistered.interval, 300, "PASSIVE_INTERVAL from the file");

        const infoHash = randomInfoHash();
        const activated = await runCli(["bootstrap", "activate", hexOf(infoHash), "--config", cfg]);
        assert.equal(activated.code, 0, activated.stderr);
        const { first, reply } = await twoPeers(tracker, infoHash, "10.80.1");
        assertServed(reply, first);
        // Both are the rack's representatives (REP_INTERVAL); a third client is a member.
        const member = await announce(tracker, infoHash, peer("10.80.1.3"));
        assert.equal(member.interval, 45, "ACTIVE_INTERVAL from the file");
        assert.equal(await redis.client.hLen(`{${hexOf(infoHash)}}:peers`), 3, "peers stored in the test Redis");

        tracker.child.kill("SIGTERM");
        assert.ok(await waitGone(tracker.pid, 10_000), "tracker still running after SIGTERM");
        assert.equal(await tracker.exited, 0, tracker.stderr());
      });
    }
  });

  describe("serve with no Redis configured (embedded redis-server)", () => {
    const stops: Array<[string, "SIGINT" | "SIGTERM", boolean]> = [
      ["SIGINT to the tracker", "SIGINT", false],
      ["Ctrl-C (SIGINT to the process group)", "SIGINT", true],
      ["SIGTERM to the tracker", "SIGTERM", false],
    ];
    for (const [label, signal, group] of stops) {
      it(`starts its own redis-server in DATA_DIR and stops it on ${label}`, async () => {
        const port = await freePort();
        // freePort closes the port it found, so a second call can return the same one: the
        // embedded redis-server would then take the tracker's port (EADDRINUSE).
        let redisPort = await freePort();
        while (redisPort === port) redisPort = await freePort();
        const dataDir = mkdtempSync(join(dir, "data-"));
        const tracker = await startServe(
          [],
          {
            P2PTRACKER_HOST: "127.0.0.1",
            P2PTRACKER_PORT: String(port),
            P2PTRACKER_REDISPORT: String(redisPort),
            P2PTRACKER_DATA_DIR: dataDir,
            P2PTRACKER_PROXYPASS: "true",
          },
          port,
        );
        const servers = childrenOf(tracker.pid).filter((c) => c.comm === "redis-server");
        assert.equal(servers.length, 1, "one redis-server child of the tracker");
        const redisPid = servers[0]!.pid;
        spawned.add(redisPid);

        const client = createClient({ url: `redis://127.0.0.1:${redisPort}`, socket: { reconnectStrategy: false } });
        client.on("error", () => undefined);
        await client.connect();
        try {
          const info = await client.info("server");
          assert.match(info, new RegExp(`^process_id:${redisPid}\\r?$`, "m"), "the child answers on REDISPORT");
          assert.match(info, new RegExp(`^tcp_port:${redisPort}\\r?$`, "m"));
          assert.deepEqual(await client.configGet("dir"), { dir: realpathSync(dataDir) });
          assert.deepEqual(await client.configGet("appendonly"), { appendonly: "yes" }, "redis.conf was used");

          const infoHash = randomInfoHash();
          const activated = await runCli(["bootstrap", "activate", hexOf(infoHash), "--redisport", String(redisPort)]);
          assert.equal(activated.code, 0, activated.stderr);
          const { first, reply } = await twoPeers(tracker, infoHash, "10.81.0");
          assertServed(reply, first);
          assert.equal(await client.hLen(`{${hexOf(infoHash)}}:peers`), 2);
        } finally {
          await client.close().catch(() => undefined);
        }
        assert.ok(existsSync(join(dataDir, "appendonlydir")), "AOF in DATA_DIR");

        process.kill(group ? -tracker.pid : tracker.pid, signal);
        assert.ok(await waitGone(tracker.pid, 10_000), `tracker still running after ${signal}`);
        assert.ok(await waitGone(redisPid, 10_000), `redis-server still running after ${signal}`);
        assert.equal(await tracker.exited, 0, tracker.stderr());
        assert.match(tracker.stderr(), new RegExp(`${signal}: stopping`));
        assert.ok(existsSync(join(dataDir, "dump.rdb")), "RDB saved in DATA_DIR on shutdown");
      });
    }

    it("refuses to start when REDISPORT is taken, pointing at REDIS_URL", async () => {
      const result = await runCli(["serve", "--host", "127.0.0.1", "--port", String(await freePort())], {
        P2PTRACKER_REDISPORT: String(redis.port),
        P2PTRACKER_DATA_DIR: join(dir, "taken"),
      });
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`port ${redis.port} is already in use.*P2PTRACKER_REDIS_URL`));
    });
  });

  describe("bootstrap activate / deactivate (straight to Redis)", () => {
    let tracker: TestTracker;

    before(async () => {
      tracker = await startTestTracker(redis);
    });
    after(async () => {
      await tracker.close();
    });

    it("activate file.torrent registers its info hash, name and length", async () => {
      const payload = randomBytes(40_000);
      const torrent = makeTorrent(payload, {
        name: "release-1.2.3.tar",
        announce: `${tracker.url}/announce`,
        pieceLength: 16_384,
      });
      const hex = hexOf(torrent.infoHash);
      const path = join(dir, "release.torrent");
      writeFileSync(path, torrent.bytes);

      const before = await announce(tracker, torrent.infoHash, peer("10.82.0.9"));
      assert.match(text(before["warning message"]), NOT_REGISTERED, "not registered before activation");

      const started = Math.floor(Date.now() / 1000);
      const result = await runCli(["bootstrap", "activate", path, "--redis-url", redis.url]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${hex} (release-1.2.3.tar, 40000 bytes): activated\n`);

      const info = await redis.client.hGetAll(`{${hex}}:info`);
      assert.equal(info.active, "1");
      assert.equal(info.name, "release-1.2.3.tar");
      assert.equal(info.length, "40000");
      const registered = Number(info.registered);
      assert.ok(registered >= started - 1 && registered <= started + 30, `registered = ${info.registered}`);
      assert.equal(info.piece_length, "16384");
      assert.equal(info.files, "1");
      const stored = await redis.client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(`{${hex}}:torrent`);
      assert.deepEqual(stored, Buffer.from(torrent.bytes), "the .torrent is stored");
      assert.notEqual(await redis.client.zScore("transfers:active", hex), null);

      const { first, reply } = await twoPeers(tracker, torrent.infoHash, "10.82.1");
      assertServed(reply, first);

      const again = await runCli(["bootstrap", "activate", path, "--redis-url", redis.url]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, `${hex} (release-1.2.3.tar, 40000 bytes): already active\n`);
    });

    it("activate <40 hex> (any case, Redis from P2PTRACKER_REDIS_URL) registers the bare hash", async () => {
      const infoHash = randomInfoHash();
      const hex = hexOf(infoHash);
      const result = await runCli(["bootstrap", "activate", hex.toLowerCase()], { P2PTRACKER_REDIS_URL: redis.url });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${hex}: activated\n`);
      const info = await redis.client.hGetAll(`{${hex}}:info`);
      assert.equal(info.active, "1");
      assert.equal(info.name, undefined, "no name without a .torrent");
      assert.notEqual(await redis.client.zScore("transfers:active", hex), null);
      const { first, reply } = await twoPeers(tracker, infoHash, "10.83.0");
      assertServed(reply, first);
    });

    it("deactivate <hex> ends the transfer: announces get the warning and the passive interval", async () => {
      const infoHash = randomInfoHash();
      const hex = hexOf(infoHash);
      const activated = await runCli(["bootstrap", "activate", hex, "--redis-url", redis.url]);
      assert.equal(activated.code, 0, activated.stderr);
      const { first, reply } = await twoPeers(tracker, infoHash, "10.84.0");
      assertServed(reply, first);

      // Flags may stand anywhere, before the target too.
      const result = await runCli(["bootstrap", "--redis-url", redis.url, "deactivate", hex]);
      assert.equal(result.code, 0, result.stderr);
      const archived = /^([0-9A-F]{40}): deactivated, archived as (\d{8}T\d{6}Z) with 2 peers\n$/.exec(result.stdout);
      assert.ok(archived, result.stdout);
      assert.equal(archived[1], hex);
      const info = await redis.client.hGetAll(`archive:${archived[2]}:{${hex}}:info`);
      assert.equal(info.active, "0");
      assert.ok(Number(info.deregistered) > 0, "deregistered time recorded");
      assert.equal(await redis.client.hLen(`archive:${archived[2]}:{${hex}}:peers`), 2, "the swarm is archived");
      assert.deepEqual(await redis.client.keys(`{${hex}}*`), [], "no live key is left");
      assert.equal(await redis.client.zScore("transfers:active", hex), null);

      const after = await announce(tracker, infoHash, peer("10.84.0.3"));
      assert.match(text(after["warning message"]), NOT_REGISTERED);
      assert.equal(after.interval, tracker.config.PASSIVE_INTERVAL);
      assert.deepEqual(peersOf(after), []);

      const again = await runCli(["bootstrap", "deactivate", hex.toLowerCase(), "--redis-url", redis.url]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, `${hex}: was not active\n`);
    });

    describe("bad arguments exit non-zero with a clear message", () => {
      const hex = "0123456789ABCDEF0123456789ABCDEF01234567";
      const usage: Array<[string, string[], string]> = [
        [
          "missing .torrent file",
          ["bootstrap", "activate", "/nonexistent/release.torrent"],
          'p2ptracker: "/nonexistent/release.torrent" is neither an info hash (40 hex digits) nor a readable .torrent file',
        ],
        [
          "39 hex digits",
          ["bootstrap", "deactivate", hex.slice(1)],
          `p2ptracker: "${hex.slice(1)}" is not an info hash (40 hex digits)`,
        ],
        [
          "41 hex digits",
          ["bootstrap", "deactivate", `${hex}0`],
          `p2ptracker: "${hex}0" is not an info hash (40 hex digits)`,
        ],
        [
          "a non-hex digit",
          ["bootstrap", "deactivate", `${hex.slice(1)}G`],
          `p2ptracker: "${hex.slice(1)}G" is not an info hash (40 hex digits)`,
        ],
        [
          "unknown bootstrap subcommand",
          ["bootstrap", "remove", hex],
          'p2ptracker: unknown bootstrap command "remove"',
        ],
        ["no bootstrap subcommand", ["bootstrap"], "p2ptracker: bootstrap needs activate or deactivate"],
        ["no target", ["bootstrap", "activate"], "p2ptracker: bootstrap activate needs a target"],
        ["two targets", ["bootstrap", "activate", hex, hex], `p2ptracker: unexpected argument "${hex}"`],
        ["unknown command", ["register", hex], 'p2ptracker: unknown command "register"'],
      ];
      for (const [label, args, message] of usage) {
        it(label, async () => {
          const result = await runCli(args);
          assert.equal(result.code, 2, result.stderr);
          assert.equal(result.stderr.split("\n")[0], message);
          assert.match(result.stderr, /\nusage:\n/, "the usage follows the message");
          assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
          assert.equal(result.stdout, "");
        });
      }

      it("a file that is not a .torrent", async () => {
        const path = join(dir, "not-a-torrent.torrent");
        writeFileSync(path, "just some text\n");
        const result = await runCli(["bootstrap", "activate", path, "--redis-url", redis.url]);
        assert.equal(result.code, 1);
        assert.equal(
          result.stderr,
          `p2ptracker: ${path}: not a valid .torrent: it must start with a dictionary ('d')\n`,
        );
      });

      it("a bad setting after the target", async () => {
        const result = await runCli(["bootstrap", "activate", hex, "--redis-url", "localhost:6379"]);
        assert.equal(result.code, 1);
        assert.equal(
          result.stderr,
          'config error: REDIS_URL = "localhost:6379" (flag --redis-url): expected redis://host:port\n',
        );
      });

      it("an unreachable Redis fails at once instead of waiting forever", async () => {
        const closed = await freePort();
        const started = Date.now();
        const result = await runCli(["bootstrap", "activate", hex, "--redis-url", `redis://127.0.0.1:${closed}`]);
        assert.equal(result.code, 1);
        assert.match(result.stderr, new RegExp(`p2ptracker: cannot reach Redis at redis://127.0.0.1:${closed}: `));
        assert.ok(Date.now() - started < 10_000, "did not hang");
      });
    });
  });
});
