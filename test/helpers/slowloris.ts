/**
 * A slow-header (slowloris) attack in a process of its own, so that its sockets do not slow
 * the test process that times ordinary announces. startSlowloris() forks this file.
 *
 * Each of `count` connections trickles a request line one byte at a time until the tracker
 * cuts it off. Clients keep their side open (allowHalfOpen) and keep writing
 * after the tracker's answer, so a connection ends only once the tracker has let go of it
 * (its reset ends it), not when the tracker has only half-closed it.
 */
import { fork } from "node:child_process";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";

/** What the attack saw, one entry per connection the tracker cut off. */
export interface AttackReport {
  /** From connect to the tracker's answer (ms). */
  readonly answeredAfter: number[];
  /** From the answer to the connection's end (ms): when the tracker had let go of it. */
  readonly closedAfter: number[];
  readonly replies: string[];
  /** Connections closed before any answer. */
  readonly unanswered: number;
  /** Most connections open at once. */
  readonly peakOpen: number;
  /** Connections left open after the grace. */
  readonly leftOpen: number;
}

export interface AttackOptions {
  readonly port: number;
  readonly count: number;
  /** Source addresses, used in turn (127.0.0.0/8 all reach loopback). */
  readonly addresses: readonly string[];
  readonly trickleMs: number;
  /** How long stop() waits for the tracker to close what is still open. */
  readonly graceMs: number;
}

/** A running attack: how many are open now, and stop() for the report. */
export interface Attack {
  open(): Promise<number>;
  stop(): Promise<AttackReport>;
}

/** Starts the attack in a child process. */
export async function startSlowloris(options: AttackOptions): Promise<Attack> {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], { stdio: "inherit" });
  const ask = <T>(what: string) =>
    new Promise<T>((done, fail) => {
      const onExit = () => fail(new Error("the attack process exited"));
      child.once("exit", onExit);
      child.once("message", (reply) => {
        child.off("exit", onExit);
        done(reply as T);
      });
      child.send(what);
    });
  await new Promise<void>((done, fail) => {
    child.once("message", () => done());
    child.once("exit", () => fail(new Error("the attack process exited")));
  });
  child.removeAllListeners("exit");
  return {
    open: () => ask<number>("open"),
    async stop() {
      const report = await ask<AttackReport>("stop");
      await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(null)));
      return report;
    },
  };
}

function attack(options: AttackOptions): { open(): number; stop(): Promise<AttackReport> } {
  const live = new Set<Socket>();
  const report = {
    answeredAfter: [] as number[],
    closedAfter: [] as number[],
    replies: [] as string[],
    unanswered: 0,
    peakOpen: 0,
    leftOpen: 0,
  };
  let open = 0;
  const start = (localAddress: string) => {
    const socket = connect({ host: "127.0.0.1", port: options.port, localAddress, allowHalfOpen: true });
    live.add(socket);
    let connectedAt = 0;
    let answeredAt = 0;
    let reply = "";
    let trickle: NodeJS.Timeout | undefined;
    socket.on("connect", () => {
      connectedAt = performance.now();
      report.peakOpen = Math.max(report.peakOpen, ++open);
      socket.write("GET /announce?info_hash=");
      trickle = setInterval(() => socket.write("a"), options.trickleMs);
    });
    socket.on("data", (chunk: Buffer) => {
      if (answeredAt === 0) answeredAt = performance.now();
      reply += chunk.toString("latin1");
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      live.delete(socket);
      clearInterval(trickle);
      if (connectedAt > 0) {
        open--;
        if (answeredAt === 0) {
          report.unanswered++;
        } else {
          report.answeredAfter.push(answeredAt - connectedAt);
          report.closedAfter.push(performance.now() - answeredAt);
          report.replies.push(reply);
        }
      }
    });
  };
  // Ramped, 150 every 100 ms: a listen backlog would drop a burst of them all at once.
  for (let i = 0; i < options.count; i++) {
    setTimeout(() => start(options.addresses[i % options.addresses.length]!), Math.floor(i / 150) * 100);
  }
  return {
    open: () => open,
    async stop() {
      const deadline = Date.now() + options.graceMs;
      while (live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      report.leftOpen = live.size;
      for (const socket of live) socket.destroy();
      return report;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  const running = attack(JSON.parse(process.argv[2]!) as AttackOptions);
  process.send("ready");
  process.on("message", async (what) => {
    if (what === "open") process.send!(running.open());
    if (what === "stop") {
      const report = await running.stop();
      process.send!(report, () => process.disconnect());
    }
  });
}
