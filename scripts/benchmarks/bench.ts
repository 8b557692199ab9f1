import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startEmbeddedRedis, type EmbeddedRedis } from "../../src/store/embeddedRedis.js";
import { freePort, portAccepts } from "../../src/net/ports.js";

/** What every workload gets: run size, a scratch directory, and where to report progress. */
export interface BenchContext {
  /** --quick: a smoke run (CI) that finishes in well under 2 minutes in all. */
  readonly quick: boolean;
  readonly workDir: string;
  progress(message: string): void;
}

/** One printed table: a workload's result. `failed` makes the bench exit non-zero. */
export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<ReadonlyArray<string | number>>;
  readonly notes?: readonly string[];
  readonly failed?: string;
}

/** A workload: a name for --only, and a run producing its tables. */
export interface Workload {
  readonly name: string;
  readonly description: string;
  /** Left out of full and --quick runs: runs only when named with --only (it needs root, say). */
  readonly explicitOnly?: boolean;
  /**
   * A part of the workload picked by an environment variable: `name` goes into the results
   * file name, `env` in front of the command in its header. Undefined when it runs whole.
   */
  selection?(): { readonly name: string; readonly env: string } | undefined;
  run(context: BenchContext): Promise<Table[]>;
}

/** The repository root, found from this module in dist/scripts/benchmarks/. */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const TRACKER_MAIN = join(REPO_ROOT, "dist/src/main.js");
export const BENCH_DIST = fileURLToPath(new URL(".", import.meta.url));
export const BENCH_SOURCE = join(REPO_ROOT, "scripts/benchmarks");

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export function scratchDir(context: BenchContext, name: string): string {
  return mkdtempSync(join(context.workDir || tmpdir(), `${name}-`));
}

/** A process the bench started; stop() ends it by PID and waits. */
export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Spawns `command args` and waits until it accepts TCP connections on `port`. */
export async function startServer(
  name: string,
  command: string,
  args: readonly string[],
  port: number,
  env: NodeJS.ProcessEnv = {},
): Promise<Started> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const started: Started = {
    name,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const killed = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killed);
    },
  };
  const deadline = Date.now() + 15_000;
  while (!(await portAccepts(port))) {
    if (child.exitCode !== null) throw new Error(`${name} exited on start: ${output.trim()}`);
    if (Date.now() > deadline) {
      await started.stop();
      throw new Error(`${name} did not listen on ${port} within 15 s: ${output.trim()}`);
    }
    await sleep(50);
  }
  return started;
}

/** A throwaway redis-server from the shipped redis.conf, on a free port. */
export async function startRedis(context: BenchContext, extraArgs: readonly string[] = []): Promise<EmbeddedRedis> {
  return startEmbeddedRedis(await freePort(), scratchDir(context, "redis"), [...extraArgs]);
}

/** `p2ptracker serve` as its own process, against `redisUrl`, on a free port. */
export async function startTracker(
  redisUrl: string,
  settings: Record<string, string> = {},
): Promise<Started & { port: number }> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    P2PTRACKER_HOST: "127.0.0.1",
    P2PTRACKER_PORT: String(port),
    P2PTRACKER_REDIS_URL: redisUrl,
    // No load balancer watches it: stop at once rather than after the SIGKILL below.
    P2PTRACKER_DRAIN_DELAY_MS: "0",
  };
  for (const [key, value] of Object.entries(settings)) env[`P2PTRACKER_${key}`] = value;
  const server = await startServer("p2ptracker", process.execPath, [TRACKER_MAIN, "serve"], port, env);
  return Object.assign(server, { port });
}

/** Ratio a/b to two decimals, or "-" when b is 0. */
export function ratio(a: number, b: number): string {
  return b > 0 ? (a / b).toFixed(2) : "-";
}
