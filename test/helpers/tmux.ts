/** A real terminal for tests: a detached tmux session on a tmux server of the test's own. */

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { promisify } from "node:util";
import { cleanEnv } from "./cli.js";

const run = promisify(execFile);

/** One tmux server (its own socket, no user config) holding one session. */
export class TmuxSession {
  #socketPath: string | undefined;

  private constructor(
    readonly socket: string,
    readonly name: string,
  ) {}

  /** Runs `command` (a shell line) in a new detached session of `columns` x `rows`; the pane stays after it exits. */
  static async start(command: string, columns: number, rows: number): Promise<TmuxSession> {
    const session = new TmuxSession(`p2ptracker-test-${process.pid}-${randomBytes(4).toString("hex")}`, "view");
    await session.tmux(
      ["new-session", "-d", "-s", session.name, "-x", String(columns), "-y", String(rows), command],
      // tmux needs to know some terminal to start, even detached.
      { TERM: process.env.TERM ?? "xterm-256color" },
    );
    await session.tmux(["set-option", "-w", "-t", session.name, "remain-on-exit", "on"]);
    session.#socketPath = (await session.tmux(["display-message", "-p", "#{socket_path}"])).trim();
    return session;
  }

  private async tmux(args: string[], env: Record<string, string> = {}): Promise<string> {
    const { stdout } = await run("tmux", ["-L", this.socket, "-f", "/dev/null", ...args], { env: cleanEnv(env) });
    return stdout;
  }

  /** The pane's visible text, one line per row. */
  capture(): Promise<string> {
    return this.tmux(["capture-pane", "-p", "-t", this.name]);
  }

  /** Types keys into the pane, e.g. "C-c". */
  async sendKeys(...keys: string[]): Promise<void> {
    await this.tmux(["send-keys", "-t", this.name, ...keys]);
  }

  /** Stops the session's tmux server (and with it whatever still runs in the pane), removes its socket. */
  async close(): Promise<void> {
    await this.tmux(["kill-server"]).catch(() => undefined);
    // The server leaves its socket file behind.
    if (this.#socketPath) rmSync(this.#socketPath, { force: true });
  }
}
