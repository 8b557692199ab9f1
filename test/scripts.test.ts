import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { RedisArgument } from "redis";
import { ARCHIVE_KEY_PREFIX, GLOBAL_KEYS, rackBudgetKeys, rackKey, transferKeys } from "../src/store/keys.js";
import { LUA_DIR, loadLuaScript } from "../src/store/luaScripts.js";
import { sanitizeLocation } from "../src/racks/location.js";
import { connectRedis, loadScripts, scriptRunner, type TrackerRedis } from "../src/store/redis.js";
import {
  SCRIPTS,
  runActivate,
  runAnnounce,
  runArchive,
  runLease,
  runSeen,
  runSweep,
  type AnnounceRequest,
  type ScriptName,
  type ScriptRunner,
} from "../src/store/scripts.js";
import { announceWithBudget } from "../src/store/rackBudget.js";
import { SCRIPT_POLICY } from "./helpers/policy.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { announce, hexOf, peer, randomInfoHash, startTestTracker, type TestTracker } from "./helpers/tracker.js";

/** One script file of lua/, read apart. */
interface ScriptFile {
  readonly file: string;
  readonly name: string;
  /** N from the file name. */
  readonly n: number;
  readonly raw: string;
  /** The leading --[[ ... ]] block. */
  readonly header: string;
  /** Everything after the header, includes not inlined. */
  readonly body: string;
}

const SCRIPT_FILE = /^([a-z][A-Za-z]*)-(\d+)\.lua$/;
const INCLUDE_LINE = /^-- @include (\S+)\s*$/;
const HEADER = /^--\[\[\n([\s\S]*?)\n\]\]\n/;

/** The script files of lua/ that follow the naming rule (a test checks that all do). */
function scriptFiles(): ScriptFile[] {
  return readdirSync(LUA_DIR)
    .sort()
    .flatMap((file) => {
      const match = SCRIPT_FILE.exec(file);
      if (!match) return [];
      const raw = readFileSync(join(LUA_DIR, file), "utf8");
      const header = HEADER.exec(raw);
      const body = header ? raw.slice(header[0].length) : raw;
      return [{ file, name: match[1]!, n: Number(match[2]), raw, header: header?.[1] ?? "", body }];
    });
}

/** The indices of `KEYS[i]` (or ARGV) lines in a header: the contract's declared list. */
const declared = (header: string, array: "KEYS" | "ARGV") =>
  [...header.matchAll(new RegExp(`^${array}\\[(\\d+)\\]\\s+\\S`, "gm"))].map((m) => Number(m[1]));

/** The indices of every `KEYS[i]` (or ARGV) in Lua code. */
const used = (code: string, array: "KEYS" | "ARGV") =>
  [...code.matchAll(new RegExp(`\\b${array}\\[(\\d+)\\]`, "g"))].map((m) => Number(m[1]));

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const unique = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

describe("Lua script contract", () => {
  let redis: TestRedis;
  let admin: TrackerRedis;
  const files = scriptFiles();

  before(async () => {
    redis = await startTestRedis();
    admin = await connectRedis({ url: redis.url, commandTimeoutMs: 2000 });
  });
  after(async () => {
    await admin.close();
    await redis.close();
  });

  it("names every lua/*.lua <verb>-<N>.lua and opens it with a --[[ ... ]] header", () => {
    for (const file of readdirSync(LUA_DIR).filter((f) => f.endsWith(".lua"))) {
      assert.match(file, SCRIPT_FILE);
      assert.match(readFileSync(join(LUA_DIR, file), "utf8"), HEADER, `lua/${file}`);
    }
  });

  it("has one wrapper in src/store/scripts.ts per script file, and a file per wrapper", () => {
    assert.ok(files.length > 0, "no scripts found in lua/");
    assert.deepEqual(files.map((f) => f.name).sort(), Object.keys(SCRIPTS).sort());
    assert.equal(new Set(files.map((f) => f.name)).size, files.length, "two files for one script name");
  });

  for (const script of scriptFiles()) {
    describe(`lua/${script.file}`, () => {
      const name = script.name as ScriptName;

      it("loads into Redis under the SHA src/store/scripts.ts computes", async () => {
        const source = loadLuaScript(name).source;
        assert.equal(SCRIPTS[name].SCRIPT, source);
        assert.equal(SCRIPTS[name].SHA1, sha1(source));
        assert.equal(await redis.client.scriptLoad(source), SCRIPTS[name].SHA1);
        assert.deepEqual(await redis.client.scriptExists(SCRIPTS[name].SHA1), [1]);
      });

      it("takes as many keys as its file name says", () => {
        assert.equal(loadLuaScript(name).numberOfKeys, script.n);
        assert.equal(SCRIPTS[name].NUMBER_OF_KEYS, script.n);
      });

      it("declares KEYS[1..N], ARGV[1..M] and its Output in the header", () => {
        assert.deepEqual(declared(script.header, "KEYS"), range(script.n), "KEYS lines of the header");
        const argv = declared(script.header, "ARGV");
        assert.ok(argv.length > 0, "the header declares no ARGV");
        assert.deepEqual(argv, range(argv.length), "ARGV lines of the header: 1..M, each once, in order");
        assert.match(script.header, /^Output: \S/m);
        assert.ok(script.header.startsWith(`${name}: `), "opens with `<name>: <purpose>`");
      });

      it("uses exactly the declared KEYS and ARGV in its body, by literal index", () => {
        const code = script.body;
        assert.doesNotMatch(code, /\b(KEYS|ARGV)\[(?!\d+\])/, "a KEYS/ARGV index that is not a literal");
        const keys = unique(used(code, "KEYS"));
        assert.equal(Math.max(...keys), script.n, "highest KEYS index used");
        assert.deepEqual(keys, range(script.n), "every declared key is used");
        assert.deepEqual(unique(used(code, "ARGV")), declared(script.header, "ARGV"), "ARGV used = ARGV declared");
      });

      it("resolves every @include to lua/includes/<name>.lua and inlines it", () => {
        const lines = script.raw.split("\n").filter((line) => line.includes("@include"));
        for (const line of lines) {
          const match = INCLUDE_LINE.exec(line);
          assert.ok(match, `malformed include line: ${JSON.stringify(line)}`);
          assert.ok(existsSync(join(LUA_DIR, "includes", `${match[1]}.lua`)), `lua/includes/${match[1]}.lua`);
        }
        const source = loadLuaScript(name).source;
        assert.doesNotMatch(source, /@include/);
        for (const line of lines) {
          const include = readFileSync(join(LUA_DIR, "includes", `${INCLUDE_LINE.exec(line)![1]}.lua`), "utf8");
          assert.ok(source.includes(include), `${line} inlined`);
        }
      });
    });
  }

  it("includes never index KEYS or ARGV, and each is used by some script", () => {
    const includes = readdirSync(join(LUA_DIR, "includes")).filter((f) => f.endsWith(".lua"));
    assert.ok(includes.length > 0);
    const usedIncludes = new Set(
      files.flatMap((f) => [...f.raw.matchAll(/^-- @include (\S+)\s*$/gm)].map((m) => `${m[1]}.lua`)),
    );
    for (const file of includes) {
      const code = readFileSync(join(LUA_DIR, "includes", file), "utf8");
      assert.doesNotMatch(code, /\b(KEYS|ARGV)\[/, `includes/${file}`);
      assert.ok(usedIncludes.has(file), `includes/${file} is included by no script`);
    }
  });

  it("boot check: loadScripts accepts every script", async () => {
    await loadScripts(admin);
  });

  it("the loader and Redis reject what they should: a missing include, a syntax error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "p2ptracker-lua-test-"));
    try {
      mkdirSync(join(dir, "includes"));
      writeFileSync(join(dir, "includes", "one.lua"), "local function one() return 1 end\n");
      writeFileSync(join(dir, "twice-0.lua"), "-- @include one\n-- @include one\nreturn one()\n");
      writeFileSync(join(dir, "missing-0.lua"), "-- @include nowhere\nreturn 1\n");
      writeFileSync(join(dir, "broken-0.lua"), "-- @include one\nreturn one(\n");
      const twice = loadLuaScript("twice", dir);
      assert.equal(twice.source.split("local function one").length - 1, 1, "an include is inlined once");
      assert.equal(twice.numberOfKeys, 0);
      assert.equal(await redis.client.eval(twice.source), 1);
      assert.throws(() => loadLuaScript("missing", dir), /ENOENT.*nowhere\.lua/);
      assert.throws(() => loadLuaScript("absent", dir), /no script lua\/absent-<N>\.lua/);
      await assert.rejects(redis.client.scriptLoad(loadLuaScript("broken", dir).source), /Error compiling script/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the TypeScript wrappers pass each script its N keys and its declared ARGV count", async () => {
    const real = scriptRunner(admin);
    const calls = new Map<string, { keys: number; args: number }>();
    const record =
      (name: ScriptName) =>
      (keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown> => {
        calls.set(name, { keys: keys.length, args: args.length });
        return real[name](keys, args);
      };
    const runner: ScriptRunner = {
      announce: record("announce"),
      lease: record("lease"),
      sweep: record("sweep"),
      register: record("register"),
      archive: record("archive"),
      seen: record("seen"),
    };
    const hex = hexOf(randomInfoHash());
    const keys = transferKeys(hex);
    await runActivate(runner, keys, "t", "1");
    await runAnnounce(runner, keys, request("10.0.0.1", "r1"), POLICY, 1);
    await runLease(
      runner,
      rackBudgetKeys("r1"),
      { action: "claim", host: "10.0.0.1", infoHashHex: hex, priority: 1, seeding: false, transferReps: 0, token: 0 },
      POLICY,
    );
    await runSweep(runner, keys, 600, 100);
    await runArchive(runner, keys, ARCHIVE_KEY_PREFIX, 600);
    await runSeen(runner, GLOBAL_KEYS.seenTransfers, hex, 10);
    for (const file of files) {
      assert.deepEqual(calls.get(file.name), { keys: file.n, args: declared(file.header, "ARGV").length }, file.name);
    }
  });

  it("the wrapper refuses a wrong number of keys before reaching Redis", async () => {
    const keys = transferKeys(hexOf(randomInfoHash()));
    await assert.rejects(
      async () => scriptRunner(admin).register([keys.info], ["", "", "", "", ""]),
      /register takes 2 keys, got 1/,
    );
    assert.equal(await redis.client.exists(keys.info), 0);
  });
});

const POLICY = SCRIPT_POLICY;

function request(ip: string, rack: string, left = 100n, port = 6881): AnnounceRequest {
  const address = Buffer.from([...ip.split(".").map(Number), port >> 8, port & 0xff]);
  return {
    address,
    rack,
    peerId: Buffer.alloc(20, 0xab),
    event: "started",
    left,
    uploaded: 0n,
    downloaded: 0n,
    numwant: 50,
    withPeerIds: false,
  };
}

describe("rack keys: Lua builds the keys src/store/keys.ts names", () => {
  let redis: TestRedis;
  let admin: TrackerRedis;
  let tracker: TestTracker;
  let dir: string;

  before(async () => {
    redis = await startTestRedis();
    admin = await connectRedis({ url: redis.url, commandTimeoutMs: 2000 });
    dir = mkdtempSync(join(tmpdir(), "p2ptracker-scripts-test-"));
    writeFileSync(join(dir, "racks"), "10.30.1.0/24 hall:1/rack-é7\nfd00:30::/48 rack6\n");
    tracker = await startTestTracker(redis, { RACK_MAP: join(dir, "racks"), AUTO_ACTIVATE: "true" });
  });
  after(async () => {
    await tracker.close();
    await admin.close();
    await redis.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every key of one transfer in Redis. */
  const keysOf = async (hex: string) => (await redis.client.keys(`{${hex}}*`)).sort();
  const swarmKeys = (hex: string) => {
    const k = transferKeys(hex);
    return [k.info, k.peers, k.racks, k.repsLeeching];
  };

  it("announce writes <rackPrefix><rack>:L|S|R|F exactly as rackKey() names them", async () => {
    const hex = hexOf(randomInfoHash());
    const keys = transferKeys(hex);
    const rack = "dc1:hall-2/rack.ü7";
    assert.equal(sanitizeLocation(rack), rack, "a location the chain can hand out");
    const runner = scriptRunner(admin);
    await announceWithBudget(runner, hex, request("10.0.0.1", rack), POLICY, 1);
    const repKeys = [rackKey(hex, rack, "L"), rackKey(hex, rack, "R"), rackKey(hex, rack, "F")];
    assert.deepEqual(await keysOf(hex), [...swarmKeys(hex), ...repKeys].sort());
    assert.equal(await admin.exists(rackBudgetKeys(rack).holders), 1, "the rack's lease, under the rack's own tag");
    await announceWithBudget(runner, hex, request("10.0.0.2", rack, 0n), POLICY, 1);
    assert.deepEqual(await keysOf(hex), [...swarmKeys(hex), keys.origins, ...repKeys, rackKey(hex, rack, "S")].sort());
    assert.deepEqual(await redis.client.sMembers(keys.racks), [rack]);
    const result = await runArchive(runner, keys, ARCHIVE_KEY_PREFIX, 600);
    assert.equal(result.status, "archived");
    assert.deepEqual(await keysOf(hex), [], "archive moves the rack keys by the same names");
  });

  it("sweep finds and drops rack keys by the same names", async () => {
    const hex = hexOf(randomInfoHash());
    const keys = transferKeys(hex);
    const runner = scriptRunner(admin);
    await runAnnounce(runner, keys, request("10.0.0.3", "rack:sweep"), POLICY, 1);
    assert.equal(await redis.client.exists(rackKey(hex, "rack:sweep", "L")), 1);
    await new Promise((r) => setTimeout(r, 1100));
    assert.deepEqual(await runSweep(runner, keys, 1, 100), { removed: 1, more: false });
    assert.deepEqual(await keysOf(hex), [keys.info]);
  });

  it("through the tracker: a mapped rack and a subnet rack land under rackKey()", async () => {
    const infoHash = randomInfoHash();
    const hex = hexOf(infoHash);
    await announce(tracker, infoHash, peer("10.30.1.5"));
    await announce(tracker, infoHash, peer("10.40.2.5"));
    await announce(tracker, infoHash, peer("fd00:30::5"));
    await announce(tracker, infoHash, peer("fd00:40:0:1::5"));
    const racks = ["hall:1/rack-é7", "10.40.2.0/24", "rack6", "fd00:40:0:1::/64"];
    assert.deepEqual((await redis.client.sMembers(transferKeys(hex).racks)).sort(), [...racks].sort());
    const expected = racks.flatMap((rack) => [
      rackKey(hex, rack, "L"),
      rackKey(hex, rack, "R"),
      rackKey(hex, rack, "F"),
    ]);
    assert.deepEqual(await keysOf(hex), [...swarmKeys(hex), ...expected].sort());
    for (const rack of racks) {
      for (const set of ["L", "R"] as const) assert.equal(await redis.client.zCard(rackKey(hex, rack, set)), 1, rack);
      assert.equal(await redis.client.hLen(rackKey(hex, rack, "F")), 1, rack);
    }
  });
});

describe("announce reports elections and failovers", () => {
  let redis: TestRedis;
  let admin: TrackerRedis;
  before(async () => {
    redis = await startTestRedis();
    admin = await connectRedis({ url: redis.url, commandTimeoutMs: 2000 });
  });
  after(async () => {
    await admin.close();
    await redis.close();
  });

  const oneSlot = { ...POLICY, maxRepr: 1, slots: 1 };
  /** Backdates a peer's scores and its rack lease, as if it had gone silent an hour ago. */
  const silence = async (hex: string, rack: string, ip: string) => {
    const member = request(ip, rack).address as Buffer;
    const keys = transferKeys(hex);
    for (const key of [rackKey(hex, rack, "L"), rackKey(hex, rack, "R"), keys.repsLeeching]) {
      await admin.zAdd(key, { score: 1, value: member }, { XX: true });
    }
    const holders = rackBudgetKeys(rack).holders;
    const [slot, token] = String(await admin.hGet(holders, ip)).split(" ");
    await admin.hSet(holders, ip, `${slot} ${token} 1`);
  };
  const announceOne = async (hex: string, req: AnnounceRequest, policy = oneSlot) =>
    (await announceWithBudget(scriptRunner(admin), hex, req, policy, 1)).result;

  it("elected once per slot taken; a slot taken from a silent representative is a failover", async () => {
    const hex = hexOf(randomInfoHash());
    const keys = transferKeys(hex);
    const first = await announceOne(hex, request("10.0.1.1", "e1"));
    assert.deepEqual([first.role, first.elected, first.failover], ["rep", true, false]);
    const again = await announceOne(hex, request("10.0.1.1", "e1"));
    assert.deepEqual([again.role, again.elected, again.failover], ["rep", false, false]);
    const mate = await announceOne(hex, request("10.0.1.2", "e1"));
    assert.deepEqual([mate.role, mate.elected, mate.failover], ["member", false, false]);
    await silence(hex, "e1", "10.0.1.1");
    const takeover = await announceOne(hex, request("10.0.1.2", "e1"));
    assert.deepEqual([takeover.role, takeover.elected, takeover.failover], ["rep", true, true]);
    assert.equal(await admin.hExists(keys.peers, request("10.0.1.1", "e1").address as Buffer), 0, "pruned");
  });

  it("a silent representative the prune did not reach yet (limit) still makes the election a failover", async () => {
    const hex = hexOf(randomInfoHash());
    const keys = transferKeys(hex);
    await announceOne(hex, request("10.0.2.1", "e2"));
    await silence(hex, "e2", "10.0.2.1");
    const noPrune = { ...oneSlot, pruneLimit: 0 };
    const takeover = await announceOne(hex, request("10.0.2.2", "e2"), noPrune);
    assert.deepEqual([takeover.role, takeover.elected, takeover.failover], ["rep", true, true]);
    assert.equal(await admin.hExists(keys.peers, request("10.0.2.1", "e2").address as Buffer), 1, "not pruned");
  });

  it("a representative that stops hands its slot over without a failover; origins are never elected", async () => {
    const hex = hexOf(randomInfoHash());
    await announceOne(hex, request("10.0.3.1", "e3"));
    const stopped = await announceOne(hex, { ...request("10.0.3.1", "e3"), event: "stopped" });
    assert.deepEqual([stopped.elected, stopped.failover], [false, false]);
    const next = await announceOne(hex, request("10.0.3.2", "e3"));
    assert.deepEqual([next.role, next.elected, next.failover], ["rep", true, false]);
    const origin = await announceOne(hex, request("10.0.3.3", "e3", 0n));
    assert.deepEqual([origin.role, origin.elected, origin.failover], ["origin", false, false]);
  });
});
