import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ConfigError, loadConfig } from "../src/config/config.js";
import { connectCluster, type ClusterConnection } from "../src/store/cluster.js";
import { GLOBAL_KEYS } from "../src/store/keys.js";
import { SCRIPTS } from "../src/store/scripts.js";
import { activateTransfer, type TransferStore } from "../src/store/transfers.js";
import { allPages, api, TEST_TOKEN } from "./helpers/api.js";
import { runCli } from "./helpers/cli.js";
import { httpRequest, text } from "./helpers/http.js";
import { startTestCluster, type TestCluster } from "./helpers/redisCluster.js";
import { startTestRedis } from "./helpers/redisServer.js";
import { makeTorrent } from "./helpers/torrent.js";
import {
  announce,
  hexOf,
  peer,
  peersOf,
  randomInfoHash,
  startTestTracker,
  trackerFixture,
  type TestPeer,
  type TestTracker,
} from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";
import { budgetViolations, threeTransfersAtOnce } from "./helpers/budget.js";
import type { Decoded } from "./helpers/http.js";

const CLIENTS = 500;
const REPLICAS = 3;
const MAX_REPR = 2; // the default MAX_REPR_RACK
const auth = { token: TEST_TOKEN };

describe("Redis Cluster (3 masters, 3 replicas)", () => {
  let cluster: TestCluster;
  let admin: ClusterConnection;
  let trackers: TestTracker[] = [];
  let rackDir: string;
  /** One transfer per master, each with CLIENTS + 1 peers after the election test. */
  const swarms: Array<{ infoHash: Uint8Array; hex: string; master: number; clients: TestPeer[] }> = [];

  before(async () => {
    cluster = await startTestCluster();
    admin = await connectCluster({
      seeds: cluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
      commandTimeoutMs: 5000,
    });
    rackDir = mkdtempSync(join(tmpdir(), "p2ptracker-cluster-racks-"));
    const rackMap = join(rackDir, "racks.txt");
    writeFileSync(
      rackMap,
      "10.50.0.0/16 bigrack\n10.60.0.0/16 other\n10.70.0.0/16 budgetrack\n10.71.0.0/16 linerack\n",
    );
    for (let i = 0; i < REPLICAS; i++) {
      trackers.push(
        await startTestTracker(cluster, {
          RACK_MAP: rackMap,
          ADMIN_TOKEN: TEST_TOKEN,
          SWEEP_INTERVAL: "1",
          REDIS_TIMEOUT_MS: "5000",
          // The swarms here announce once and are read back minutes later: leases as long
          // as peers live, so their representatives are still theirs when the API shows them.
          LEASE_TTL: "90",
        }),
      );
    }
  });
  after(async () => {
    await Promise.all(trackers.map((t) => t.close()));
    await admin?.close();
    await cluster?.close();
    if (rackDir) rmSync(rackDir, { recursive: true, force: true });
  });

  const count = async (key: string) => Number(await admin.redis.zCard(key));
  const field = async (key: string, name: string) => String((await admin.redis.hGet(key, name)) ?? "");

  it("loads every script on every master at startup", async () => {
    for (const port of await cluster.masters()) {
      for (const [name, script] of Object.entries(SCRIPTS)) {
        assert.equal(await cluster.ask(port, "SCRIPT", "EXISTS", script.SHA1), "1", `${name} on ${port}`);
      }
    }
  });

  it(`${CLIENTS} concurrent first announces over ${REPLICAS} replicas elect exactly ${MAX_REPR} per rack, on every master`, async () => {
    const masters = new Set(await cluster.masters());
    while (swarms.length < masters.size) {
      const infoHash = randomInfoHash();
      const hex = hexOf(infoHash);
      const { master } = await cluster.ownerOf(`{${hex}}:info`);
      if (swarms.some((s) => s.master === master)) continue;
      swarms.push({ infoHash, hex, master, clients: [] });
    }
    for (const swarm of swarms) {
      const { infoHash, hex } = swarm;
      await activateTransfer(admin.redis as unknown as TransferStore, hex);
      const outsider = peer("10.60.0.1");
      await announce(trackers[0]!, infoHash, outsider);
      swarm.clients = Array.from({ length: CLIENTS }, (_, i) => peer(`10.50.${1 + (i >> 8)}.${i & 255}`));
      const replies = await Promise.all(swarm.clients.map((c, i) => announce(trackers[i % REPLICAS]!, infoHash, c)));
      assert.deepEqual(
        replies.flatMap((r) => (r["failure reason"] === undefined ? [] : [text(r["failure reason"])])),
        [],
      );
      assert.equal(await count(`{${hex}}:rack:bigrack:R`), MAX_REPR);
      assert.equal(await count(`{${hex}}:RL`), MAX_REPR + 1, "two from bigrack, one from the other rack");
      assert.equal(Number(await admin.redis.hLen(`{${hex}}:peers`)), CLIENTS + 1);
      assert.equal(await field(`{${hex}}:info`, "leechers"), String(CLIENTS + 1));
      const sawOutsider = replies.filter((r) => peersOf(r).some((p) => p.startsWith("10.60."))).length;
      assert.equal(sawOutsider, MAX_REPR, "exactly the representatives were told about the other rack");
    }
    const indexed = (await admin.redis.zRange(GLOBAL_KEYS.activeTransfers, 0, -1)).map(String);
    for (const { hex } of swarms) assert.ok(indexed.includes(hex), `${hex} in ${GLOBAL_KEYS.activeTransfers}`);
  });

  it(`3 transfers, ${CLIENTS} concurrent first announces each over ${REPLICAS} replicas: one uplink budget per rack, across masters`, async () => {
    const problems = await threeTransfersAtOnce(
      {
        redis: admin.redis as never,
        announce: (i, infoHash, client) => announce(trackers[i % REPLICAS]!, infoHash, client),
        activate: async (hex) => void (await activateTransfer(admin.redis as unknown as TransferStore, hex)),
      },
      "budgetrack",
      peer("10.60.0.1"),
      CLIENTS,
      MAX_REPR,
    );
    assert.deepEqual(problems, []);
  });

  it("keeps the waiting line and lets urgent take a normal slot, with transfers and rack on different masters", async () => {
    const rackMaster = (await cluster.ownerOf("rack:{linerack}:holders")).master;
    const elsewhere: Uint8Array[] = [];
    while (elsewhere.length < 4) {
      const infoHash = randomInfoHash();
      if ((await cluster.ownerOf(`{${hexOf(infoHash)}}:info`)).master !== rackMaster) elsewhere.push(infoHash);
    }
    const [t1, t2, t3, urgent] = elsewhere as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    for (const [infoHash, priority] of [
      [t1, "normal"],
      [t2, "normal"],
      [t3, "normal"],
      [urgent, "urgent"],
    ] as const) {
      const answer = await api(trackers[0]!.url, "POST", `/transfers/${hexOf(infoHash)}?priority=${priority}`, auth);
      assert.equal(answer.status, 201);
    }
    const outsider = peer("10.60.0.1"); // holds a slot of rack "other" since the first tests
    for (const infoHash of elsewhere) await announce(trackers[0]!, infoHash, outsider);
    const outside = (reply: Decoded) => peersOf(reply).some((p) => p.startsWith("10.60.0.1:"));
    const [h1, h2, h3, h4, h5] = [1, 2, 3, 4, 5].map((i) => peer(`10.71.0.${i}`)) as [
      TestPeer,
      TestPeer,
      TestPeer,
      TestPeer,
      TestPeer,
    ];

    assert.ok(outside(await announce(trackers[0]!, t1, h1)));
    assert.ok(outside(await announce(trackers[1]!, t1, h2)));
    assert.ok(!outside(await announce(trackers[2]!, t2, h3)), "t2 waits: both slots are held outside it");
    await sleep(1100);
    assert.ok(!outside(await announce(trackers[0]!, t3, h4)), "t3 waits, behind t2");
    const view = await api(trackers[1]!.url, "GET", `/transfers/${hexOf(t2)}?racks=1`);
    const line = view.json.racks.find((r: { rack: string }) => r.rack === "linerack");
    assert.ok(line.waiting_since > 0 && line.representatives.length === 0, JSON.stringify(line));

    await announce(trackers[1]!, t1, h1, { event: "stopped" });
    assert.ok(!outside(await announce(trackers[2]!, t3, h4)), "the freed slot is t2's: it has waited longest");
    assert.ok(outside(await announce(trackers[0]!, t2, h3)), "t2 takes it");
    // Urgent takes the newest normal lease (h3's) at its first client's announce.
    assert.ok(outside(await announce(trackers[1]!, urgent, h5)));
    assert.ok(!outside(await announce(trackers[2]!, t2, h3)), "h3, displaced, gets only its rack");
    const problems = await budgetViolations(admin.redis as never, ["linerack"], elsewhere.map(hexOf), MAX_REPR);
    assert.deepEqual(problems, []);
  });

  it("serves the operators' API: register, list, show, peers, archive, seen", async () => {
    const torrent = makeTorrent(randomBytes(40_000), {
      name: "cluster.tar",
      announce: trackers[0]!.url,
      pieceLength: 16384,
    });
    const hex = hexOf(torrent.infoHash);
    const registered = await api(trackers[1]!.url, "POST", "/torrents", { ...auth, body: torrent.bytes });
    assert.equal(registered.status, 201, JSON.stringify(registered.json));
    const fetched = await api(trackers[2]!.url, "GET", `/torrents/${hex}.torrent`);
    assert.deepEqual(fetched.bytes, Buffer.from(torrent.bytes));

    // Bare registrations spread over every master, listed newest first in pages.
    const perMaster = new Map<number, number>();
    const bare: string[] = [];
    while (bare.length < 12) {
      const h = hexOf(randomInfoHash());
      const { master } = await cluster.ownerOf(`{${h}}:info`);
      if ((perMaster.get(master) ?? 0) >= 4) continue;
      perMaster.set(master, (perMaster.get(master) ?? 0) + 1);
      bare.push(h);
    }
    for (const h of bare) assert.equal((await api(trackers[0]!.url, "POST", `/transfers/${h}`, auth)).status, 201);
    const pages = await allPages(trackers[2]!.url, "/transfers", 5);
    const listed = pages.flat() as Array<{ info_hash: string; name: string | null; leechers: number }>;
    for (const h of [...bare, hex, ...swarms.map((s) => s.hex)]) {
      assert.equal(listed.filter((r) => r.info_hash === h).length, 1, `${h} listed once`);
    }
    assert.equal(listed.find((r) => r.info_hash === hex)!.name, "cluster.tar");
    assert.equal(listed.find((r) => r.info_hash === swarms[0]!.hex)!.leechers, CLIENTS + 1);

    const swarm = swarms[1]!;
    const view = await api(trackers[0]!.url, "GET", `/transfers/${swarm.hex}?racks=1`);
    assert.equal(view.status, 200);
    assert.equal(view.json.peers, CLIENTS + 1);
    const big = view.json.racks.find((r: { rack: string }) => r.rack === "bigrack");
    assert.equal(big.peers, CLIENTS);
    assert.equal(big.representatives.length, MAX_REPR);
    const peers = (await allPages(trackers[1]!.url, `/transfers/${swarm.hex}/peers`, 100)).flat() as Array<{
      address: string;
    }>;
    assert.equal(new Set(peers.map((p) => p.address)).size, CLIENTS + 1, "every peer once, binary addresses intact");
    assert.ok(peers.some((p) => p.address === "10.60.0.1:" + p.address.split(":")[1]));
    const reps = (await allPages(trackers[1]!.url, `/transfers/${swarm.hex}/representatives`, 100)).flat();
    assert.equal(reps.length, MAX_REPR + 1);

    const a = peer("10.50.9.1");
    await announce(trackers[0]!, torrent.infoHash, a, { event: "started" });
    const archived = await api(trackers[2]!.url, "DELETE", `/transfers/${hex}`, auth);
    assert.equal(archived.status, 200, JSON.stringify(archived.json));
    assert.equal(archived.json.peers, 1);
    const archives = (await allPages(trackers[0]!.url, "/transfers?state=archived", 10)).flat() as Array<{
      info_hash: string;
      archive: string;
    }>;
    assert.deepEqual(
      archives.filter((r) => r.info_hash === hex).map((r) => r.archive),
      [archived.json.archive],
    );
    const archivedView = await api(trackers[1]!.url, "GET", `/transfers/${hex}`);
    assert.equal(archivedView.json.active, false);
    assert.equal(archivedView.json.peers, 1);
    const active = (await allPages(trackers[1]!.url, "/transfers", 50)).flat() as Array<{ info_hash: string }>;
    assert.ok(!active.some((r) => r.info_hash === hex));

    const stranger = randomInfoHash();
    await announce(trackers[0]!, stranger, peer("10.50.9.2"));
    await eventually("the unregistered hash is listed as seen", async () => {
      const seen = (await allPages(trackers[2]!.url, "/transfers?state=seen", 100)).flat() as Array<{
        info_hash: string;
      }>;
      return seen.some((r) => r.info_hash === hexOf(stranger));
    });

    const scrape = await httpRequest(`${trackers[0]!.url}/scrape`);
    assert.equal(scrape.status, 200);
  });

  it("puts an active transfer missing from transfers:active back by walking every master", async () => {
    const missing = swarms.map((s) => s.hex);
    await admin.redis.zRem(GLOBAL_KEYS.activeTransfers, missing);
    const stale = hexOf(randomInfoHash());
    await admin.redis.zAdd(GLOBAL_KEYS.activeTransfers, { score: 1, value: stale });
    await admin.redis.del(GLOBAL_KEYS.reconcileLease);
    await eventually(
      "the sweeping replica re-adds the missing transfers and drops the stale entry",
      async () => {
        const indexed = (await admin.redis.zRange(GLOBAL_KEYS.activeTransfers, 0, -1)).map(String);
        return missing.every((h) => indexed.includes(h)) && !indexed.includes(stale);
      },
      15_000,
    );
  });

  it("keeps serving through a manual failover (CLUSTER FAILOVER), swarm state intact", async () => {
    const swarm = swarms[0]!;
    const { master, replicas } = await cluster.ownerOf(`{${swarm.hex}}:info`);
    assert.equal(master, swarm.master);
    assert.equal(await cluster.ask(replicas[0]!, "CLUSTER", "FAILOVER"), "OK");
    await eventually(
      "the replica is master",
      async () => (await cluster.ownerOf(`{${swarm.hex}}:info`)).master === replicas[0],
      15_000,
    );
    const started = Date.now();
    await eventually(
      "announces through every replica succeed",
      async () => {
        const replies = await Promise.all(trackers.map((t) => announce(t, swarm.infoHash, swarm.clients[0]!)));
        return replies.every((r) => r["failure reason"] === undefined);
      },
      10_000,
    );
    const recoveredMs = Date.now() - started;
    console.log(`CLUSTER FAILOVER: all replicas served ${recoveredMs} ms after the replica became master`);
    assert.ok(recoveredMs < 5_000, `announces recovered in ${recoveredMs} ms`);
    const reply = await announce(trackers[1]!, swarm.infoHash, peer("10.50.200.1"));
    assert.equal(reply["failure reason"], undefined);
    assert.equal(reply.incomplete, CLIENTS + 2, "every peer kept across the failover");
    assert.equal(await count(`{${swarm.hex}}:rack:bigrack:R`), MAX_REPR);
    assert.equal(
      await cluster.ask(replicas[0]!, "SCRIPT", "EXISTS", SCRIPTS.announce.SHA1),
      "1",
      "the promoted replica got the script on first use (SCRIPT LOAD is not replicated)",
    );
    await eventually("every replica is ready", async () => trackers.every((t) => t.readiness.problems().length === 0));
  });

  it("recovers without a restart when a master dies (kill -9): fast failures meanwhile, never a hang", async () => {
    const swarm = swarms[2]!;
    const { master } = await cluster.ownerOf(`{${swarm.hex}}:info`);
    await cluster.kill(master);
    const killed = Date.now();
    let failures = 0;
    let slowestMs = 0;
    await eventually(
      "announces through every replica succeed again after the replica took over",
      async () => {
        const replies = await Promise.all(
          trackers.map(async (t) => {
            const t0 = Date.now();
            const reply = await announce(t, swarm.infoHash, swarm.clients[1]!);
            slowestMs = Math.max(slowestMs, Date.now() - t0);
            return reply;
          }),
        );
        const failed = replies.filter((r) => r["failure reason"] !== undefined);
        for (const r of failed) assert.match(text(r["failure reason"]), /tracker storage unavailable/);
        failures += failed.length;
        if (failed.length === 0) return true;
        await new Promise((resolve) => setTimeout(resolve, 100));
        return false;
      },
      45_000,
    );
    const outageMs = Date.now() - killed;
    console.log(
      `kill -9: ${failures} failed announces, slowest ${slowestMs} ms, all replicas served after ${outageMs} ms`,
    );
    assert.ok(failures > 0, "the outage was seen");
    assert.ok(slowestMs < 4_000, `slowest announce during the outage: ${slowestMs} ms (deadline 5000 ms)`);
    const reply = await announce(trackers[0]!, swarm.infoHash, peer("10.50.201.1"));
    assert.equal(reply.incomplete, CLIENTS + 2, "the promoted replica holds the swarm");
    await eventually(
      "every replica is ready again and announces on every master work",
      async () => {
        if (!trackers.every((t) => t.readiness.problems().length === 0)) return false;
        const replies = await Promise.all(swarms.map((s, i) => announce(trackers[i]!, s.infoHash, s.clients[2]!)));
        return replies.every((r) => r["failure reason"] === undefined);
      },
      20_000,
    );
    const ready = await httpRequest(`${trackers[2]!.url}/readyz`);
    assert.equal(ready.status, 200);
  });

  it("bootstrap activate/deactivate work straight against the cluster", async () => {
    const hex = hexOf(randomInfoHash());
    const activated = await runCli(["bootstrap", "activate", hex, "--redis-cluster", cluster.seeds]);
    assert.equal(activated.code, 0, activated.stderr);
    assert.match(activated.stdout, /activated/);
    assert.equal(await field(`{${hex}}:info`, "active"), "1");
    const deactivated = await runCli(["bootstrap", "deactivate", hex], { P2PTRACKER_REDIS_CLUSTER: cluster.seeds });
    assert.equal(deactivated.code, 0, deactivated.stderr);
    assert.match(deactivated.stdout, /deactivated, archived/);
    const single = await startTestRedis();
    try {
      const notCluster = await runCli(["bootstrap", "activate", hex, "--redis-cluster", `127.0.0.1:${single.port}`]);
      assert.equal(notCluster.code, 1);
      assert.match(notCluster.stderr, /cannot reach Redis Cluster at 127\.0\.0\.1:\d+: .*cluster support disabled/);
    } finally {
      await single.close();
    }
    const both = await runCli([
      "bootstrap",
      "activate",
      hex,
      "--redis-cluster",
      cluster.seeds,
      "--redis-url",
      "redis://x",
    ]);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /REDIS_CLUSTER and REDIS_URL are both set/);
  });
});

describe("REDIS_CLUSTER setting", () => {
  const load = (env: Record<string, string>) => loadConfig([], env);

  it("takes host:port seeds, IPv6 in brackets, and turns off the embedded redis-server", () => {
    const config = load({ P2PTRACKER_REDIS_CLUSTER: "10.0.0.1:7000, [::1]:7001,redis-a.example:7002" });
    assert.deepEqual(config.REDIS_CLUSTER, [
      { host: "10.0.0.1", port: 7000 },
      { host: "::1", port: 7001 },
      { host: "redis-a.example", port: 7002 },
    ]);
    assert.equal(config.EMBEDDED_REDIS, false);
    assert.equal(load({}).REDIS_CLUSTER, undefined);
  });

  it("refuses a seed that is not host:port, and REDIS_URL or REDISHOST beside it, with a clear message", () => {
    for (const bad of ["10.0.0.1", "10.0.0.1:0", "10.0.0.1:70000", "redis://10.0.0.1:7000", "::1:7000"]) {
      assert.throws(
        () => load({ P2PTRACKER_REDIS_CLUSTER: `10.0.0.2:7000,${bad}` }),
        (error: Error) => error instanceof ConfigError && error.message.includes(`"${bad}" is not one`),
        bad,
      );
    }
    assert.throws(
      () => load({ P2PTRACKER_REDIS_CLUSTER: "10.0.0.1:7000", P2PTRACKER_REDISHOST: "10.0.0.9" }),
      /REDIS_CLUSTER and REDISHOST are both set/,
    );
  });
});

describe("the index walk on a single Redis", () => {
  const f = trackerFixture({ SWEEP_INTERVAL: "1" });

  it("puts a missing active transfer back into transfers:active and drops an inactive one", async () => {
    const hex = hexOf(randomInfoHash());
    await activateTransfer(f.admin as unknown as TransferStore, hex);
    const archived = hexOf(randomInfoHash());
    await activateTransfer(f.admin as unknown as TransferStore, archived);
    await f.redis.client.hSet(`{${archived}}:info`, "active", "0");
    await f.redis.client.zRem(GLOBAL_KEYS.activeTransfers, hex);
    await f.redis.client.del(GLOBAL_KEYS.reconcileLease);
    await eventually(
      "the sweeping replica mends the index",
      async () => {
        const indexed = await f.redis.client.zRange(GLOBAL_KEYS.activeTransfers, 0, -1);
        return indexed.includes(hex) && !indexed.includes(archived);
      },
      10_000,
    );
    assert.ok(Number(await f.redis.client.ttl(GLOBAL_KEYS.reconcileLease)) > 0, "the walk is paced by its lease");
  });
});
