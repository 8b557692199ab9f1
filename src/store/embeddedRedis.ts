import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { log } from "../log.js";
import { portAccepts } from "../net/ports.js";

/** The redis.conf shipped at the top of the repository. */
export const REDIS_CONF = fileURLToPath(
  new URL(import.meta.url.includes("/dist/") ? "../../../redis.conf" : "../../redis.conf", import.meta.url),
);

/** A redis-server child process and how to stop it. */
export interface EmbeddedRedis {
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Running children: a tracker that exits without stopping them (a crash) takes them along. */
const children = new Set<ChildProcess>();
process.once("exit", () => children.forEach((child) => child.kill("SIGTERM")));

/** Starts `redis-server redis.conf --port P --dir D` and waits until it accepts connections. */
export async function startEmbeddedRedis(
  port: number,
  dataDir: string,
  extraArgs: string[] = [],
): Promise<EmbeddedRedis> {
  if (await portAccepts(port)) {
    throw new Error(
      `port ${port} is already in use: to use the Redis there set P2PTRACKER_REDIS_URL=redis://127.0.0.1:${port}, ` +
        "or pick another port for the tracker's own Redis with P2PTRACKER_REDISPORT",
    );
  }
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const child = spawn("redis-server", [REDIS_CONF, "--port", String(port), "--dir", dir, ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stderr?.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  children.add(child);
  const exited = new Promise<number | null>((done) =>
    child.once("exit", (code) => {
      children.delete(child);
      done(code);
    }),
  );
  const spawnError = new Promise<Error>((done) => child.once("error", done));

  const deadline = Date.now() + 10_000;
  for (;;) {
    const outcome = await Promise.race([
      portAccepts(port).then((ok) => (ok ? "up" : "wait")),
      exited.then(() => "exited"),
      spawnError.then((error) => error),
    ]);
    if (outcome === "up") break;
    if (outcome instanceof Error) {
      throw new Error(
        (outcome as NodeJS.ErrnoException).code === "ENOENT"
          ? "redis-server not found: install it (apt-get install redis-server) or set P2PTRACKER_REDIS_URL"
          : `redis-server: ${outcome.message}`,
      );
    }
    if (outcome === "exited") throw new Error(`redis-server exited on start:\n${output.trim()}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`redis-server did not accept connections on port ${port} within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  log.info(`redis-server (pid ${child.pid}) started on 127.0.0.1:${port}, data in ${dir}`);
  return {
    port,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}
