import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ARCHIVE_KEY_PREFIX, transferKeys, type TransferKeys } from "../src/store/keys.js";
import { connectRedis, scriptRunner, type TrackerRedis } from "../src/store/redis.js";
import {
  runActivate,
  runAnnounce,
  runArchive,
  runSweep,
  type AnnounceRequest,
  type ScriptRunner,
} from "../src/store/scripts.js";
import { announceWithBudget } from "../src/store/rackBudget.js";
import { CELL_DIRECTORY, cellCount, cellOf, cellSetKey, cellsField } from "../src/store/cells.js";
import { locateTransfer, transferView } from "../src/store/transferViews.js";
import { SCRIPT_POLICY } from "./helpers/policy.js";
import { assertUniform, drawRequest, ipsOf, tallyDraws } from "./helpers/draws.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { hexOf, randomInfoHash } from "./helpers/tracker.js";

// A rack's L and S sets live in cells once it grows (lua/includes/cells.lua): every member
// in the cell its address names, every cell set a small listpack, the directory's counts
// exact, and draws across cells uniform. Against a real redis-server.

const POLICY = SCRIPT_POLICY;

/** Addresses 10.<a>.<b>.<c>:6881 for host i of a test rack. */
function ipOf(i: number, base = 10): string {
  return `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

const request = drawRequest;
const peersOf = ipsOf;

describe("racks kept in cells", () => {
  let redis: TestRedis;
  let admin: TrackerRedis;
  let runner: ScriptRunner;

  before(async () => {
    redis = await startTestRedis();
    admin = await connectRedis({ url: redis.url, commandTimeoutMs: 5000 });
    runner = scriptRunner(admin);
  });
  after(async () => {
    await admin.close();
    await redis.close();
  });

  /**
   * A transfer with one rack of `leechers` + `seeders` members (through the rack budget, as
   * the tracker does: the first two leechers are its representatives).
   */
  async function rackOf(rack: string, leechers: number, seeders: number, base = 10) {
    const hex = hexOf(randomInfoHash());
    const keys = transferKeys(hex);
    await runActivate(runner, keys, "t", "1");
    const ips = { leechers: [] as string[], seeders: [] as string[] };
    for (let i = 0; i < leechers + seeders; i++) {
      const ip = ipOf(i + 1, base);
      const seeder = i >= leechers;
      // Seeders complete here (an origin, complete at its first announce, is an outside peer).
      const join = {
        ...request(ip, rack, seeder ? 0n : 100n, 0),
        event: seeder ? ("completed" as const) : ("" as const),
      };
      await announceWithBudget(runner, hex, join, POLICY, 1);
      (seeder ? ips.seeders : ips.leechers).push(ip);
    }
    return { hex, keys, ...ips };
  }

  /** The cell invariants of one rack, checked from outside; returns its number of cells. */
  async function assertCells(keys: TransferKeys, rack: string, members: { leechers: string[]; seeders: string[] }) {
    const directory = await admin.hGetAll(`${keys.rackPrefix}${rack}:${CELL_DIRECTORY}`);
    const cells = await admin.hGet(keys.info, cellsField(rack));
    const n = cellCount(cells === null ? undefined : String(cells));
    const maxEver = Number(String(cells ?? "1 0").split(" ")[1]);
    let max = 0;
    for (let c = 0; c < n; c++) {
      let size = 0;
      for (const set of ["L", "S"] as const) {
        const key = cellSetKey(keys.rackPrefix, rack, set, c);
        const card = await admin.zCard(key);
        size += card;
        if (n > 1) assert.equal(Number(String(directory[`${set}${c}`] ?? 0)), card, `${key}: the directory's count`);
        if (card > 0) assert.equal(String(await admin.objectEncoding(key)), "listpack", `${key} stays a listpack`);
      }
      max = Math.max(max, size);
    }
    if (n > 1) assert.ok(maxEver >= max, "no cell holds more than max");
    for (const [set, ips] of [
      ["L", members.leechers],
      ["S", members.seeders],
    ] as const) {
      for (const ip of ips) {
        const address = request(ip, rack, 0n, 0).address;
        const key = cellSetKey(keys.rackPrefix, rack, set, cellOf(address, n));
        assert.notEqual(await admin.zScore(key, address as Buffer), null, `${ip} in ${key}`);
      }
    }
    return n;
  }

  const tally = (hex: string, client: AnnounceRequest, never: ReadonlySet<string>) =>
    tallyDraws(runner, hex, client, never, POLICY);

  it("a rack that grows splits into cells: each member in the cell its address names, each set a listpack, counts exact", async () => {
    const rack = "cells-grow";
    const members = await rackOf(rack, 1400, 600);
    const n = await assertCells(members.keys, rack, members);
    assert.ok(n >= 8, `2,000 members in ${n} cells`);
    // A small rack stays in one cell, under the keys it always had.
    const small = await rackOf("cells-small", 180, 60, 11);
    assert.equal(await assertCells(small.keys, "cells-small", small), 1);
    assert.equal(await admin.exists(`${small.keys.rackPrefix}cells-small:${CELL_DIRECTORY}`), 0);
    assert.equal(await admin.hGet(small.keys.info, cellsField("cells-small")), null);
  });

  it("a member gets a uniform sample of its rack's leechers and seeders across cells", async () => {
    const rack = "cells-member";
    const members = await rackOf(rack, 420, 180, 12);
    assert.ok((await assertCells(members.keys, rack, members)) >= 3);
    const client = members.leechers[5]!;
    const counts = await tally(members.hex, request(client, rack, 100n, 30), new Set([client]));
    assertUniform(counts, [...members.leechers.filter((ip) => ip !== client), ...members.seeders], 30);
  });

  it("a seeder gets a uniform sample of its rack's leechers only, across cells", async () => {
    const rack = "cells-seeder";
    const members = await rackOf(rack, 400, 200, 13);
    assert.ok((await assertCells(members.keys, rack, members)) >= 3);
    const client = members.seeders[0]!;
    const counts = await tally(members.hex, request(client, rack, 0n, 20), new Set(members.seeders));
    assertUniform(counts, members.leechers, 20);
  });

  it("flat mode keeps its one location in cells too", async () => {
    const hex = hexOf(randomInfoHash());
    const keys = transferKeys(hex);
    await runActivate(runner, keys, "t", "1");
    const flat = { ...POLICY, rackAware: false };
    const leechers: string[] = [];
    for (let i = 1; i <= 800; i++) {
      const ip = ipOf(i, 14);
      await runAnnounce(runner, keys, request(ip, "*", 100n, 0), flat, 1);
      leechers.push(ip);
    }
    assert.ok((await assertCells(keys, "*", { leechers, seeders: [] })) >= 3);
    const reply = await runAnnounce(runner, keys, request(leechers[0]!, "*", 100n, 50), flat, 7);
    assert.equal(new Set(peersOf(reply.peers4)).size, 50);
  });

  it("stopped, sweep and archive keep the cells and their directory in step", async () => {
    const rack = "cells-life";
    const members = await rackOf(rack, 600, 0, 15);
    const { keys, hex } = members;
    // A quarter stop: each leaves its cell and the directory's count.
    const stopping = members.leechers.filter((_, i) => i % 4 === 0);
    for (const ip of stopping) {
      await runAnnounce(runner, keys, { ...request(ip, rack, 100n, 0), event: "stopped" }, POLICY, 1);
    }
    const staying = members.leechers.filter((_, i) => i % 4 !== 0);
    await assertCells(keys, rack, { leechers: staying, seeders: [] });
    const view = await transferView(admin, (await locateTransfer(admin, hex))!, POLICY.peerTtl, true);
    assert.equal(view.racks?.find((r) => r.rack === rack)?.peers, staying.length, "the API counts every cell");
    // Archive moves every cell and the directory.
    const archived = await runArchive(runner, keys, ARCHIVE_KEY_PREFIX, 600);
    assert.equal(archived.status, "archived");
    assert.deepEqual(await admin.keys(`${keys.rackPrefix}${rack}:*`), [], "no cell left behind");
    const stamp = archived.status === "archived" ? archived.stamp : "";
    const old = await transferView(admin, (await locateTransfer(admin, hex, stamp))!, POLICY.peerTtl, true);
    assert.equal(old.racks?.find((r) => r.rack === rack)?.peers, staying.length, "the archive's view reads its cells");
  });

  it("the sweep drops dead members from every cell, then the empty rack with its directory", async () => {
    const rack = "cells-sweep";
    const members = await rackOf(rack, 600, 0, 16);
    assert.ok((await assertCells(members.keys, rack, members)) >= 3);
    await new Promise((r) => setTimeout(r, 1100));
    let removed = 0;
    for (let more = true; more;) {
      const sweep = await runSweep(runner, members.keys, 1, 100);
      removed += sweep.removed;
      more = sweep.more;
    }
    assert.equal(removed, 600);
    assert.deepEqual(await admin.keys(`${members.keys.rackPrefix}${rack}:*`), []);
  });
});
