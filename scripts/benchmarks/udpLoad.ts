import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { BENCH_SOURCE, type BenchContext } from "./bench.js";
import type { Mix } from "./wrk.js";

/** What one run of the UDP load generator measured (latencies in microseconds). */
export interface UdpLoadResult {
  readonly sent: number;
  readonly answered: number;
  /** BEP 15 error replies. */
  readonly errors: number;
  /** Announces with no reply within 1 s (datagrams lost, most often in a full receive queue). */
  readonly timeouts: number;
  readonly durationUs: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  /** CPU time the load generator itself used. */
  readonly loadCpuUs: number;
}

export interface UdpLoadRun {
  readonly host: string;
  readonly port: number;
  readonly mix: Mix;
  readonly seconds: number;
  /** Announces per second to send (open loop); 0: saturated, `window` in flight per socket. */
  readonly rate: number;
  readonly sockets: number;
  readonly window: number;
}

/** Compiles scripts/benchmarks/udp/load.c (a C program: a Node sender would need the cores it measures). */
export function buildUdpLoad(context: BenchContext): string {
  const binary = join(context.workDir, "udpload");
  execFileSync("gcc", ["-O2", "-o", binary, join(BENCH_SOURCE, "udp/load.c")], { stdio: "inherit" });
  return binary;
}

/** Runs the load generator once and returns its summary. */
export function runUdpLoad(binary: string, run: UdpLoadRun): Promise<UdpLoadResult> {
  const args = [
    run.host,
    run.port,
    run.seconds,
    run.rate,
    run.sockets,
    run.window,
    run.mix.transfers,
    run.mix.hosts,
    run.mix.racks,
  ];
  return new Promise((done, fail) => {
    const child = spawn(binary, args.map(String), { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", fail);
    child.once("exit", (code) => {
      const line = output.split("\n").find((l) => l.startsWith("BENCH "));
      if (code !== 0 || !line) return fail(new Error(`udpload exited ${code}: ${output.trim()}`));
      done(JSON.parse(line.slice(6)) as UdpLoadResult);
    });
  });
}

/** Runs side by side (one per replica) as one: summed counts, the worse percentiles. */
export function combineUdp(a: UdpLoadResult, b: UdpLoadResult): UdpLoadResult {
  return {
    sent: a.sent + b.sent,
    answered: a.answered + b.answered,
    errors: a.errors + b.errors,
    timeouts: a.timeouts + b.timeouts,
    durationUs: Math.max(a.durationUs, b.durationUs),
    p50Us: Math.max(a.p50Us, b.p50Us),
    p99Us: Math.max(a.p99Us, b.p99Us),
    p999Us: Math.max(a.p999Us, b.p999Us),
    loadCpuUs: a.loadCpuUs + b.loadCpuUs,
  };
}
