import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { parseSettings, type Config } from "../../src/config/config.js";
import { connectRedis, type TrackerRedis } from "../../src/store/redis.js";
import { startTracker, type RunningTracker } from "../../src/server.js";
import { formatIp, parseIp } from "../../src/net/ip.js";
import { decode, httpRequest, percentEncode, type Decoded } from "./http.js";
import { freePort, startTestRedis, type TestRedis } from "./redisServer.js";
import type { TestCluster } from "./redisCluster.js";

/**
 * Settings for a test tracker: behind a trusted proxy, so tests pick each client's address.
 * A redis with an empty url leaves REDIS_URL unset (for REDIS_SENTINELS in the overrides);
 * a cluster sets REDIS_CLUSTER.
 */
export function testConfig(
  redis: Pick<TestRedis, "url"> | TestCluster,
  port: number,
  overrides: Record<string, string> = {},
): Config {
  const settings = new Map(
    Object.entries({
      HOST: "127.0.0.1",
      PORT: String(port),
      ...("seeds" in redis ? { REDIS_CLUSTER: redis.seeds } : redis.url === "" ? {} : { REDIS_URL: redis.url }),
      PROXYPASS: "true",
      ...overrides,
    }).map(([key, value]) => [key, { value, source: "test" }]),
  );
  return parseSettings([settings]);
}

/** An in-process tracker on a free port. */
export interface TestTracker extends RunningTracker {
  readonly url: string;
  readonly config: Config;
}

export async function startTestTracker(
  redis: Pick<TestRedis, "url"> | TestCluster,
  overrides: Record<string, string> = {},
): Promise<TestTracker> {
  const config = testConfig(redis, await freePort(), overrides);
  const running = await startTracker(config);
  return { ...running, url: `http://127.0.0.1:${running.port}`, config };
}

/** What a describe block tests against: a real redis-server, an admin client, a tracker. */
export interface TrackerFixture {
  readonly redis: TestRedis;
  readonly admin: TrackerRedis;
  readonly tracker: TestTracker;
}

/** Starts a TrackerFixture before the tests of the calling describe block and stops it after. */
export function trackerFixture(overrides: Record<string, string> = {}): TrackerFixture {
  const fixture = {} as { redis: TestRedis; admin: TrackerRedis; tracker: TestTracker };
  before(async () => {
    fixture.redis = await startTestRedis();
    fixture.admin = await connectRedis({ url: fixture.redis.url, commandTimeoutMs: 2000 });
    fixture.tracker = await startTestTracker(fixture.redis, overrides);
  });
  after(async () => {
    await fixture.tracker.close();
    await fixture.admin.close();
    await fixture.redis.close();
  });
  return fixture;
}

/** A tracker as its own process (`node dist/src/main.js serve`), for multi-replica tests. */
export async function spawnTracker(
  env: Record<string, string>,
): Promise<{ url: string; child: ChildProcess; stderr(): string; stop(): Promise<void> }> {
  const port = await freePort();
  const main = fileURLToPath(new URL("../../src/main.js", import.meta.url));
  const child = spawn(process.execPath, [main, "serve"], {
    // No drain delay: no load balancer watches these, and stop() should not wait for one.
    env: {
      ...process.env,
      P2PTRACKER_HOST: "127.0.0.1",
      P2PTRACKER_PORT: String(port),
      P2PTRACKER_DRAIN_DELAY_MS: "0",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tracker exited: ${stderr}`);
    try {
      await httpRequest(`${url}/scrape`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`tracker did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A simulated client: its address (seen through X-Forwarded-For), port and peer id. */
export interface TestPeer {
  readonly ip: string;
  readonly port: number;
  readonly peerId: Uint8Array;
}

let nextPort = 10000;
export function peer(ip: string, port?: number): TestPeer {
  return { ip, port: port ?? nextPort++, peerId: randomBytes(20) };
}

export function randomInfoHash(): Uint8Array {
  return randomBytes(20);
}

export function hexOf(infoHash: Uint8Array): string {
  return Buffer.from(infoHash).toString("hex").toUpperCase();
}

export interface AnnounceOptions {
  left?: number | string;
  event?: string;
  numwant?: number;
  compact?: 0 | 1;
  noPeerId?: boolean;
  extra?: string;
}

/** The announce query a client sends. */
export function announceQuery(infoHash: Uint8Array, p: TestPeer, o: AnnounceOptions = {}): string {
  let q = `info_hash=${percentEncode(infoHash)}&peer_id=${percentEncode(p.peerId)}&port=${p.port}`;
  q += `&uploaded=0&downloaded=0&left=${o.left ?? 1000}`;
  if (o.event !== undefined) q += `&event=${o.event}`;
  if (o.numwant !== undefined) q += `&numwant=${o.numwant}`;
  if (o.compact !== undefined) q += `&compact=${o.compact}`;
  if (o.noPeerId) q += `&no_peer_id=1`;
  if (o.extra) q += `&${o.extra}`;
  return q;
}

/** Announces as `p` and decodes the reply. */
export async function announce(
  tracker: { url: string },
  infoHash: Uint8Array,
  p: TestPeer,
  o: AnnounceOptions = {},
): Promise<Decoded> {
  const response = await httpRequest(`${tracker.url}/announce?${announceQuery(infoHash, p, o)}`, {
    headers: { "X-Forwarded-For": p.ip },
  });
  if (response.status !== 200) throw new Error(`announce: HTTP ${response.status}`);
  return decode(response.body);
}

/** "ip:port" of every peer in a reply, compact (peers and peers6) or not. */
export function peersOf(reply: Decoded): string[] {
  const out: string[] = [];
  const unpack = (packed: Uint8Array | undefined, size: number) => {
    for (let i = 0; packed && i + size <= packed.length; i += size) {
      const entry = packed.subarray(i, i + size);
      const n = size - 2;
      out.push(`${formatIp(entry.subarray(0, n))}:${(entry[n]! << 8) | entry[n + 1]!}`);
    }
  };
  if (Array.isArray(reply.peers)) {
    for (const p of reply.peers as Array<{ ip: Uint8Array; port: number }>) {
      out.push(`${formatIp(parseIp(Buffer.from(p.ip).toString())!)}:${p.port}`);
    }
  } else {
    unpack(reply.peers as Uint8Array | undefined, 6);
  }
  unpack(reply.peers6 as Uint8Array | undefined, 18);
  return out;
}

export function addressOf(p: TestPeer): string {
  return `${formatIp(parseIp(p.ip)!)}:${p.port}`;
}

/** The compact address bytes a peer is stored under. */
export function compactOf(p: TestPeer): Buffer {
  const ip = parseIp(p.ip)!;
  return Buffer.concat([Buffer.from(ip), Buffer.from([p.port >> 8, p.port & 0xff])]);
}
