/** HAProxy from the shipped etc/haproxy.cfg, on the test's ports, started and stopped by the test. */

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { portAccepts } from "../../src/net/ports.js";

const SHIPPED = fileURLToPath(new URL("../../../etc/haproxy.cfg", import.meta.url));

/** One server as HAProxy's stats see it. */
export interface ServerStat {
  /** UP, DOWN, "UP 1/2" (going down), "DOWN 1/2" (going up), MAINT, ... */
  readonly status: string;
  /** Sessions it has served. */
  readonly sessions: number;
  /** Requests retried on it, and retries sent elsewhere (redispatched). */
  readonly retries: number;
  readonly redispatches: number;
}

export interface TestHaproxy {
  readonly port: number;
  readonly url: string;
  /** Everything HAProxy logged (server state changes). */
  output(): string;
  /** The backend's servers by name (tracker1, tracker2, ...). */
  servers(): Promise<Map<string, ServerStat>>;
  close(): Promise<void>;
}

/** The shipped config with the frontend on `port`, the servers on `replicaPorts` and the stats socket in `dir`. */
export function renderConfig(port: number, replicaPorts: readonly number[], dir: string): string {
  let config = readFileSync(SHIPPED, "utf8");
  const replace = (from: string, to: string) => {
    if (!config.includes(from)) throw new Error(`etc/haproxy.cfg no longer has "${from}"`);
    config = config.replace(from, to);
  };
  replace("bind :6969", `bind 127.0.0.1:${port}`);
  replace("stats socket /run/haproxy/p2ptracker.sock", `stats socket ${join(dir, "stats.sock")}`);
  replicaPorts.forEach((replicaPort, i) =>
    replace(`server tracker${i + 1} 127.0.0.1:${7001 + i}`, `server tracker${i + 1} 127.0.0.1:${replicaPort}`),
  );
  return config;
}

/** Starts haproxy in the foreground and waits until its frontend accepts connections. */
export async function startHaproxy(port: number, replicaPorts: readonly number[]): Promise<TestHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), "p2ptracker-haproxy-"));
  const file = join(dir, "haproxy.cfg");
  writeFileSync(file, renderConfig(port, replicaPorts, dir));
  const child = spawn("haproxy", ["-db", "-f", file], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  let running = true;
  void exited.then(() => (running = false));
  const spawnError = new Promise<Error>((done) => child.once("error", done));
  const socket = join(dir, "stats.sock");
  const haproxy: TestHaproxy = {
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    servers: async () => parseStats(await statsCommand(socket, "show stat\n")),
    async close() {
      if (running) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const failed = await Promise.race([spawnError, new Promise<undefined>((done) => setTimeout(done, 100))]);
    if (failed) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`haproxy: ${failed.message} (apt-get install haproxy)`);
    }
    if (!running || Date.now() > deadline) {
      await haproxy.close();
      throw new Error(`haproxy did not start:\n${output}`);
    }
    if (await portAccepts(port)) return haproxy;
  }
}

function statsCommand(path: string, command: string): Promise<string> {
  return new Promise((done, fail) => {
    let reply = "";
    const socket = connect(path, () => socket.end(command));
    socket.on("data", (chunk: Buffer) => (reply += chunk.toString()));
    socket.on("end", () => done(reply));
    socket.on("error", fail);
  });
}

function parseStats(csv: string): Map<string, ServerStat> {
  const [header, ...rows] = csv.trim().split("\n");
  const columns = header!.replace(/^# /, "").split(",");
  const at = (row: string[], name: string) => row[columns.indexOf(name)] ?? "";
  const servers = new Map<string, ServerStat>();
  for (const line of rows) {
    const row = line.split(",");
    const name = at(row, "svname");
    if (at(row, "pxname") !== "replicas" || name === "BACKEND") continue;
    servers.set(name, {
      status: at(row, "status"),
      sessions: Number(at(row, "stot")),
      retries: Number(at(row, "wretr")),
      redispatches: Number(at(row, "wredis")),
    });
  }
  return servers;
}
