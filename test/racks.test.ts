import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { GLOBAL_KEYS, rackCacheKey } from "../src/store/keys.js";
import { RackChain, type ChainLink, type RackCacheStore } from "../src/racks/chain.js";
import { httpResolver } from "../src/racks/http.js";
import { FLAT_LOCATION, MAX_LOCATION_LENGTH, sanitizeLocation } from "../src/racks/location.js";
import { moduleResolver } from "../src/racks/module.js";
import { StaticRackMap, parseRackMap } from "../src/racks/static.js";
import { subnetResolver } from "../src/racks/subnet.js";
import { connectRedis, type TrackerRedis } from "../src/store/redis.js";
import { freePort, startTestRedis, type TestRedis } from "./helpers/redisServer.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true; fails with `what` after `ms`. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

/** Runs `fn` with stderr (where the logger writes) captured; returns what was written. */
async function captureStderr(fn: () => unknown): Promise<string> {
  const write = process.stderr.write;
  let captured = "";
  process.stderr.write = ((chunk: string | Uint8Array) => {
    captured += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = write;
  }
  return captured;
}

const tempDir = () => mkdtempSync(join(tmpdir(), "p2ptracker-racks-test-"));

const MAP = `# racks of the test site

10.0.0.0/8        site
10.1.0.0/16       hall1
10.1.2.0/24       rack12
10.1.2.128/25     rack12-top   # the upper half has its own rack
10.1.2.200        host200
2001:db8::/32     site6
2001:db8:1::/48   hall6
2001:db8:1:2::/64 rack6
`;

describe("sanitizeLocation", () => {
  it("keeps an ordinary location as it is", () => {
    assert.equal(sanitizeLocation("rack-12"), "rack-12");
    assert.equal(sanitizeLocation("dc1:hall2/rack.3"), "dc1:hall2/rack.3");
    assert.equal(sanitizeLocation("Schrank-ä1"), "Schrank-ä1");
  });

  it("trims surrounding whitespace and replaces inner whitespace with _", () => {
    assert.equal(sanitizeLocation("  rack 1\t "), "rack_1");
    assert.equal(sanitizeLocation("a\tb\nc\rd"), "a_b_c_d");
    assert.equal(sanitizeLocation("a\u00a0b\u2028c"), "a_b_c");
  });

  it("replaces control bytes and braces, which would change a key's hash tag", () => {
    assert.equal(sanitizeLocation("a\u0000b\u0007c\u007fd\u009be"), "a_b_c_d_e");
    assert.equal(sanitizeLocation("{tag}rack"), "_tag_rack");
    assert.equal(sanitizeLocation("}{"), "__");
  });

  it(`limits the length to ${MAX_LOCATION_LENGTH}`, () => {
    assert.equal(sanitizeLocation("x".repeat(MAX_LOCATION_LENGTH)), "x".repeat(MAX_LOCATION_LENGTH));
    assert.equal(sanitizeLocation("y".repeat(MAX_LOCATION_LENGTH + 50)), "y".repeat(MAX_LOCATION_LENGTH));
  });

  it("gives undefined for no answer: non-strings, empty or blank text, and the flat location", () => {
    for (const value of [undefined, null, 42, {}, ["rack"], Promise.resolve("rack"), "", "   ", "\n\t"]) {
      assert.equal(sanitizeLocation(value), undefined, `for ${String(value)}`);
    }
    assert.equal(sanitizeLocation(FLAT_LOCATION), undefined);
    assert.equal(sanitizeLocation(` ${FLAT_LOCATION} `), undefined);
    assert.equal(sanitizeLocation("**"), "**");
  });

  it("never yields a key-unsafe character, whatever the input", () => {
    const pool = [
      "a",
      "Z",
      "0",
      "-",
      ":",
      "/",
      "*",
      " ",
      "\t",
      "\n",
      "\u0000",
      "\u001f",
      "{",
      "}",
      "\u00a0",
      "é",
      "\u0085",
    ];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      let input = "";
      const length = next() % 300;
      for (let j = 0; j < length; j++) input += pool[next() % pool.length];
      const out = sanitizeLocation(input);
      if (out === undefined) continue;
      assert.doesNotMatch(out, /[\s\p{Cc}{}]/u, JSON.stringify(input));
      assert.ok(out.length <= MAX_LOCATION_LENGTH);
      assert.notEqual(out, FLAT_LOCATION);
      assert.notEqual(out, "");
    }
  });
});

describe("subnet resolver", () => {
  it("answers the /24 network of an IPv4 address and the /64 of an IPv6 address by default", () => {
    const subnet = subnetResolver(24, 64);
    assert.equal(subnet("10.1.2.3"), "10.1.2.0/24");
    assert.equal(subnet("192.168.77.255"), "192.168.77.0/24");
    assert.equal(subnet("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
    assert.equal(subnet("2001:db8::1"), "2001:db8::/64");
  });

  it("treats an IPv4-mapped IPv6 address as IPv4", () => {
    assert.equal(subnetResolver(24, 64)("::ffff:10.1.2.3"), "10.1.2.0/24");
  });

  it("uses configured prefix lengths", () => {
    assert.equal(subnetResolver(16, 48)("10.1.2.3"), "10.1.0.0/16");
    assert.equal(subnetResolver(16, 48)("2001:db8:1:2::5"), "2001:db8:1::/48");
    assert.equal(subnetResolver(32, 128)("10.1.2.3"), "10.1.2.3/32");
    assert.equal(subnetResolver(32, 128)("2001:db8::5"), "2001:db8::5/128");
    assert.equal(subnetResolver(0, 0)("10.1.2.3"), "0.0.0.0/0");
    assert.equal(subnetResolver(0, 0)("2001:db8::5"), "::/0");
    assert.equal(subnetResolver(20, 56)("10.1.31.3"), "10.1.16.0/20");
    assert.equal(subnetResolver(20, 56)("2001:db8:1:2ff::1"), "2001:db8:1:200::/56");
  });

  it("gives no answer for text that is not an address", () => {
    const subnet = subnetResolver(24, 64);
    for (const text of ["", "rack", "10.1.2", "10.1.2.256", "2001:db8::g"]) assert.equal(subnet(text), undefined);
  });
});

describe("static resolver (RACK_MAP)", () => {
  it("picks the longest matching prefix, IPv4 and IPv6, whatever the line order", () => {
    const reversed = MAP.split("\n").reverse().join("\n");
    for (const map of [mapOf(MAP), mapOf(reversed)]) {
      assert.equal(map.resolve("10.9.9.9"), "site");
      assert.equal(map.resolve("10.1.9.9"), "hall1");
      assert.equal(map.resolve("10.1.2.3"), "rack12");
      assert.equal(map.resolve("10.1.2.129"), "rack12-top");
      assert.equal(map.resolve("10.1.2.200"), "host200");
      assert.equal(map.resolve("2001:db8:ffff::1"), "site6");
      assert.equal(map.resolve("2001:db8:1:ffff::1"), "hall6");
      assert.equal(map.resolve("2001:db8:1:2::77"), "rack6");
    }
  });

  it("answers nothing outside the map, across families, or for a non-address", () => {
    const map = mapOf(MAP);
    assert.equal(map.resolve("11.0.0.1"), undefined);
    assert.equal(map.resolve("2001:db9::1"), undefined);
    assert.equal(map.resolve("::a01:203"), undefined, "an IPv6 address never matches an IPv4 line");
    assert.equal(map.resolve("not-an-ip"), undefined);
  });

  it("matches an IPv4-mapped IPv6 client against IPv4 lines", () => {
    assert.equal(mapOf(MAP).resolve("::ffff:10.1.2.3"), "rack12");
  });

  it("ignores comments, blank lines, surrounding blanks and CRLF line ends", () => {
    const map = mapOf("# only comments\r\n\r\n   \t\r\n  10.5.0.0/16\t\t r5   # trailing\r\n#10.6.0.0/16 r6\r\n");
    assert.equal(map.resolve("10.5.1.1"), "r5");
    assert.equal(map.resolve("10.6.1.1"), undefined, "a commented-out line is not an entry");
    assert.deepEqual(parseRackMap("# nothing\n\n", "empty"), []);
  });

  it("reads a bare address as a single-host block and masks host bits of a block", () => {
    const map = mapOf("10.7.7.7 single\n10.8.8.8/24 masked\n2001:db8::9 single6\n");
    assert.equal(map.resolve("10.7.7.7"), "single");
    assert.equal(map.resolve("10.7.7.8"), undefined);
    assert.equal(map.resolve("10.8.8.1"), "masked");
    assert.equal(map.resolve("2001:db8::9"), "single6");
    assert.equal(map.resolve("2001:db8::a"), undefined);
  });

  it("rejects a bad line by file and line number, quoting it", () => {
    const bad: Array<[string, number, string]> = [
      ["10.0.0.0/8 a\n10.0.0.0/33 b\n", 2, "10.0.0.0/33 b"],
      ["# c\n\n10.0.0.0/8\n", 3, "10.0.0.0/8"],
      ["10.0.0.0/8 a b\n", 1, "10.0.0.0/8 a b"],
      ["rackA 10.0.0.0/8\n", 1, "rackA 10.0.0.0/8"],
      ["10.0.0.0/8 a\n10.0.0.300/24 x\n", 2, "10.0.0.300/24 x"],
      ["10.0.0.0/8/1 x\n", 1, "10.0.0.0/8/1 x"],
      ["2001:db8::/129 x\n", 1, "2001:db8::/129 x"],
      ["10.0.0.0/ x\n", 1, "10.0.0.0/ x"],
    ];
    for (const [text, line, content] of bad) {
      assert.throws(
        () => parseRackMap(text, "/etc/racks"),
        (error: Error) => {
          assert.equal(error.message, `/etc/racks:${line}: expected "CIDR location", got "${content}"`);
          return true;
        },
      );
    }
  });

  it("refuses to start from a bad file, naming it", () => {
    const dir = tempDir();
    const path = join(dir, "racks");
    writeFileSync(path, "10.0.0.0/8 ok\nbroken\n");
    assert.throws(() => new StaticRackMap(path), { message: `${path}:2: expected "CIDR location", got "broken"` });
    assert.throws(() => new StaticRackMap(join(dir, "missing")), /ENOENT/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("reload() reads the file again; a broken edit is logged and the previous map kept", async () => {
    const dir = tempDir();
    const path = join(dir, "racks");
    writeFileSync(path, "10.0.0.0/8 before\n");
    const map = new StaticRackMap(path);
    writeFileSync(path, "10.0.0.0/8 after\n");
    assert.equal(map.resolve("10.1.1.1"), "before", "not followed: nothing changes until reloaded");
    await captureStderr(() => map.reload());
    assert.equal(map.resolve("10.1.1.1"), "after");
    writeFileSync(path, "10.0.0.0/8 broken edit\n");
    const logged = await captureStderr(() => map.reload());
    const line = JSON.parse(logged.trim().split("\n").at(-1)!) as { level: string; msg: string };
    assert.equal(line.level, "error");
    assert.match(line.msg, /^RACK_MAP .*racks: kept the previous map: .*racks:1: expected "CIDR location"/);
    assert.equal(map.resolve("10.1.1.1"), "after");
    rmSync(path);
    const missing = await captureStderr(() => map.reload());
    assert.match(missing, /kept the previous map: ENOENT/);
    assert.equal(map.resolve("10.1.1.1"), "after");
    rmSync(dir, { recursive: true, force: true });
  });

  it("follows edits in place, replacement by rename, and edits after a replacement", async () => {
    const dir = tempDir();
    const path = join(dir, "racks");
    writeFileSync(path, "10.0.0.0/8 v1\n");
    const map = new StaticRackMap(path);
    const logged = await captureStderr(async () => {
      map.follow();
      try {
        writeFileSync(path, "10.0.0.0/8 v2\n");
        await eventually("in-place edit", () => map.resolve("10.1.1.1") === "v2");
        // How editors and configuration tools write: a new file renamed over the old one.
        writeFileSync(`${path}.tmp`, "10.0.0.0/8 v3\n");
        renameSync(`${path}.tmp`, path);
        await eventually("replacement by rename", () => map.resolve("10.1.1.1") === "v3");
        await sleep(50);
        writeFileSync(path, "10.0.0.0/8 v4\n");
        await eventually("edit after a replacement", () => map.resolve("10.1.1.1") === "v4");
        writeFileSync(path, "10.0.0.0/8 v5 oops\n");
        await sleep(300);
        assert.equal(map.resolve("10.1.1.1"), "v4", "a broken edit keeps the previous map");
      } finally {
        map.stop();
      }
      writeFileSync(path, "10.0.0.0/8 v6\n");
      await sleep(300);
      assert.equal(map.resolve("10.1.1.1"), "v4", "stopped: no longer follows the file");
    });
    assert.match(logged, /kept the previous map/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("reloads on SIGHUP while following, and stops listening on stop()", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "a"), "10.0.0.0/8 fromA\n");
    writeFileSync(join(dir, "b"), "10.0.0.0/8 fromB\n");
    const path = join(dir, "racks");
    symlinkSync(join(dir, "a"), path);
    const map = new StaticRackMap(path);
    const listeners = process.listenerCount("SIGHUP");
    await captureStderr(async () => {
      map.follow();
      try {
        assert.equal(process.listenerCount("SIGHUP"), listeners + 1);
        // Repointing the symlink leaves the watched file untouched: only SIGHUP can notice.
        symlinkSync(join(dir, "b"), `${path}.new`);
        renameSync(`${path}.new`, path);
        await sleep(200);
        assert.equal(map.resolve("10.1.1.1"), "fromA", "precondition: the file watcher did not see the repoint");
        process.kill(process.pid, "SIGHUP");
        await eventually("reload on SIGHUP", () => map.resolve("10.1.1.1") === "fromB");
      } finally {
        map.stop();
      }
    });
    assert.equal(process.listenerCount("SIGHUP"), listeners);
    rmSync(dir, { recursive: true, force: true });
  });
});

/** A stand-in for the origin's servermanagement API on loopback. */
interface Smdb {
  readonly url: string;
  /** Every address asked for, decoded from the request path. */
  readonly asked: string[];
  /** Raw request paths. */
  readonly paths: string[];
  close(): Promise<void>;
}

type Reply = { status?: number; body: string; delayMs?: number; bodyDelayMs?: number };

async function startSmdb(replies: Record<string, Reply>, prefix = ""): Promise<Smdb> {
  const asked: string[] = [];
  const paths: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const later = (res: ServerResponse, ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!res.destroyed) fn();
    }, ms);
    timers.add(timer);
  };
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? "");
    const match = new RegExp(`^${prefix}/servers/ipaddresses/([^/?]+)$`).exec(req.url ?? "");
    if (!match || req.method !== "GET") {
      res.writeHead(400).end();
      return;
    }
    const ip = decodeURIComponent(match[1]!);
    asked.push(ip);
    const reply = replies[ip] ?? { status: 404, body: '{"error":"not found"}' };
    later(res, reply.delayMs ?? 0, () => {
      res.writeHead(reply.status ?? 200, { "content-type": "application/json" });
      if (reply.bodyDelayMs) {
        res.write(reply.body.slice(0, 1));
        later(res, reply.bodyDelayMs, () => res.end(reply.body.slice(1)));
      } else {
        res.end(reply.body);
      }
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    asked,
    paths,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

const cabinet = (rack: unknown, host = "host1.example") => JSON.stringify({ [host]: { cabinet: rack, room: "r1" } });

describe("http resolver (servermanagement API)", () => {
  let smdb: Smdb;
  before(async () => {
    smdb = await startSmdb({
      "10.2.0.1": { body: cabinet("cab-17") },
      "2001:db8::1": { body: cabinet("cab-v6") },
      "10.2.0.2": {
        body: JSON.stringify({
          "a.example": { room: "x" },
          "b.example": { cabinet: "" },
          "c.example": { cabinet: "cab-c" },
        }),
      },
      "10.2.0.3": { body: '{"host1": {"cabinet": "cab' },
      "10.2.0.4": { status: 500, body: cabinet("cab-error") },
      "10.2.0.5": { body: cabinet(17) },
      "10.2.0.6": { body: "null" },
      "10.2.0.7": { body: '"cab-string"' },
      "10.2.0.8": { body: "{}" },
      "10.2.0.9": { body: JSON.stringify({ host1: null, host2: { cabinet: "cab-after-null" } }) },
      "10.2.0.10": { body: cabinet("cab-slow"), delayMs: 5000 },
      "10.2.0.11": { body: cabinet("cab-slow-body"), bodyDelayMs: 5000 },
      "10.2.0.12": { body: cabinet("cab-a-bit-slow"), delayMs: 50 },
    });
  });
  after(async () => smdb.close());

  it("answers the cabinet of the host the address belongs to", async () => {
    const resolve = httpResolver(smdb.url, 1000);
    assert.equal(await resolve("10.2.0.1"), "cab-17");
    assert.equal(await resolve("10.2.0.12"), "cab-a-bit-slow");
    assert.equal(await resolve("10.2.0.2"), "cab-c", "hosts without a cabinet are skipped");
    assert.equal(await resolve("10.2.0.9"), "cab-after-null");
  });

  it("asks GET {SMDB_URL}/servers/ipaddresses/{ip}, the address encoded as one path segment", async () => {
    const resolve = httpResolver(smdb.url, 1000);
    const before = smdb.paths.length;
    assert.equal(await resolve("2001:db8::1"), "cab-v6");
    assert.deepEqual(smdb.paths.slice(before), ["/servers/ipaddresses/2001%3Adb8%3A%3A1"]);
    assert.equal(smdb.asked.at(-1), "2001:db8::1");
  });

  it("keeps a path under SMDB_URL and ignores trailing slashes", async () => {
    const nested = await startSmdb({ "10.2.1.1": { body: cabinet("cab-nested") } }, "/api/v2");
    try {
      assert.equal(await httpResolver(`${nested.url}/`, 1000)("10.2.1.1"), "cab-nested");
      assert.equal(await httpResolver(`${nested.url}///`, 1000)("10.2.1.1"), "cab-nested");
      assert.deepEqual(nested.paths, ["/api/v2/servers/ipaddresses/10.2.1.1", "/api/v2/servers/ipaddresses/10.2.1.1"]);
    } finally {
      await nested.close();
    }
  });

  it("answers 'not known' on 404 and on answers without a usable cabinet", async () => {
    const resolve = httpResolver(smdb.url, 1000);
    for (const ip of ["10.2.0.99", "10.2.0.5", "10.2.0.8"]) {
      assert.equal(await resolve(ip), undefined, ip);
      assert.equal(smdb.asked.at(-1), ip, `${ip} was asked`);
    }
  });

  it("fails on other error statuses and on a body that is not a JSON object", async () => {
    const resolve = httpResolver(smdb.url, 1000);
    await assert.rejects(async () => resolve("10.2.0.4"), /HTTP 500/);
    for (const ip of ["10.2.0.3", "10.2.0.6", "10.2.0.7"]) {
      await assert.rejects(async () => resolve(ip), Error, ip);
      assert.equal(smdb.asked.at(-1), ip, `${ip} was asked`);
    }
  });

  it("fails when nothing listens", async () => {
    const port = await freePort();
    await assert.rejects(async () => httpResolver(`http://127.0.0.1:${port}`, 1000)("10.2.0.1"));
  });

  it("gives up after SMDB_TIMEOUT_MS, on a slow answer and on a slow body", async () => {
    const resolve = httpResolver(smdb.url, 200);
    for (const ip of ["10.2.0.10", "10.2.0.11"]) {
      const started = Date.now();
      await assert.rejects(async () => resolve(ip), /abort|timeout/i, ip);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 190 && elapsed < 1500, `${ip}: gave up after ${elapsed} ms`);
    }
  });

  it("in a chain, a timeout falls through to the next resolver within about the timeout", async () => {
    const next: ChainLink = { name: "next", resolve: () => "next-rack", external: false };
    const links: ChainLink[] = [{ name: "http", resolve: httpResolver(smdb.url, 200), external: true }, next];
    const chain = new RackChain(links, subnetResolver(24, 64), undefined, 60, true);
    let started = Date.now();
    assert.equal(await chain.resolve("10.2.0.10"), "next-rack");
    let elapsed = Date.now() - started;
    assert.ok(elapsed >= 190 && elapsed < 1500, `fell through after ${elapsed} ms`);
    const fallbackOnly = new RackChain(links.slice(0, 1), subnetResolver(24, 64), undefined, 60, true);
    started = Date.now();
    assert.equal(await fallbackOnly.resolve("10.2.0.10"), "10.2.0.0/24");
    elapsed = Date.now() - started;
    assert.ok(elapsed >= 190 && elapsed < 1500, `fell back to the subnet after ${elapsed} ms`);
  });
});

describe("module resolver (RACK_MODULE)", () => {
  let dir: string;
  before(() => {
    dir = tempDir();
    writeFileSync(
      join(dir, "site-async.mjs"),
      `export async function resolve(ip) {
  globalThis.rackModuleCalls = (globalThis.rackModuleCalls ?? 0) + 1;
  if (ip.startsWith("10.3.")) return "mod-" + ip.split(".")[2];
  if (ip === "10.9.0.1") throw new Error("lookup failed");
  if (ip === "10.9.0.2") return 42;
  if (ip === "10.9.0.3") return Promise.reject(new Error("rejected"));
  return undefined;
}
`,
    );
    writeFileSync(join(dir, "site-sync.mjs"), `export const resolve = (ip) => "sync-" + ip.replaceAll(".", "-");\n`);
    writeFileSync(
      join(dir, "site-none.mjs"),
      `export const lookup = () => "x";\nexport default { resolve: () => "y" };\n`,
    );
    writeFileSync(join(dir, "site-broken.mjs"), `export function resolve( {\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("answers what the module's resolve(ip) answers, async or not", async () => {
    const resolve = await moduleResolver(join(dir, "site-async.mjs"));
    assert.equal(await resolve("10.3.7.1"), "mod-7");
    assert.equal(await resolve("10.4.0.1"), undefined);
    const sync = await moduleResolver(join(dir, "site-sync.mjs"));
    assert.equal(await sync("10.3.7.1"), "sync-10-3-7-1");
  });

  it("loads a path relative to the working directory", async () => {
    const resolve = await moduleResolver(relative(process.cwd(), join(dir, "site-sync.mjs")));
    assert.equal(await resolve("1.2.3.4"), "sync-1-2-3-4");
  });

  it("passes on a non-string answer, and lets what resolve throws or rejects reach the chain", async () => {
    const resolve = await moduleResolver(join(dir, "site-async.mjs"));
    assert.equal(await resolve("10.9.0.2"), undefined);
    await assert.rejects(async () => resolve("10.9.0.1"), /lookup failed/);
    await assert.rejects(async () => resolve("10.9.0.3"), /rejected/);
  });

  it("refuses a TypeScript module with a clear message", async () => {
    await assert.rejects(moduleResolver(join(dir, "site.ts")), /cannot import TypeScript; compile it/);
  });

  it("fails at load, naming the module, when it exports no resolve function", async () => {
    const path = join(dir, "site-none.mjs");
    await assert.rejects(moduleResolver(path), { message: `RACK_MODULE ${path} does not export resolve(ip)` });
    await assert.rejects(moduleResolver(join(dir, "missing.mjs")), /missing\.mjs/);
    await assert.rejects(moduleResolver(join(dir, "site-broken.mjs")), SyntaxError);
  });
});

describe("RackChain", () => {
  let redis: TestRedis;
  let client: TrackerRedis;
  let store: RackCacheStore;
  let serial = 0;
  /** A fresh link name per test, so Redis cache entries of tests never meet. */
  const uniqueName = (base: string) => `${base}${++serial}`;
  const subnet = subnetResolver(24, 64);

  /**
   * A link answering from `answers`, recording each address asked: "external" (cached, async
   * like the http and module resolvers), "local" (synchronous, like the static map) or
   * "async" (not cached, answers through a promise).
   */
  function counted(
    name: string,
    answers: Record<string, string | undefined>,
    kind: "external" | "local" | "async" = "external",
  ) {
    const calls: string[] = [];
    const answer = (ip: string) => {
      calls.push(ip);
      return answers[ip];
    };
    const link: ChainLink = {
      name,
      external: kind === "external",
      resolve: kind === "local" ? answer : async (ip) => answer(ip),
    };
    return { link, calls };
  }

  before(async () => {
    redis = await startTestRedis();
    client = await connectRedis({ url: redis.url, commandTimeoutMs: 2000 });
    store = client as unknown as RackCacheStore;
  });
  after(async () => {
    await client.close();
    await redis.close();
  });

  it("tries links in order; the first answer wins and later links are not asked", async () => {
    const first = counted(uniqueName("a"), { "10.4.0.2": "from-a" }, "local");
    const second = counted(uniqueName("b"), { "10.4.0.1": "from-b", "10.4.0.2": "from-b" }, "local");
    const third = counted(uniqueName("c"), { "10.4.0.1": "from-c", "10.4.0.3": "from-c" }, "local");
    const chain = new RackChain([first.link, second.link, third.link], subnet, store, 60, true);
    assert.equal(await chain.resolve("10.4.0.1"), "from-b");
    assert.equal(await chain.resolve("10.4.0.2"), "from-a");
    assert.equal(await chain.resolve("10.4.0.3"), "from-c");
    assert.deepEqual(first.calls, ["10.4.0.1", "10.4.0.2", "10.4.0.3"]);
    assert.deepEqual(second.calls, ["10.4.0.1", "10.4.0.3"]);
    assert.deepEqual(third.calls, ["10.4.0.3"]);
  });

  it("falls back to the subnet when no link answers, and to 'unknown' when even that cannot", async () => {
    const none = counted(uniqueName("none"), {}, "local");
    const chain = new RackChain([none.link], subnet, store, 60, true);
    assert.equal(await chain.resolve("10.4.1.9"), "10.4.1.0/24");
    assert.equal(await chain.resolve("2001:db8:4:1::9"), "2001:db8:4:1::/64");
    assert.equal(await chain.resolve("not-an-address"), "unknown");
    assert.equal(await new RackChain([], subnetResolver(16, 48), store, 60, true).resolve("10.4.1.9"), "10.4.0.0/16");
  });

  it("sanitises answers; an answer that sanitises to nothing passes to the next link", async () => {
    const dirty = counted(
      uniqueName("dirty"),
      { "10.4.2.1": " rack {7}\t", "10.4.2.2": "  ", "10.4.2.3": "*" },
      "local",
    );
    const next = counted(uniqueName("next"), { "10.4.2.2": "next", "10.4.2.3": "next" }, "local");
    const chain = new RackChain([dirty.link, next.link], subnet, store, 60, true);
    assert.equal(await chain.resolve("10.4.2.1"), "rack__7_");
    assert.equal(await chain.resolve("10.4.2.2"), "next");
    assert.equal(await chain.resolve("10.4.2.3"), "next");
  });

  it("gives everyone the flat location when not rack-aware, asking no link", async () => {
    const link = counted(uniqueName("flat"), { "10.4.3.1": "r" });
    const chain = new RackChain([link.link], subnet, store, 60, false);
    assert.equal(await chain.resolve("10.4.3.1"), FLAT_LOCATION);
    assert.deepEqual(link.calls, []);
  });

  it("caches an external answer in Redis with the TTL; a second chain gets it without asking", async () => {
    const name = uniqueName("cmdb");
    const key = rackCacheKey(`${name}:10.5.0.1`);
    const one = counted(name, { "10.5.0.1": "cab-1" });
    assert.equal(await new RackChain([one.link], subnet, store, 120, true).resolve("10.5.0.1"), "cab-1");
    assert.deepEqual(one.calls, ["10.5.0.1"]);
    await eventually("cache entry in Redis", async () => (await redis.client.exists(key)) === 1);
    assert.equal(await redis.client.get(key), "cab-1");
    const ttl = await redis.client.ttl(key);
    assert.ok(ttl > 0 && ttl <= 120, `TTL ${ttl}`);

    const other = counted(name, { "10.5.0.1": "changed" });
    const replica = new RackChain([other.link], subnet, store, 120, true);
    assert.equal(await replica.resolve("10.5.0.1"), "cab-1");
    assert.deepEqual(other.calls, [], "answered from Redis");
  });

  it("caches 'no answer' too, so the next chain goes straight to the next link", async () => {
    const name = uniqueName("cmdb");
    const key = rackCacheKey(`${name}:10.5.1.1`);
    const one = counted(name, {});
    assert.equal(await new RackChain([one.link], subnet, store, 120, true).resolve("10.5.1.1"), "10.5.1.0/24");
    await eventually("negative cache entry in Redis", async () => (await redis.client.exists(key)) === 1);
    assert.equal(await redis.client.get(key), "");
    const ttl = await redis.client.ttl(key);
    assert.ok(ttl > 0 && ttl <= 120, `TTL ${ttl}`);
    const other = counted(name, { "10.5.1.1": "now-known" });
    assert.equal(await new RackChain([other.link], subnet, store, 120, true).resolve("10.5.1.1"), "10.5.1.0/24");
    assert.deepEqual(other.calls, []);
  });

  it("does not cache a failed look-up in Redis: it falls through, and only a short backoff spares the link", async () => {
    const name = uniqueName("cmdb");
    const key = rackCacheKey(`${name}:10.5.5.1`);
    let calls = 0;
    const failing: ChainLink = {
      name,
      external: true,
      resolve: async () => {
        calls++;
        throw new Error("CMDB down");
      },
    };
    const chain = new RackChain([failing], subnet, store, 120, true);
    assert.equal(await chain.resolve("10.5.5.1"), "10.5.5.0/24");
    assert.equal(await chain.resolve("10.5.5.1"), "10.5.5.0/24");
    assert.equal(calls, 1, "a second announce within the backoff does not wait on the link again");
    await sleep(100);
    assert.equal(await redis.client.exists(key), 0, "the failure is not shared with other replicas");
    const replica = counted(name, { "10.5.5.1": "cab-5" });
    assert.equal(await new RackChain([replica.link], subnet, store, 120, true).resolve("10.5.5.1"), "cab-5");
  });

  it("keeps answers in process too, and asks once for concurrent look-ups of one address", async () => {
    const name = uniqueName("cmdb");
    const link = counted(name, { "10.5.2.1": "cab-2" });
    const chain = new RackChain([link.link], subnet, store, 120, true);
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => chain.resolve("10.5.2.1")));
    assert.deepEqual(answers, ["cab-2", "cab-2", "cab-2", "cab-2", "cab-2"]);
    assert.equal(link.calls.length, 1);
    const key = rackCacheKey(`${name}:10.5.2.1`);
    await eventually("cache entry in Redis", async () => (await redis.client.exists(key)) === 1);
    await redis.client.del(key);
    assert.equal(await chain.resolve("10.5.2.1"), "cab-2");
    assert.equal(link.calls.length, 1, "answered from the process cache");
  });

  it("asks again once the TTL has passed", async () => {
    const name = uniqueName("cmdb");
    const link = counted(name, { "10.5.3.1": "cab-3" });
    const chain = new RackChain([link.link], subnet, store, 1, true);
    assert.equal(await chain.resolve("10.5.3.1"), "cab-3");
    const key = rackCacheKey(`${name}:10.5.3.1`);
    await eventually("cache entry in Redis", async () => (await redis.client.exists(key)) === 1);
    await sleep(1100);
    assert.equal(await redis.client.exists(key), 0, "expired in Redis");
    assert.equal(await chain.resolve("10.5.3.1"), "cab-3");
    assert.equal(link.calls.length, 2);
  });

  it("caches only external links", async () => {
    const name = uniqueName("static");
    const link = counted(name, { "10.5.4.1": "local" }, "local");
    const chain = new RackChain([link.link], subnet, store, 120, true);
    assert.equal(await chain.resolve("10.5.4.1"), "local");
    assert.equal(await chain.resolve("10.5.4.1"), "local");
    assert.equal(link.calls.length, 2);
    await sleep(50);
    assert.equal(await redis.client.exists(rackCacheKey(`${name}:10.5.4.1`)), 0);
  });

  it("shares answers of the real http resolver between replicas: the API is asked once", async () => {
    const smdb = await startSmdb({ "10.5.5.1": { body: cabinet("cab-shared") } });
    try {
      const name = uniqueName("http");
      const link: ChainLink = { name, resolve: httpResolver(smdb.url, 1000), external: true };
      assert.equal(await new RackChain([link], subnet, store, 60, true).resolve("10.5.5.1"), "cab-shared");
      const key = rackCacheKey(`${name}:10.5.5.1`);
      await eventually("cache entry in Redis", async () => (await redis.client.exists(key)) === 1);
      assert.equal(await new RackChain([link], subnet, store, 60, true).resolve("10.5.5.1"), "cab-shared");
      assert.deepEqual(smdb.asked, ["10.5.5.1"]);
    } finally {
      await smdb.close();
    }
  });

  it("records every location it hands out in the global racks set", async () => {
    const link = counted(uniqueName("cmdb"), { "10.5.6.1": "listed-rack" });
    const chain = new RackChain([link.link], subnet, store, 60, true);
    await chain.resolve("10.5.6.1");
    await chain.resolve("10.5.6.77");
    await eventually("racks set", async () => {
      const racks = await redis.client.sMembers(GLOBAL_KEYS.racks);
      return racks.includes("listed-rack") && racks.includes("10.5.6.0/24");
    });
  });

  it("uses a real module resolver as an external link", async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "chain-module.mjs");
      writeFileSync(path, `export async function resolve(ip) { return ip.endsWith(".1") ? "mod-rack" : undefined; }\n`);
      const link: ChainLink = { name: uniqueName("module"), resolve: await moduleResolver(path), external: true };
      const chain = new RackChain([link], subnet, store, 60, true);
      assert.equal(await chain.resolve("10.5.7.1"), "mod-rack");
      assert.equal(await chain.resolve("10.5.7.2"), "10.5.7.0/24");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("honours a non-external link that answers asynchronously", async () => {
    const link = counted(uniqueName("async"), { "10.5.8.1": "async-rack" }, "async");
    const chain = new RackChain([link.link], subnet, store, 60, true);
    assert.equal(await chain.resolve("10.5.8.1"), "async-rack");
  });

  it("still resolves while Redis is down, asking the link directly", async () => {
    const down = await startTestRedis();
    const downClient = await connectRedis({ url: down.url, commandTimeoutMs: 500 });
    try {
      await captureStderr(async () => {
        await down.stopServer();
        await eventually("client notices the outage", () => !downClient.isReady);
        const link = counted(uniqueName("cmdb"), { "10.5.9.1": "cab-9" });
        const chain = new RackChain([link.link], subnet, downClient as unknown as RackCacheStore, 60, true);
        const started = Date.now();
        assert.equal(await chain.resolve("10.5.9.1"), "cab-9");
        assert.equal(await chain.resolve("10.5.9.2"), "10.5.9.0/24");
        assert.ok(Date.now() - started < 1000, "no waiting on the dead Redis");
        assert.deepEqual(link.calls, ["10.5.9.1", "10.5.9.2"]);
      });
    } finally {
      downClient.destroy();
      await down.startServer();
      await down.close();
    }
  });
});

/** A rack map from text, through a temp file. */
function mapOf(text: string): StaticRackMap {
  const dir = tempDir();
  const path = join(dir, "racks");
  writeFileSync(path, text);
  const map = new StaticRackMap(path);
  rmSync(dir, { recursive: true, force: true });
  return map;
}
