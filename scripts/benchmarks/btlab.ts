import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { REPO_ROOT, TRACKER_MAIN, ratio, scratchDir, type BenchContext, type Table, type Workload } from "./bench.js";

/** Representatives per rack: passed to the tracker and checked on every rack. */
const MAX_REPR_RACK = 2;
const MAX_RACK_RX_X = 2.2;
const MAX_MAKESPAN_RATIO = 1.1;
/** Flat mode "looks like opentracker" when its mean rack rx is within this factor of opentracker's. */
const FLAT_TOLERANCE = 1.33;
/** Tools lab.py runs; Debian packages them (install-deps.sh installs them all). */
const LAB_TOOLS = ["python3", "ip", "tc", "nft", "tcpdump", "mktorrent", "aria2c", "opentracker", "redis-server"];
/** lab.py stops itself at --max-runtime (290 s); this only guards against a hung lab.py. */
const RUN_TIMEOUT_MS = 330_000;

type Mode = "rack-aware" | "flat" | "opentracker";

interface LabRun {
  readonly label: string;
  readonly mode: Mode;
}

/** The parts of btlab's result.json (schema btlab/1) this workload reads. */
interface LabResult {
  lab: { payload_bytes: number; hosts_per_rack: number };
  summary: {
    hosts: number;
    verified: number;
    makespan_s: number | null;
    max_rack_uplink_rx_x: number | null;
    mean_rack_uplink_rx_x: number | null;
    origin_tx_x: number;
    announce_failures?: number;
  };
  racks: Array<{ rack: number; rx_x: number; hosts_with_xrack_traffic: number; hosts_given_xrack_peers?: number }>;
}

type Outcome = { run: LabRun; result: LabResult } | { run: LabRun; error: string };

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
function checkLab(context: BenchContext, labDir: string): void {
  if (process.getuid?.() !== 0) {
    throw new Error("btlab needs root (it builds network namespaces): run `sudo scripts/bench --only btlab`");
  }
  if (!existsSync(join(labDir, "lab.py"))) {
    throw new Error(`no btlab in ${labDir}: set BTLAB_DIR to the directory holding lab.py`);
  }
  let missing = LAB_TOOLS.filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    context.progress(`btlab: ${missing.join(", ")} missing, running ${labDir}/install-deps.sh`);
    spawnSync("bash", [join(labDir, "install-deps.sh")], { stdio: ["ignore", "inherit", "inherit"] });
    missing = LAB_TOOLS.filter((tool) => !onPath(tool));
  }
  if (missing.length > 0) {
    throw new Error(`btlab needs ${missing.join(", ")}: run \`sudo bash ${labDir}/install-deps.sh\` (Debian)`);
  }
}

/** One `lab.py run`; its output goes to DIR.log, its results to DIR/. */
async function runLab(labDir: string, run: LabRun, outDir: string): Promise<Outcome> {
  const args = [join(labDir, "lab.py"), "run", "--label", run.label, "--out", outDir];
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

const clientRacks = (r: LabResult) => r.racks.filter((rack) => rack.rack !== 0);
const fixed2 = (x: number) => x.toFixed(2);
const worst = (xs: number[]) => (xs.length > 0 ? Math.max(...xs) : NaN);

/**
 * Workload 5: real aria2c clients in btlab's namespace racks, through p2ptracker (rack-aware
 * and flat) and opentracker in one session; bytes into each rack's uplink and who crossed it.
 */
export const btlab: Workload = {
  name: "btlab",
  description: "rack uplink bytes with real aria2c clients in network namespaces (root; only with --only btlab)",
  explicitOnly: true,
  async run(context: BenchContext): Promise<Table[]> {
    const labDir = resolve(process.env.BTLAB_DIR ?? join(REPO_ROOT, "../shared/btlab"));
    checkLab(context, labDir);
    const aware = (i: number): LabRun => ({ label: `p2ptracker rack-aware ${i}`, mode: "rack-aware" });
    const open: LabRun = { label: "opentracker", mode: "opentracker" };
    const flat: LabRun = { label: "p2ptracker flat", mode: "flat" };
    // Interleaved, so a slow spell of the shared machine does not land on one mode only.
    const plan = context.quick ? [aware(1), open, flat] : [aware(1), open, aware(2), flat, aware(3)];

    const dir = scratchDir(context, "btlab");
    const outcomes: Outcome[] = [];
    for (const [i, run] of plan.entries()) {
      context.progress(`btlab: run ${i + 1}/${plan.length}: ${run.label}`);
      const outcome = await runLab(labDir, run, join(dir, run.label.replace(/\W+/g, "-")));
      if ("error" in outcome) context.progress(`btlab: ${run.label}: ${outcome.error}`);
      else {
        const s = outcome.result.summary;
        context.progress(
          `btlab: ${run.label}: ${s.verified}/${s.hosts} hosts, makespan ${s.makespan_s ?? "-"} s, max rack rx ${s.max_rack_uplink_rx_x}× payload`,
        );
      }
      outcomes.push(outcome);
    }
    return tables(outcomes);
  },
};

function tables(outcomes: Outcome[]): Table[] {
  const done = outcomes.filter((o): o is Extract<Outcome, { result: LabResult }> => "result" in o);
  const of = (mode: Mode) => done.filter((o) => o.run.mode === mode).map((o) => o.result);
  const openMakespan = of("opentracker")[0]?.summary.makespan_s ?? null;
  const rows = outcomes.map((o) => {
    if ("error" in o) return [o.run.label, "lab error", "-", "-", "-", "-", "-", "-", "-"];
    const s = o.result.summary;
    const racks = clientRacks(o.result);
    return [
      o.run.label,
      `${s.verified}/${s.hosts}`,
      s.makespan_s ?? "-",
      s.makespan_s !== null && openMakespan !== null ? ratio(s.makespan_s, openMakespan) : "-",
      racks.map((r) => fixed2(r.rx_x)).join(" "),
      s.max_rack_uplink_rx_x === null ? "-" : fixed2(s.max_rack_uplink_rx_x),
      fixed2(s.origin_tx_x),
      racks.map((r) => r.hosts_with_xrack_traffic).join(" "),
      racks.map((r) => r.hosts_given_xrack_peers ?? "?").join(" "),
    ];
  });

  const aware = of("rack-aware");
  const flat = of("flat")[0];
  const open = of("opentracker")[0];
  const maxRx = worst(aware.flatMap((r) => clientRacks(r).map((rack) => rack.rx_x)));
  const given = aware.flatMap((r) => clientRacks(r).map((rack) => rack.hosts_given_xrack_peers ?? Infinity));
  const crossing = aware.flatMap((r) => clientRacks(r).map((rack) => rack.hosts_with_xrack_traffic));
  const makespanRatios = aware.map((r) =>
    r.summary.makespan_s !== null && openMakespan ? r.summary.makespan_s / openMakespan : Infinity,
  );
  const flatRatio =
    flat && open && flat.summary.mean_rack_uplink_rx_x && open.summary.mean_rack_uplink_rx_x
      ? flat.summary.mean_rack_uplink_rx_x / open.summary.mean_rack_uplink_rx_x
      : NaN;
  const flatAllCross = flat
    ? clientRacks(flat).every((rack) => rack.hosts_given_xrack_peers === flat.lab.hosts_per_rack)
    : false;
  const yes = (ok: boolean) => (ok ? "yes" : "NO");
  const perRun = (f: (r: LabResult) => string) => aware.map(f).join(", ") || "-";
  const targets = [
    ["rack-aware: every rack's uplink rx × payload", `≤ ${MAX_RACK_RX_X}`, fixed2(maxRx), yes(maxRx <= MAX_RACK_RX_X)],
    [
      "rack-aware: hosts per rack given cross-rack peers",
      `≤ ${MAX_REPR_RACK}`,
      String(worst(given)),
      yes(worst(given) <= MAX_REPR_RACK),
    ],
    [
      "rack-aware: hosts per rack moving cross-rack bytes",
      `≤ ${MAX_REPR_RACK}`,
      String(worst(crossing)),
      yes(worst(crossing) <= MAX_REPR_RACK),
    ],
    [
      "rack-aware: hosts finished (sha256 checked)",
      "all",
      perRun((r) => `${r.summary.verified}/${r.summary.hosts}`),
      yes(aware.every((r) => r.summary.verified === r.summary.hosts)),
    ],
    [
      "rack-aware: makespan / opentracker's",
      `≤ ${MAX_MAKESPAN_RATIO}`,
      makespanRatios.map((x) => (Number.isFinite(x) ? fixed2(x) : "-")).join(", ") || "-",
      yes(worst(makespanRatios) <= MAX_MAKESPAN_RATIO),
    ],
    [
      "flat: mean rack rx / opentracker's",
      `${fixed2(1 / FLAT_TOLERANCE)}-${fixed2(FLAT_TOLERANCE)}`,
      Number.isNaN(flatRatio) ? "-" : fixed2(flatRatio),
      yes(flatRatio >= 1 / FLAT_TOLERANCE && flatRatio <= FLAT_TOLERANCE),
    ],
    [
      "flat: hosts per rack given cross-rack peers",
      "all (as opentracker)",
      flat
        ? clientRacks(flat)
            .map((rack) => rack.hosts_given_xrack_peers ?? "?")
            .join(" ")
        : "-",
      yes(flatAllCross),
    ],
  ];

  const problems: string[] = [];
  for (const o of outcomes) {
    if ("error" in o) {
      problems.push(`${o.run.label}: ${o.error}`);
      continue;
    }
    if (o.run.mode !== "rack-aware") continue;
    const s = o.result.summary;
    if (s.verified < s.hosts) problems.push(`${o.run.label}: ${s.verified}/${s.hosts} hosts finished`);
    for (const rack of clientRacks(o.result)) {
      const given = rack.hosts_given_xrack_peers;
      if (given === undefined || given > MAX_REPR_RACK || rack.hosts_with_xrack_traffic > MAX_REPR_RACK) {
        problems.push(
          `${o.run.label}: rack ${rack.rack} has ${given ?? "?"} hosts given cross-rack peers, ${rack.hosts_with_xrack_traffic} moving cross-rack bytes (max ${MAX_REPR_RACK})`,
        );
      }
    }
  }
  const failures = done
    .filter((o) => (o.result.summary.announce_failures ?? 0) > 0)
    .map((o) => `${o.run.label}: ${o.result.summary.announce_failures}`);
  const misses = targets.filter((t) => t[3] === "NO").map((t) => t[0]);
  const payloadMib = done[0] ? done[0].result.lab.payload_bytes / 2 ** 20 : 32;
  const notes = [
    `btlab defaults: 4 racks × 5 aria2c hosts, 1 origin seeder, ${payloadMib} MiB private torrent, 100 Mbit hosts, 1 Gbit uplinks; p2ptracker with RACK_MAP = the lab's map, AUTO_ACTIVATE, MAX_REPR_RACK ${MAX_REPR_RACK}, its own redis-server in the tracker namespace.`,
    "rx × = bytes into the rack over its uplink / payload (headers and aria2's duplicate endgame blocks included: one copy reads 1.02-1.2×); origin tx × = bytes the seeder sent.",
    "xrack_hosts: hosts per rack moving > 1 % of the payload across the uplink; given_xrack: hosts the tracker handed at least one peer of another rack (from a capture of every announce).",
    `makespan ratios compare with the session's single opentracker run (${openMakespan ?? "-"} s); on a shared 2-core machine runs of one setup differ by up to about 10 %.`,
    ...(failures.length > 0 ? [`announce failure replies: ${failures.join("; ")}`] : []),
    ...(misses.length > 0 ? [`targets missed: ${misses.join("; ")}`] : []),
  ];
  return [
    {
      title: "Rack uplinks with real clients (btlab)",
      columns: [
        "run",
        "hosts ok",
        "makespan s",
        "÷ opentracker",
        "uplink rx × payload, rack 1..4",
        "max rx ×",
        "origin tx ×",
        "xrack_hosts",
        "given_xrack",
      ],
      rows,
      notes,
    },
    {
      title: "Rack uplink targets (btlab)",
      columns: ["target", "wanted", "measured", "met"],
      rows: targets,
      ...(problems.length > 0 ? { failed: problems.join("; ") } : {}),
    },
  ];
}
