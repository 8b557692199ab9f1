// Running btlab's lab.py from the bench: the tracker commands, one run, and the parts of its
// result.json the scenarios read. Each scenario (single.ts, multi.ts, kill.ts, clients.ts)
// only plans runs and turns their results into tables.
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { REPO_ROOT, TRACKER_MAIN, sleep, type BenchContext, type Table } from "../bench.js";

/** Representatives per rack: passed to the tracker and checked on every rack. */
export const MAX_REPR_RACK = 2;
/**
 * Hosts of a rack that may use its uplink at once, over all transfers. The tracker's
 * RACK_UPLINK_SLOTS defaults to MAX_REPR_RACK; the bench does not pass it, only checks it.
 */
export const RACK_UPLINK_SLOTS = MAX_REPR_RACK;
/** Tools lab.py runs for aria2 swarms; Debian packages them (install-deps.sh installs them all). */
const LAB_TOOLS = ["python3", "ip", "tc", "nft", "tcpdump", "mktorrent", "aria2c", "opentracker", "redis-server"];
/** lab.py stops itself at --max-runtime (290 s); this only guards against a hung lab.py. */
const RUN_TIMEOUT_MS = 330_000;
/** How long to wait for someone else's btlab run (its namespaces) to end before giving up. */
const BUSY_WAIT_MS = 30 * 60_000;

export type Mode = "rack-aware" | "flat" | "opentracker";

/** One `lab.py run`: a tracker and the lab flags of its scenario. */
export interface LabRun {
  readonly label: string;
  readonly mode: Mode;
  readonly args: readonly string[];
  /** Runs with the same key are compared with each other (a rack-aware run with its opentracker run). */
  readonly key: string;
}

/** One announce reply as btlab decoded it from its capture; `t` is seconds from the first client start. */
export interface LabAnnounce {
  t: number;
  host: string | null;
  rack: number;
  info_hash: string;
  event: string | null;
  interval: number | null;
  n_xrack_peers: number;
}

/** One host of result.json (leechers and the origin seeder). */
export interface LabHost {
  host: string;
  rack: number;
  role: "seeder" | "leecher";
  start_s: number | null;
  download_s: number | null;
  completed: boolean | null;
  killed_at_s: number | null;
  verified: boolean | null;
}

/** The parts of btlab's result.json (schema btlab/1) the scenarios read. */
export interface LabResult {
  lab: { payload_bytes: number; hosts_per_rack: number; host_rate: string; transfers?: number; timeout_s: number };
  summary: {
    hosts: number;
    completed: number;
    verified: number;
    makespan_s: number | null;
    max_rack_uplink_rx_x: number | null;
    mean_rack_uplink_rx_x: number | null;
    origin_tx_x: number;
    measure_window_s: number;
    announce_failures?: number;
  };
  transfers?: Array<{ transfer: number; hosts: number; completed: number; makespan_s: number | null }>;
  racks: Array<{
    rack: number;
    rx_x: number;
    hosts_with_xrack_traffic: number;
    hosts_given_xrack_peers?: number;
    peak_rx_mbit?: number;
    peak_concurrent_xrack_hosts?: number;
  }>;
  hosts: LabHost[];
  announces?: LabAnnounce[];
}

export type Outcome = { run: LabRun; result: LabResult } | { run: LabRun; error: string };
export type Done = Extract<Outcome, { result: LabResult }>;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** p2ptracker's own start path, run by lab.py inside the tracker namespace with its own redis-server. */
function trackerCommand(rackAware: boolean): string {
  return [
    "exec",
    quote(process.execPath),
    quote(TRACKER_MAIN),
    'serve --host 0.0.0.0 --port "$LAB_TRACKER_PORT" --rack-map "$LAB_RACKMAP_TXT" --auto-activate true',
    `--max-repr-rack ${MAX_REPR_RACK} --rack-aware ${rackAware} --data-dir "$LAB_WORKDIR/redis"`,
  ].join(" ");
}

const onPath = (tool: string) =>
  (process.env.PATH ?? "").split(delimiter).some((dir) => dir && existsSync(join(dir, tool)));

/** Checks root, the lab and its tools; runs the lab's install-deps.sh once if tools are missing. */
export function checkLab(context: BenchContext, labDir: string, extraTools: readonly string[]): void {
  if (process.getuid?.() !== 0) {
    throw new Error("btlab needs root (it builds network namespaces): run `sudo scripts/bench --only btlab`");
  }
  if (!existsSync(join(labDir, "lab.py"))) {
    throw new Error(`no btlab in ${labDir}: set BTLAB_DIR to the directory holding lab.py`);
  }
  const tools = [...LAB_TOOLS, ...extraTools];
  let missing = tools.filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    context.progress(`btlab: ${missing.join(", ")} missing, running ${labDir}/install-deps.sh`);
    spawnSync("bash", [join(labDir, "install-deps.sh")], { stdio: ["ignore", "inherit", "inherit"] });
    missing = tools.filter((tool) => !onPath(tool));
  }
  if (missing.length > 0) {
    throw new Error(`btlab needs ${missing.join(", ")}: run \`sudo bash ${labDir}/install-deps.sh\` (Debian)`);
  }
}

/** Tags of btlab runs whose namespaces exist now (`btlab-<tag>-<name>`). */
function labsRunning(): string[] {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  const names = [...list.matchAll(/^btlab-(\S+)/gm)].map((m) => m[1]!.replace(/-[^-]+$/, ""));
  return [...new Set(names)];
}

/**
 * Waits until no other btlab run holds the machine: two at once would share its two cores and
 * skew both. Between our own runs none of ours exist (lab.py tears its namespaces down).
 */
export async function waitForLab(context: BenchContext): Promise<void> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  let said = 0;
  for (let tags = labsRunning(); tags.length > 0; tags = labsRunning()) {
    if (Date.now() > deadline) {
      throw new Error(
        `btlab namespaces of run(s) ${tags.join(", ")} stayed for ${BUSY_WAIT_MS / 60_000} minutes: if no run is left, remove them with \`python3 lab.py cleanup --tag TAG\``,
      );
    }
    if (Date.now() - said > 60_000) {
      context.progress(`btlab: another btlab run is going (${tags.join(", ")}), waiting for it to end`);
      said = Date.now();
    }
    await sleep(5000);
  }
}

/** One `lab.py run`; its output goes to DIR.log, its results to DIR/. */
export async function runLab(labDir: string, run: LabRun, outDir: string): Promise<Outcome> {
  const args = [join(labDir, "lab.py"), "run", "--label", run.label, "--out", outDir, ...run.args];
  if (run.mode !== "opentracker") {
    args.push("--tracker-cwd", REPO_ROOT, "--tracker-cmd", trackerCommand(run.mode === "rack-aware"));
  }
  // The tracker inherits lab.py's environment, and p2ptracker takes every P2PTRACKER_* variable
  // as a setting: a stray one (REDIS_URL, PORT) would point it outside the lab.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("P2PTRACKER_")));
  const log = createWriteStream(`${outDir}.log`);
  let tail = "";
  const child = spawn("python3", args, { cwd: labDir, env, stdio: ["ignore", "pipe", "pipe"] });
  const keep = (chunk: Buffer) => {
    log.write(chunk);
    tail = (tail + chunk.toString()).slice(-1500);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const timer = setTimeout(() => child.kill("SIGTERM"), RUN_TIMEOUT_MS);
  const code = await new Promise<number | null>((done) => child.once("close", done));
  clearTimeout(timer);
  log.end();
  const resultFile = join(outDir, "result.json");
  if (code !== 0 || !existsSync(resultFile)) {
    const lines = tail.trim().split("\n").slice(-6).join(" | ");
    return { run, error: `lab.py exited with ${code}: ${lines}` };
  }
  return { run, result: JSON.parse(readFileSync(resultFile, "utf8")) as LabResult };
}

/** A btlab scenario: the runs it wants, and its tables from their outcomes. */
export interface Scenario {
  readonly name: string;
  /** Client programs beyond aria2c that its runs need. */
  readonly tools: readonly string[];
  /** Runs in the order to take them, trackers interleaved so a slow spell of the machine hits both. */
  plan(quick: boolean): LabRun[];
  tables(outcomes: readonly Outcome[]): Table[];
}

export const succeeded = (outcomes: readonly Outcome[]) => outcomes.filter((o): o is Done => "result" in o);
export const clientRacks = (r: LabResult) => r.racks.filter((rack) => rack.rack !== 0);
export const leechers = (r: LabResult) => r.hosts.filter((h) => h.role === "leecher" && h.killed_at_s === null);
export const fixed2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "-");
export const worst = (xs: readonly number[]) => (xs.length > 0 ? Math.max(...xs) : NaN);
export const mean = (xs: readonly number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
/** A target row's verdict: NaN (nothing measured) is not met. */
export const met = (ok: boolean) => (ok ? "met" : "NOT met");

/** The host cap in Mbit/s from result.json's `host_rate` ("100mbit", "1gbit"); NaN when uncapped. */
export function hostCapMbit(r: LabResult): number {
  const m = /^(\d+(?:\.\d+)?)(kbit|mbit|gbit)$/.exec(r.lab.host_rate);
  if (!m) return NaN;
  return Number(m[1]) * { kbit: 1e-3, mbit: 1, gbit: 1e3 }[m[2] as "kbit" | "mbit" | "gbit"];
}

/** `failed` for a table when some runs gave no result: the targets then rest on fewer runs. */
export function labErrors(outcomes: readonly Outcome[]): { failed?: string } {
  const errors = outcomes.flatMap((o) => ("error" in o ? [`${o.run.label}: ${o.error}`] : []));
  return errors.length > 0 ? { failed: errors.join("; ") } : {};
}

/** A scenario's targets as a table: target, wanted, measured, met; failed if a lab run failed. */
export function targetsTable(
  title: string,
  targets: ReadonlyArray<ReadonlyArray<string | number>>,
  outcomes: readonly Outcome[],
): Table {
  return { title, columns: ["target", "wanted", "measured", "met"], rows: targets, ...labErrors(outcomes) };
}

/** A note naming the targets a table did not meet, if any. */
export function missedNote(targets: ReadonlyArray<ReadonlyArray<string | number>>): string[] {
  const misses = targets.filter((t) => t[3] === "NOT met").map((t) => t[0]);
  return misses.length > 0 ? [`targets NOT met: ${misses.join("; ")}`] : [];
}
