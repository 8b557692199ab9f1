/** A `p2ptracker` run that a test talks to while it runs (wait, watch), with its own deadline. */

import { spawn, type ChildProcess } from "node:child_process";
import { cleanEnv, MAIN, type CliResult } from "./cli.js";

/** A running `p2ptracker`: its output so far and its end. */
export interface RunningCli {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Whether it has not exited yet. */
  running(): boolean;
  /** Its exit code (null if killed) and everything it printed. */
  readonly exited: Promise<CliResult>;
}

/** Starts `p2ptracker ARGS` without a terminal; killed after `killAfterMs`. */
export function startCli(args: string[], env: Record<string, string> = {}, killAfterMs = 60_000): RunningCli {
  const child = spawn(process.execPath, [MAIN, ...args], { env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let done = false;
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  const exited = new Promise<CliResult>((resolve) =>
    child.once("close", (code) => {
      done = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, running: () => !done, exited };
}
