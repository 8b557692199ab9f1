import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startAnnounceLoad } from "./helpers/announceLoad.js";
import { startHaproxy, type TestHaproxy } from "./helpers/haproxy.js";
import { freePort, startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { startReplica, type Replica } from "./helpers/replica.js";
import { compactOf, hexOf, peer, randomInfoHash, type TestPeer } from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";

const REPLICAS = 3;
/** Hosts in three racks (the tracker's /24 fallback), each announcing from its own address. */
const HOSTS: TestPeer[] = [71, 72, 73].flatMap((rack) =>
  Array.from({ length: 100 }, (_, i) => peer(`127.0.${rack}.${i + 1}`, 6881)),
);
const CONCURRENCY = 8;
/** Generous: haproxy marks a replica up or down within 2.5 s by its config, on an idle machine. */
const STATE_CHANGE_MS = 20_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("replicas behind HAProxy (etc/haproxy.cfg)", () => {
  let redis: TestRedis;
  let haproxy: TestHaproxy;
  const ports: number[] = [];
  const replicas: Replica[] = [];
  const settings = () => ({
    REDIS_URL: redis.url,
    PROXYPASS: "true",
    // HAProxy reaches the replicas from 127.0.0.1; the hosts' addresses are not trusted.
    TRUSTED_PROXIES: "127.0.0.1/32",
    AUTO_ACTIVATE: "true",
    REDIS_TIMEOUT_MS: "3000",
  });

  const serverStatus = async (name: string) => (await haproxy.servers()).get(name)?.status;
  const waitFor = (name: string, status: string) =>
    eventually(`haproxy sees ${name} ${status}`, async () => (await serverStatus(name)) === status, STATE_CHANGE_MS);

  /** Every host the load announced is in the swarm in Redis. */
  async function assertNoPeerLost(infoHash: Uint8Array): Promise<void> {
    const key = `{${hexOf(infoHash)}}:peers`;
    assert.equal(await redis.client.hLen(key), HOSTS.length);
    const present = await Promise.all(HOSTS.map((host) => redis.client.hExists(key, compactOf(host))));
    assert.equal(present.filter((p) => Number(p) === 1).length, HOSTS.length);
  }

  before(async () => {
    redis = await startTestRedis();
    for (let i = 0; i < REPLICAS; i++) ports.push(await freePort());
    replicas.push(...(await Promise.all(ports.map((port) => startReplica(port, settings())))));
    haproxy = await startHaproxy(await freePort(), ports);
    for (let i = 1; i <= REPLICAS; i++) await waitFor(`tracker${i}`, "UP");
  });
  after(async () => {
    await Promise.all(replicas.map((replica) => replica.kill()));
    await haproxy?.close();
    await redis?.close();
  });

  it("rolling restart under load: SIGTERM each replica in turn, start it again; no client sees an error", async (t) => {
    const infoHash = randomInfoHash();
    const load = startAnnounceLoad(haproxy.url, infoHash, HOSTS, CONCURRENCY);
    try {
      await eventually("every host announced", async () => load.hostsAnswered() === HOSTS.length, 30_000);
      for (let i = 0; i < REPLICAS; i++) {
        const name = `tracker${i + 1}`;
        const signalled = Date.now();
        replicas[i]!.child.kill("SIGTERM");
        // The load balancer must see the 503 while the replica still serves (DRAIN_DELAY_MS).
        await waitFor(name, "DOWN");
        const markedDown = Date.now();
        const exit = await replicas[i]!.exited;
        assert.equal(exit.code, 0, replicas[i]!.stderr());
        assert.ok(markedDown < exit.at, `${name}: marked down before it stopped`);
        const before = (await haproxy.servers()).get(name)!.sessions;
        replicas[i] = await startReplica(ports[i]!, settings());
        await waitFor(name, "UP");
        await eventually(
          `${name} gets traffic again`,
          async () => (await haproxy.servers()).get(name)!.sessions > before,
          STATE_CHANGE_MS,
        );
        t.diagnostic(
          `${name}: down ${markedDown - signalled} ms after SIGTERM, exited after ${exit.at - signalled} ms, ` +
            `up again after ${Date.now() - signalled} ms`,
        );
      }
    } finally {
      const counts = await load.stop();
      const stats = await haproxy.servers();
      t.diagnostic(
        `rolling restart: ${counts.ok} announces answered, ${counts.failed} failed; haproxy retries ` +
          [...stats].map(([name, s]) => `${name} ${s.retries}/${s.redispatches}`).join(", ") +
          " (retries/redispatches)",
      );
      assert.equal(counts.failed, 0, `failed announces:\n${counts.failures.join("\n")}`);
      assert.ok(counts.ok > HOSTS.length, `announces kept going (${counts.ok})`);
    }
    await assertNoPeerLost(infoHash);
  });

  it("kill -9 of a replica under load: no announce fails, no peer state is lost", async (t) => {
    const infoHash = randomInfoHash();
    const load = startAnnounceLoad(haproxy.url, infoHash, HOSTS, CONCURRENCY);
    let killedAt = 0;
    let markedDown = 0;
    let okAtKill = 0;
    try {
      await eventually("every host announced", async () => load.hostsAnswered() === HOSTS.length, 30_000);
      await assertNoPeerLost(infoHash);
      okAtKill = load.counts().ok;
      killedAt = Date.now();
      await replicas[1]!.kill();
      await waitFor("tracker2", "DOWN");
      markedDown = Date.now();
      // Keep announcing on the two replicas left.
      const okAtDown = load.counts().ok;
      await sleep(2000);
      assert.ok(load.counts().ok > okAtDown, "announces go on with a replica down");
    } finally {
      const counts = await load.stop();
      const stats = await haproxy.servers();
      t.diagnostic(
        `kill -9: ${counts.ok} announces answered (${counts.ok - okAtKill} after the kill), ${counts.failed} failed; ` +
          `tracker2 marked down ${markedDown - killedAt} ms after the kill; haproxy retries ` +
          [...stats].map(([name, s]) => `${name} ${s.retries}/${s.redispatches}`).join(", ") +
          " (retries/redispatches)",
      );
      assert.equal(counts.failed, 0, `failed announces:\n${counts.failures.join("\n")}`);
    }
    await assertNoPeerLost(infoHash);
  });
});
