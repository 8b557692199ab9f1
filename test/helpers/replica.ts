/** A tracker replica as its own process (`p2ptracker serve`) on a port of the test's choosing, so it can be restarted there. */

import { spawn, type ChildProcess } from "node:child_process";
import { cleanEnv, MAIN } from "./cli.js";
import { httpRequest } from "./http.js";

/** How a replica process ended. */
export interface ReplicaExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** When it exited (Date.now()). */
  readonly at: number;
}

export interface Replica {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  readonly exited: Promise<ReplicaExit>;
  stderr(): string;
  /** SIGKILLs it if it still runs, and waits for the exit. */
  kill(): Promise<ReplicaExit>;
}

/** Starts `p2ptracker serve` on 127.0.0.1:port with P2PTRACKER_* settings, and waits until /healthz answers. */
export async function startReplica(port: number, settings: Record<string, string>): Promise<Replica> {
  const env: Record<string, string> = { P2PTRACKER_HOST: "127.0.0.1", P2PTRACKER_PORT: String(port) };
  for (const [key, value] of Object.entries(settings)) env[`P2PTRACKER_${key}`] = value;
  const child = spawn(process.execPath, [MAIN, "serve"], { env: cleanEnv(env), stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<ReplicaExit>((done) =>
    child.once("exit", (code, signal) => done({ code, signal, at: Date.now() })),
  );
  let running = true;
  void exited.then(() => (running = false));
  const url = `http://127.0.0.1:${port}`;
  const replica: Replica = {
    port,
    url,
    child,
    exited,
    stderr: () => stderr,
    async kill() {
      if (running) child.kill("SIGKILL");
      return exited;
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!running) throw new Error(`replica on port ${port} exited on start:\n${stderr}`);
    try {
      if ((await httpRequest(`${url}/healthz`)).status === 200) return replica;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await replica.kill();
      throw new Error(`replica on port ${port} did not start within 20 s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
