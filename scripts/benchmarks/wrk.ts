import { spawn } from "node:child_process";
import { join } from "node:path";
import { BENCH_SOURCE } from "./bench.js";

/** The deploy mix the wrk script generates. */
export interface Mix {
  readonly transfers: number;
  readonly hosts: number;
  /** 1: every host in one subnet (10.0.0.0/16), as at a site without a rack map. */
  readonly racks: number;
}

/** What one wrk run measured (latencies in microseconds). */
export interface WrkResult {
  readonly requests: number;
  readonly durationUs: number;
  readonly errors: number;
  readonly failures: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
}

export interface WrkRun {
  readonly url: string;
  readonly mix: Mix;
  readonly keepalive: boolean;
  readonly connections: number;
  readonly seconds: number;
  /** Requests per second to aim at (all connections together); omitted: as fast as possible. */
  readonly rate?: number;
}

/** The 20 info hash bytes of transfer `t`, as the wrk script builds them. */
export function mixInfoHash(t: number): Buffer {
  return Buffer.from(Array.from({ length: 20 }, (_, i) => (t * 31 + i * 7 + 1) % 256));
}

/** The address (X-Forwarded-For) of host `h` of the mix, as the wrk script gives it. */
export function mixAddress(mix: Mix, h: number): string {
  if (mix.racks === 1) return `10.0.${Math.floor(h / 254)}.${1 + (h % 254)}`;
  const rack = h % mix.racks;
  return `10.${Math.floor(rack / 256)}.${rack % 256}.${1 + Math.floor(h / mix.racks)}`;
}

/** Runs wrk with the announce script and returns its summary. */
export function runWrk(run: WrkRun): Promise<WrkResult> {
  const args = [
    "-t1",
    `-c${run.connections}`,
    `-d${run.seconds}s`,
    "--timeout",
    "5s",
    "-s",
    join(BENCH_SOURCE, "wrk/announce.lua"),
    run.url,
    "--",
    String(run.mix.transfers),
    String(run.mix.hosts),
    String(run.mix.racks),
    run.keepalive ? "1" : "0",
    "4",
    "2",
    String(run.rate ? (1000 * run.connections) / run.rate : 0),
    "1",
  ];
  return new Promise((done, fail) => {
    const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", fail);
    child.once("exit", (code) => {
      const line = output.split("\n").find((l) => l.startsWith("BENCH "));
      if (code !== 0 || !line) return fail(new Error(`wrk exited ${code}: ${output.trim()}`));
      const r = JSON.parse(line.slice(6)) as Record<string, number>;
      done({
        requests: r.requests!,
        durationUs: r.durationUs!,
        // Read errors left out: a server that closes every connection after its reply (opentracker
        // ignores keep-alive) makes wrk count one per request, although each was answered.
        errors: r.connectErrors! + r.writeErrors! + r.timeouts! + r.non2xx!,
        failures: r.failures!,
        p50Us: r.p50Us!,
        p99Us: r.p99Us!,
        p999Us: r.p999Us!,
      });
    });
  });
}

/** Requests per second of a run. */
export const rateOf = (r: WrkResult) => r.requests / (r.durationUs / 1e6);

/**
 * The rate to ask wrk for so that it lands on `target`. wrk holds a rate by pausing before
 * each request of a connection, and the reply time adds to the pause, by an amount that
 * itself depends on the load: so probe, scale the ask by how far the probe fell short, and
 * probe again (at most `rounds` probes; it settles within 5 % in two or three).
 */
export async function calibratedRate(
  target: number,
  probe: (ask: number) => Promise<number>,
  rounds = 3,
): Promise<number> {
  let ask = target;
  for (let round = 0; round < rounds; round++) {
    const got = await probe(ask);
    if (got <= 0 || Math.abs(got - target) <= 0.05 * target) break;
    ask *= target / got;
  }
  return ask;
}

/** Two runs side by side (two replicas) as one: summed rate, the worse percentiles. */
export function combine(a: WrkResult, b: WrkResult): WrkResult {
  return {
    requests: a.requests + b.requests,
    durationUs: Math.max(a.durationUs, b.durationUs),
    errors: a.errors + b.errors,
    failures: a.failures + b.failures,
    p50Us: Math.max(a.p50Us, b.p50Us),
    p99Us: Math.max(a.p99Us, b.p99Us),
    p999Us: Math.max(a.p999Us, b.p999Us),
  };
}
