import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { portAccepts } from "../../src/net/ports.js";
import { REDIS_CONF } from "../../src/store/embeddedRedis.js";
import { freePort } from "./redisServer.js";

/** How long the sentinels wait before they call the primary down, and bound a failover. */
export const DOWN_AFTER_MS = 1000;
export const FAILOVER_TIMEOUT_MS = 3000;

/** One redis-server process of the topology. */
interface Node {
  readonly port: number;
  child: ChildProcess;
}

/** A primary, a replica and three sentinels on loopback, each with its own dir. */
export interface SentinelTopology {
  readonly name: string;
  /** "127.0.0.1:P,..." as REDIS_SENTINELS takes it. */
  readonly sentinels: string;
  readonly primaryPort: number;
  readonly replicaPort: number;
  /** kill -9 of the primary. */
  killPrimary(): void;
  /** SIGSTOP of the primary: it hangs, its connections stay open. */
  hangPrimary(): void;
  /** The primary the sentinels name now, as a port. */
  currentPrimaryPort(): Promise<number | undefined>;
  close(): Promise<void>;
}

async function startNode(args: string[], port: number): Promise<Node> {
  const child = spawn("redis-server", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  for (const deadline = Date.now() + 10_000; !(await portAccepts(port));) {
    if (child.exitCode !== null) throw new Error(`redis-server ${args.join(" ")} exited: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, child };
}

async function stopNode(node: Node): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = new Promise((r) => node.child.once("exit", r));
  node.child.kill("SIGKILL");
  await exited;
}

/** Starts the topology and waits until every sentinel knows the replica and the other sentinels. */
export async function startSentinelTopology(name = "p2ptest"): Promise<SentinelTopology> {
  const root = mkdtempSync(join(tmpdir(), "p2ptracker-sentinel-"));
  const nodes: Node[] = [];
  try {
    const dir = (sub: string) => {
      const path = join(root, sub);
      mkdirSync(path);
      return path;
    };
    // Sentinel rewrites a data node's config file when it reconfigures it (CONFIG REWRITE):
    // each node gets its own copy, never the shipped file.
    const confIn = (path: string) => {
      copyFileSync(REDIS_CONF, join(path, "redis.conf"));
      return join(path, "redis.conf");
    };
    const fast = ["--appendonly", "no", "--save", ""];
    const primaryPort = await freePort();
    const primaryDir = dir("primary");
    const primary = await startNode(
      [confIn(primaryDir), "--port", String(primaryPort), "--dir", primaryDir, ...fast],
      primaryPort,
    );
    nodes.push(primary);
    const replicaPort = await freePort();
    const replicaDir = dir("replica");
    const replicaArgs = ["--port", String(replicaPort), "--dir", replicaDir, ...fast];
    nodes.push(
      await startNode(
        [confIn(replicaDir), ...replicaArgs, "--replicaof", "127.0.0.1", String(primaryPort)],
        replicaPort,
      ),
    );
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const sentinelDir = dir(`sentinel${i}`);
      // Sentinel rewrites its config file as it learns the topology: one writable file each.
      const conf = join(sentinelDir, "sentinel.conf");
      writeFileSync(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          `dir ${sentinelDir}`,
          `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${name} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${name} ${FAILOVER_TIMEOUT_MS}`,
          `sentinel parallel-syncs ${name} 1`,
          "",
        ].join("\n"),
      );
      nodes.push(await startNode([conf, "--sentinel"], port));
      sentinelPorts.push(port);
    }
    const ask = async (port: number, args: string[]) => {
      const client = createClient({ socket: { port, host: "127.0.0.1", reconnectStrategy: false } });
      client.on("error", () => undefined);
      await client.connect();
      try {
        return await client.sendCommand(args);
      } finally {
        client.destroy();
      }
    };
    // Failover needs the sentinels to know each other and the replica; that takes a few hello rounds.
    for (const deadline = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 200))) {
      let ready = true;
      for (const port of sentinelPorts) {
        const master = (await ask(port, ["SENTINEL", "MASTER", name])) as unknown;
        const fields = toRecord(master);
        if (Number(fields["num-slaves"]) < 1 || Number(fields["num-other-sentinels"]) < 2) ready = false;
      }
      if (ready) break;
      if (Date.now() > deadline) throw new Error("sentinels did not discover each other and the replica in 20 s");
    }
    return {
      name,
      sentinels: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(","),
      primaryPort,
      replicaPort,
      killPrimary: () => primary.child.kill("SIGKILL"),
      hangPrimary: () => primary.child.kill("SIGSTOP"),
      async currentPrimaryPort() {
        for (const port of sentinelPorts) {
          try {
            const reply = await ask(port, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name]);
            return Number((reply as unknown as string[])[1]);
          } catch {
            continue;
          }
        }
        return undefined;
      },
      async close() {
        for (const node of nodes) await stopNode(node);
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const node of nodes) await stopNode(node);
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

/** A RESP2 flat array or RESP3 map reply as an object of strings. */
function toRecord(reply: unknown): Record<string, string> {
  if (Array.isArray(reply)) {
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
    return out;
  }
  if (reply instanceof Map) return Object.fromEntries([...reply].map(([k, v]) => [String(k), String(v)]));
  return Object.fromEntries(Object.entries(reply as object).map(([k, v]) => [k, String(v)]));
}
