import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ANNOUNCE_EVENTS,
  ANNOUNCE_OUTCOMES,
  FAILURE_REASONS,
  FRONT_ENDS,
  HTTP_LIMITS,
  LEASE_VERDICTS,
  LOOKUP_RESULTS,
  OPERATIONS,
  REDIS_ERROR_KINDS,
  RESOLVERS,
  UDP_ACTIONS,
  UDP_REPLIES,
} from "../src/observe/metrics.js";
import { api, TEST_TOKEN } from "./helpers/api.js";
import { decode, httpRequest, text } from "./helpers/http.js";
import { scrapeMetrics, type Metrics } from "./helpers/metrics.js";
import { freePort, startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import {
  announce,
  hexOf,
  peer,
  peersOf,
  randomInfoHash,
  startTestTracker,
  testConfig,
  type TestTracker,
} from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";

const RACK_MAP = "10.1.1.0/24 rack-a\n10.1.2.0/24 rack-b\n";
/** Addresses the servermanagement stand-in answers badly: an error status, or never. */
const SMDB_ERROR_IP = "10.4.4.4";
const SMDB_SILENT_IP = "10.5.5.5";

/** Every label value /metrics may show: fixed sets, never request data. */
const ALLOWED_LABELS: Record<string, readonly string[]> = {
  event: ANNOUNCE_EVENTS,
  outcome: ANNOUNCE_OUTCOMES,
  operation: OPERATIONS,
  reason: FAILURE_REASONS,
  resolver: RESOLVERS,
  result: LOOKUP_RESULTS,
  kind: [...REDIS_ERROR_KINDS],
  limit: HTTP_LIMITS,
  verdict: LEASE_VERDICTS,
  frontend: FRONT_ENDS,
  action: UDP_ACTIONS,
  reply: UDP_REPLIES,
};

describe("/metrics", () => {
  let dir: string;
  let smdb: Server;
  const silent: ServerResponse[] = [];
  let redis: TestRedis;
  let tracker: TestTracker;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "p2ptracker-metrics-test-"));
    writeFileSync(join(dir, "racks"), RACK_MAP);
    smdb = createServer((req, res) => {
      if (req.url?.endsWith(`/${SMDB_ERROR_IP}`)) return void res.writeHead(500).end();
      if (req.url?.endsWith(`/${SMDB_SILENT_IP}`)) return void silent.push(res);
      res.writeHead(404).end();
    });
    await new Promise<void>((done) => smdb.listen(0, "127.0.0.1", done));
    redis = await startTestRedis();
    tracker = await startTestTracker(redis, {
      RACK_MAP: join(dir, "racks"),
      SMDB_URL: `http://127.0.0.1:${(smdb.address() as AddressInfo).port}`,
      SMDB_TIMEOUT_MS: "200",
      MAX_REPR_RACK: "1",
      ACTIVE_INTERVAL: "1",
      PEER_TTL: "2",
      SWEEP_INTERVAL: "3600",
      ADMIN_TOKEN: TEST_TOKEN,
    });
  });
  after(async () => {
    await tracker.close();
    await redis.close();
    for (const res of silent) res.destroy();
    smdb.closeAllConnections();
    await new Promise((done) => smdb.close(done));
    rmSync(dir, { recursive: true, force: true });
  });

  const metrics = () => scrapeMetrics(tracker.url);
  const registered = async () => {
    const infoHash = randomInfoHash();
    const answer = await api(tracker.url, "POST", `/transfers/${hexOf(infoHash)}`, { token: TEST_TOKEN });
    assert.equal(answer.status, 201);
    return infoHash;
  };
  /** How much each of `samples` grew between two scrapes. */
  const grew = (before: Metrics, after: Metrics, name: string, labels: Record<string, string> = {}) =>
    after.value(name, labels) - before.value(name, labels);

  it("counts announces by event and outcome, the peers they returned, and times them", async () => {
    const infoHash = await registered();
    const a = peer("10.1.1.1");
    const b = peer("10.1.1.2");
    const first = await metrics();
    await announce(tracker, infoHash, a, { event: "started" });
    assert.deepEqual(peersOf(await announce(tracker, infoHash, b, { event: "started" })).length, 1);
    await announce(tracker, infoHash, a);
    await announce(tracker, infoHash, b, { event: "completed", left: 0 });
    await announce(tracker, randomInfoHash(), a);
    assert.equal((await httpRequest(`${tracker.url}/scrape?info_hash=${"%00".repeat(20)}`)).status, 200);
    const then = await metrics();
    const announces = "p2ptracker_announces_total";
    assert.equal(grew(first, then, announces, { event: "started", outcome: "ok" }), 2);
    assert.equal(grew(first, then, announces, { event: "none", outcome: "ok" }), 1);
    assert.equal(grew(first, then, announces, { event: "completed", outcome: "ok" }), 1);
    assert.equal(grew(first, then, announces, { event: "none", outcome: "unregistered" }), 1);
    assert.equal(grew(first, then, "p2ptracker_announce_peers_returned_count"), 4, "one per answered announce");
    assert.ok(grew(first, then, "p2ptracker_announce_peers_returned_sum") >= 3, "b got a, a got b, b got a");
    assert.equal(grew(first, then, "p2ptracker_announce_duration_seconds_count"), 5);
    assert.ok(grew(first, then, "p2ptracker_announce_duration_seconds_sum") > 0);
    assert.equal(grew(first, then, "p2ptracker_scrapes_total", { outcome: "ok" }), 1);
    assert.equal(grew(first, then, "p2ptracker_scrape_duration_seconds_count"), 1);
  });

  it("counts failures by a fixed reason, and no label value ever comes from a request", async () => {
    const first = await metrics();
    const bad = decode((await httpRequest(`${tracker.url}/announce?info_hash=secret-info-hash-1234`)).body);
    assert.match(text(bad["failure reason"]), /info_hash|peer_id|missing/);
    const malformed = decode((await httpRequest(`${tracker.url}/announce?info_hash=%zz`)).body);
    assert.match(text(malformed["failure reason"]), /percent-encoding/);
    await httpRequest(`${tracker.url}/announce`, { method: "POST" });
    await httpRequest(`${tracker.url}/scrape?info_hash=short`);
    const then = await metrics();
    const failures = "p2ptracker_failures_total";
    assert.equal(grew(first, then, failures, { operation: "announce", reason: "invalid_request" }), 1);
    assert.equal(grew(first, then, failures, { operation: "announce", reason: "malformed_query" }), 1);
    assert.equal(grew(first, then, failures, { operation: "announce", reason: "wrong_method" }), 1);
    assert.equal(grew(first, then, failures, { operation: "scrape", reason: "invalid_request" }), 1);
    assert.equal(grew(first, then, "p2ptracker_announces_total", { event: "unknown", outcome: "failed" }), 3);
    assert.equal(grew(first, then, "p2ptracker_scrapes_total", { outcome: "failed" }), 1);
    for (const sample of then.samples) {
      for (const [label, value] of Object.entries(sample.labels)) {
        if (label === "le" || label === "quantile" || sample.name.startsWith("nodejs_") || label === "version") {
          continue;
        }
        assert.ok(ALLOWED_LABELS[label]?.includes(value), `${sample.name}{${label}="${value}"} is not a fixed value`);
      }
    }
  });

  it("counts rack look-ups by resolver and result: hit, miss, error, timeout", async () => {
    const infoHash = await registered();
    const first = await metrics();
    await announce(tracker, infoHash, peer("10.1.1.5")); // static knows it
    await announce(tracker, infoHash, peer("10.9.9.9")); // static does not, the API says 404, subnet
    await announce(tracker, infoHash, peer(SMDB_ERROR_IP)); // the API answers 500
    await announce(tracker, infoHash, peer(SMDB_SILENT_IP)); // the API never answers
    const then = await metrics();
    const lookups = "p2ptracker_rack_lookups_total";
    assert.equal(grew(first, then, lookups, { resolver: "static", result: "hit" }), 1);
    assert.equal(grew(first, then, lookups, { resolver: "static", result: "miss" }), 3);
    assert.equal(grew(first, then, lookups, { resolver: "http", result: "miss" }), 1);
    assert.equal(grew(first, then, lookups, { resolver: "http", result: "error" }), 1);
    assert.equal(grew(first, then, lookups, { resolver: "http", result: "timeout" }), 1);
    assert.equal(grew(first, then, lookups, { resolver: "subnet", result: "hit" }), 3);
  });

  it("counts a representative elected, and a failover once a silent representative expires", async () => {
    const infoHash = await registered();
    const rep = peer("10.1.2.1");
    const mate = peer("10.1.2.2");
    const first = await metrics();
    await announce(tracker, infoHash, rep, { event: "started" });
    await announce(tracker, infoHash, mate, { event: "started" });
    await announce(tracker, infoHash, rep);
    const elected = await metrics();
    assert.equal(grew(first, elected, "p2ptracker_representatives_elected_total"), 1, "one slot (MAX_REPR_RACK 1)");
    assert.equal(grew(first, elected, "p2ptracker_representative_failovers_total"), 0);
    // The representative goes silent past PEER_TTL (2 s); its rack mate takes the slot.
    await sleep(3200);
    await announce(tracker, infoHash, mate);
    const then = await metrics();
    assert.equal(grew(elected, then, "p2ptracker_representatives_elected_total"), 1);
    assert.equal(grew(elected, then, "p2ptracker_representative_failovers_total"), 1);
    // A representative that says goodbye hands its slot over without a failover.
    await announce(tracker, infoHash, mate, { event: "stopped" });
    await announce(tracker, infoHash, rep, { event: "started" });
    const handover = await metrics();
    assert.equal(grew(then, handover, "p2ptracker_representatives_elected_total"), 1);
    assert.equal(grew(then, handover, "p2ptracker_representative_failovers_total"), 0);
  });

  it("counts the scripts Redis lost (NOSCRIPT) and sent again in full", async () => {
    const infoHash = await registered();
    const first = await metrics();
    await redis.client.scriptFlush();
    const reply = await announce(tracker, infoHash, peer("10.1.1.9"));
    assert.equal(reply["failure reason"], undefined);
    await announce(tracker, infoHash, peer("10.1.1.10"));
    const then = await metrics();
    // The first announce claims its rack's slot: the announce and lease scripts each
    // come back once; the second announce (a member) runs the announce script by SHA.
    assert.equal(
      grew(first, then, "p2ptracker_redis_noscript_reloads_total"),
      2,
      "EVAL once per script, EVALSHA after",
    );
  });

  it("has the latency and batch histograms, readiness, active transfers, build info and process metrics", async () => {
    const m = await metrics();
    for (const name of ["p2ptracker_announce_duration_seconds", "p2ptracker_scrape_duration_seconds"]) {
      assert.ok(m.value(`${name}_bucket`, { le: "+Inf" }) > 0, `${name} has an +Inf bucket`);
      assert.ok(m.has(`${name}_bucket`) && m.has(`${name}_sum`) && m.has(`${name}_count`));
    }
    assert.ok(m.value("p2ptracker_redis_batch_size_count") > 0, "every announce script went out in some batch");
    assert.equal(m.value("p2ptracker_ready"), 1);
    assert.ok(m.value("p2ptracker_active_transfers") >= 4);
    assert.equal(m.samples.find((s) => s.name === "p2ptracker_build_info")?.value, 1);
    for (const name of [
      "process_cpu_user_seconds_total",
      "process_resident_memory_bytes",
      "process_start_time_seconds",
      "nodejs_eventloop_lag_seconds",
      "nodejs_heap_size_used_bytes",
    ]) {
      assert.ok(m.has(name), `default metric ${name}`);
    }
  });

  it("counts Redis errors while Redis is down, readiness 0, and the reconnect after", async () => {
    const infoHash = await registered();
    const first = await metrics();
    await redis.stopServer();
    await eventually("announces fail", async () => {
      const reply = await announce(tracker, infoHash, peer("10.1.1.20"));
      return /storage unavailable/.test(text(reply["failure reason"] ?? new Uint8Array()));
    });
    const down = await metrics();
    assert.ok(grew(first, down, "p2ptracker_redis_errors_total", { kind: "error" }) >= 1);
    assert.ok(
      grew(first, down, "p2ptracker_failures_total", { operation: "announce", reason: "storage_unavailable" }) >= 1,
    );
    assert.equal(down.value("p2ptracker_ready"), 0);
    assert.equal(
      down.value("p2ptracker_active_transfers"),
      first.value("p2ptracker_active_transfers"),
      "last count kept",
    );
    await redis.startServer();
    await eventually("reconnected", async () => (await metrics()).value("p2ptracker_ready") === 1, 10_000);
    const back = await metrics();
    assert.equal(grew(first, back, "p2ptracker_redis_reconnects_total"), 1);
  });
});

describe("/metrics with API_LISTEN and METRICS_NEED_TOKEN", () => {
  let redis: TestRedis;
  let tracker: TestTracker;
  let apiUrl: string;
  before(async () => {
    redis = await startTestRedis();
    const apiPort = await freePort();
    tracker = await startTestTracker(redis, {
      API_LISTEN: `127.0.0.1:${apiPort}`,
      METRICS_NEED_TOKEN: "true",
      ADMIN_TOKEN: TEST_TOKEN,
    });
    apiUrl = `http://127.0.0.1:${tracker.apiPort}`;
  });
  after(async () => {
    await tracker.close();
    await redis.close();
  });

  it("refuses METRICS_NEED_TOKEN without a token to need, naming the settings", () => {
    assert.throws(
      () => testConfig(redis, 6969, { METRICS_NEED_TOKEN: "true" }),
      /METRICS_NEED_TOKEN = true: expected ADMIN_TOKEN or ADMIN_TOKEN_FILE/,
    );
  });

  it("serves /metrics on the API's listener only, and only with the token", async () => {
    const announcePort = await httpRequest(`${tracker.url}/metrics`);
    assert.equal(announcePort.status, 404);
    assert.match(announcePort.body.toString(), /API_LISTEN/);
    const without = await httpRequest(`${apiUrl}/metrics`);
    assert.equal(without.status, 401);
    assert.match(without.body.toString(), /Authorization: Bearer/);
    const wrong = await httpRequest(`${apiUrl}/metrics`, { headers: { authorization: "Bearer not-the-token-at-all" } });
    assert.equal(wrong.status, 401);
    const m = await scrapeMetrics(apiUrl, { authorization: `Bearer ${TEST_TOKEN}` });
    assert.equal(m.value("p2ptracker_ready"), 1);
  });
});
