import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { api, TEST_TOKEN } from "./helpers/api.js";
import { httpRequest } from "./helpers/http.js";
import { freePort, startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { announce, hexOf, peer, randomInfoHash } from "./helpers/tracker.js";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));

/** One parsed log line. */
type LogLine = Record<string, unknown> & { level: string; time: string; msg: string };

/**
 * Runs `p2ptracker serve` with `env`, lets `drive` talk to it, stops it with SIGTERM and
 * returns its stderr, whole.
 */
async function runTracker(
  redis: TestRedis,
  env: Record<string, string>,
  drive: (url: string) => Promise<void>,
): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN, "serve"], {
    env: {
      ...process.env,
      P2PTRACKER_HOST: "127.0.0.1",
      P2PTRACKER_PORT: String(port),
      P2PTRACKER_REDIS_URL: redis.url,
      P2PTRACKER_PROXYPASS: "true",
      P2PTRACKER_ADMIN_TOKEN: TEST_TOKEN,
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once("exit", done));
  const url = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`tracker exited: ${stderr}`);
      if ((await httpRequest(`${url}/readyz`).catch(() => undefined))?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`tracker did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await drive(url);
  } finally {
    child.kill("SIGTERM");
    assert.equal(await exited, 0, stderr);
  }
  return stderr;
}

/** Every stderr line parsed as JSON; fails on a line that is not a JSON object with level, time and msg. */
function logLines(stderr: string): LogLine[] {
  return stderr
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        assert.fail(`not a JSON line: ${line}`);
      }
      const entry = parsed as LogLine;
      assert.ok(["debug", "info", "warn", "error"].includes(entry.level), `level of ${line}`);
      assert.ok(!Number.isNaN(Date.parse(entry.time)), `time of ${line}`);
      assert.equal(typeof entry.msg, "string", `msg of ${line}`);
      return entry;
    });
}

describe("logs", () => {
  let redis: TestRedis;
  let dir: string;
  before(async () => {
    redis = await startTestRedis();
    dir = mkdtempSync(join(tmpdir(), "p2ptracker-logs-test-"));
    writeFileSync(join(dir, "racks"), "10.1.1.0/24 rack-a\n");
  });
  after(async () => {
    await redis.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Registers a transfer and announces from two hosts of rack-a: one becomes its representative. */
  const twoHosts = (hash: Uint8Array) => async (url: string) => {
    assert.equal((await api(url, "POST", `/transfers/${hexOf(hash)}`, { token: TEST_TOKEN })).status, 201);
    await announce({ url }, hash, peer("10.1.1.1", 6881), { event: "started" });
    await announce({ url }, hash, peer("10.1.1.2", 6881), { event: "started" });
  };

  it("writes one JSON object per line; no debug or request lines by default", async () => {
    const lines = logLines(await runTracker(redis, {}, twoHosts(randomInfoHash())));
    assert.ok(lines.some((l) => l.level === "info" && /^p2ptracker listening on /.test(l.msg)));
    assert.ok(lines.some((l) => String(l.msg).startsWith("SIGTERM: stopping")));
    assert.deepEqual(
      lines.filter((l) => l.level === "debug" || l.msg === "request"),
      [],
    );
    for (const line of lines) assert.equal(typeof line.pid, "number");
  });

  it("DEBUG adds each announce's rack, tier, role and the rack's representatives", async () => {
    const hash = randomInfoHash();
    const lines = logLines(
      await runTracker(redis, { P2PTRACKER_DEBUG: "true", P2PTRACKER_RACK_MAP: join(dir, "racks") }, twoHosts(hash)),
    );
    const announces = lines.filter((l) => l.level === "debug" && l.msg === "announce" && l.infoHash === hexOf(hash));
    assert.equal(announces.length, 2, JSON.stringify(lines));
    const [first, second] = announces;
    assert.equal(first!.client, "10.1.1.1:6881");
    assert.equal(first!.rack, "rack-a");
    assert.equal(first!.role, "rep");
    assert.equal(first!.tier, "rack+outside");
    assert.equal(first!.elected, true);
    assert.deepEqual(first!.representatives, ["10.1.1.1:6881"]);
    // MAX_REPR_RACK is 2 by default: the second host of the rack is elected too.
    assert.equal(second!.role, "rep");
    assert.deepEqual([...(second!.representatives as string[])].sort(), ["10.1.1.1:6881", "10.1.1.2:6881"]);
  });

  it("logs a Redis outage's failed announces once, not once per announce", async () => {
    const hash = randomInfoHash();
    const lines = logLines(
      await runTracker(redis, {}, async (url) => {
        await twoHosts(hash)(url);
        await redis.stopServer();
        try {
          for (let i = 0; i < 60; i++) {
            const reply = await announce({ url }, hash, peer("10.1.1.1", 6881));
            assert.match(Buffer.from(reply["failure reason"] as Uint8Array).toString(), /tracker storage unavailable/);
          }
        } finally {
          await redis.startServer();
        }
      }),
    );
    const failed = lines.filter((l) => l.level === "error" && String(l.msg).startsWith("GET /announce: "));
    assert.equal(failed.length, 1, JSON.stringify(failed));
  });

  it("LOG_REQUESTS adds one line per request: method, path, status, milliseconds, never the query", async () => {
    const hash = randomInfoHash();
    const lines = logLines(await runTracker(redis, { P2PTRACKER_LOG_REQUESTS: "true" }, twoHosts(hash)));
    const requests = lines.filter((l) => l.msg === "request");
    const announces = requests.filter((l) => l.path === "/announce");
    assert.equal(announces.length, 2);
    for (const line of announces) {
      assert.equal(line.method, "GET");
      assert.equal(line.status, 200);
      assert.equal(typeof line.ms, "number");
    }
    assert.ok(requests.some((l) => l.method === "POST" && l.path === `/api/v1/transfers/${hexOf(hash)}`));
    assert.ok(!requests.some((l) => JSON.stringify(l).includes("info_hash")), "no query in request lines");
  });
});
