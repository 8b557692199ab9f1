import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The built command line entry point, `p2ptracker`. */
export const MAIN = fileURLToPath(new URL("../../src/main.js", import.meta.url));

/** An environment with none of the runner's own P2PTRACKER_* variables. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("P2PTRACKER_")) env[name] = value;
  }
  return { ...env, ...extra };
}

/** What a finished `p2ptracker` run left behind. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `p2ptracker ARGS` to completion (killed after 15 s), in `cwd` if given. */
export async function runCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: cleanEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
    ...(cwd !== undefined && { cwd }),
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const code = await new Promise<number | null>((done) => child.once("close", (c) => done(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
