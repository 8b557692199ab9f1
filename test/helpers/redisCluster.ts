/**
 * A throwaway Redis Cluster on loopback: 3 masters and 3 replicas, each a redis-server from
 * the shipped redis.conf with cluster flags, in its own temp dir (a fresh nodes.conf, so no
 * node rejoins an old cluster), joined with `redis-cli --cluster create`.
 */

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "redis";
import { startEmbeddedRedis, type EmbeddedRedis } from "../../src/store/embeddedRedis.js";
import { freePort } from "./redisServer.js";
import { eventually } from "./wait.js";

const run = promisify(execFile);

/** Failover waits this long for a silent master (redis.conf's default is 15 s). */
export const NODE_TIMEOUT_MS = 2000;

const CLUSTER_ARGS = [
  "--cluster-enabled",
  "yes",
  "--cluster-config-file",
  "nodes.conf",
  "--cluster-node-timeout",
  String(NODE_TIMEOUT_MS),
  // Persistence off: tests throw the data away, and fsync only slows them down.
  "--appendonly",
  "no",
  "--save",
  "",
];

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
  });
}

/** A free port whose cluster bus port (+10000) is free too. */
async function freeNodePort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await freePort();
    if (port + 10000 > 65535 || taken.has(port) || taken.has(port + 10000)) continue;
    if (await portFree(port + 10000)) return port;
  }
  throw new Error("no free port pair (port, port + 10000) found");
}

/** A plain text-reply client of one node. */
function nodeClient(port: number) {
  const client = createClient({ socket: { port, host: "127.0.0.1", reconnectStrategy: false } });
  client.on("error", () => undefined);
  return client;
}

async function ask(port: number, ...args: string[]): Promise<string> {
  const client = nodeClient(port);
  try {
    await client.connect();
    return String(await client.sendCommand(args));
  } finally {
    client.destroy();
  }
}

/** One node of the test cluster. */
export interface ClusterNode {
  readonly port: number;
  readonly dir: string;
  server: EmbeddedRedis | undefined;
}

/** A running test cluster. */
export interface TestCluster {
  readonly nodes: ClusterNode[];
  /** Seed list as REDIS_CLUSTER takes it: every node's 127.0.0.1:port. */
  readonly seeds: string;
  /** Runs one command on the node at `port` (plain text replies). */
  ask(port: number, ...args: string[]): Promise<string>;
  /** The port of the master that owns `key`'s slot, and of its replicas. */
  ownerOf(key: string): Promise<{ master: number; replicas: number[] }>;
  /** Ports of the current masters. */
  masters(): Promise<number[]>;
  /** Waits until every running node reports cluster_state:ok and all slots are served. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** SIGKILLs the node at `port` (no shutdown, no goodbye to the cluster). */
  kill(port: number): Promise<void>;
  close(): Promise<void>;
}

interface SlotRange {
  readonly from: number;
  readonly to: number;
  readonly master: number;
  readonly replicas: number[];
}

async function slotRanges(port: number): Promise<SlotRange[]> {
  const client = nodeClient(port);
  try {
    await client.connect();
    const reply = (await client.sendCommand(["CLUSTER", "SLOTS"])) as Array<
      [number, number, [string, number], ...Array<[string, number]>]
    >;
    return reply.map(([from, to, master, ...replicas]) => ({
      from,
      to,
      master: Number(master[1]),
      replicas: replicas.map((r) => Number(r[1])),
    }));
  } finally {
    client.destroy();
  }
}

/** Starts 3 masters with one replica each and waits until the cluster is healthy and in sync. */
export async function startTestCluster(): Promise<TestCluster> {
  const nodes: ClusterNode[] = [];
  const taken = new Set<number>();
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freeNodePort(taken);
      taken.add(port).add(port + 10000);
      const dir = mkdtempSync(join(tmpdir(), "p2ptracker-cluster-"));
      const node: ClusterNode = { port, dir, server: undefined };
      nodes.push(node);
      node.server = await startEmbeddedRedis(port, dir, CLUSTER_ARGS);
    }
    await run("redis-cli", [
      "--cluster",
      "create",
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes",
    ]);
  } catch (error) {
    await stopAll(nodes);
    throw error;
  }
  const running = () => nodes.filter((n) => n.server !== undefined);
  const cluster: TestCluster = {
    nodes,
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`).join(","),
    ask,
    async ownerOf(key) {
      const slot = Number(await ask(running()[0]!.port, "CLUSTER", "KEYSLOT", key));
      const range = (await slotRanges(running()[0]!.port)).find((r) => r.from <= slot && slot <= r.to);
      if (!range) throw new Error(`slot ${slot} has no owner`);
      return { master: range.master, replicas: range.replicas };
    },
    async masters() {
      return [...new Set((await slotRanges(running()[0]!.port)).map((r) => r.master))];
    },
    async waitHealthy(timeoutMs = 30_000) {
      await eventually(
        "every node reports cluster_state:ok, 16384 slots served and replicas in sync",
        async () => {
          for (const node of running()) {
            const info = await ask(node.port, "CLUSTER", "INFO").catch(() => "");
            if (!info.includes("cluster_state:ok") || !info.includes("cluster_slots_ok:16384")) return false;
            const replication = await ask(node.port, "INFO", "replication").catch(() => "");
            if (replication.includes("role:slave") && !replication.includes("master_link_status:up")) return false;
          }
          const ranges = await slotRanges(running()[0]!.port).catch(() => []);
          return ranges.reduce((n, r) => n + r.to - r.from + 1, 0) === 16384;
        },
        timeoutMs,
      );
    },
    async kill(port) {
      const node = nodes.find((n) => n.port === port)!;
      const server = node.server!;
      node.server = undefined;
      const exited = new Promise((done) => server.process.once("exit", done));
      server.process.kill("SIGKILL");
      await exited;
    },
    close: () => stopAll(nodes),
  };
  await cluster.waitHealthy();
  return cluster;
}

async function stopAll(nodes: ClusterNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.server?.stop()));
  for (const node of nodes) {
    node.server = undefined;
    rmSync(node.dir, { recursive: true, force: true });
  }
}
