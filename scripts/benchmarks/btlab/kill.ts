// Scenario "kill": a representative's clients are SIGKILLed mid-transfer (no `stopped`
// announce). The rack needs a new representative, and its hosts should not end much later
// than those of the racks nobody touched.
import { type Table } from "../bench.js";
import {
  fixed2,
  leechers,
  met,
  missedNote,
  targetsTable,
  succeeded,
  worst,
  type Done,
  type LabResult,
  type LabRun,
  type Outcome,
  type Scenario,
} from "./lab.js";

/** Interleaved start (h1 of every rack, then h2, ...): r1h1 announces first, so it leads rack 1. */
const KILLED_HOST = "r1h1";
const KILL_AT_S = 5;
/** Large enough that downloads last over a minute with 100 Mbit hosts, so clients re-announce. */
const PAYLOAD_MIB = 640;
/** Download phase limit; lab.py's --max-runtime (290 s) still bounds the whole run. */
const TIMEOUT_S = 200;
const MAX_SLOWEST_RATIO = 1.3;

export const kill: Scenario = {
  name: "kill",
  tools: [],
  plan(quick: boolean): LabRun[] {
    const args = ["--payload-mib", String(PAYLOAD_MIB), "--kill", `${KILLED_HOST}@${KILL_AT_S}`];
    args.push("--start-order", "interleave", "--timeout", String(TIMEOUT_S));
    const aware = (i: number): LabRun => ({ label: `p2ptracker rack-aware ${i}`, mode: "rack-aware", args, key: "" });
    const open = (i: number): LabRun => ({ label: `opentracker ${i}`, mode: "opentracker", args, key: "" });
    return quick ? [aware(1), open(1)] : [aware(1), open(1), aware(2), open(2)];
  },
  tables,
};

interface KillFigures {
  killedAt: number;
  rack: number;
  /** Hosts of the rack the tracker had given a cross-rack peer before the kill. */
  repsBefore: string[];
  /** First host of the rack, other than those, given a cross-rack peer after the kill, and when. */
  successor: { host: string; after: number } | null;
  /** Seconds from the kill to the end of the measurement: how long a successor could have come. */
  watched: number;
  /** The `interval` values in the replies to the rack's surviving hosts. */
  intervals: number[];
  slowestKilledRack: number;
  slowestOthers: number;
  unfinished: number;
}

/** Slowest download of these hosts; Infinity when one did not finish. */
function slowest(hosts: LabResult["hosts"]): number {
  return worst(hosts.map((h) => (h.completed && h.download_s !== null ? h.download_s : Infinity)));
}

function figures(r: LabResult): KillFigures | null {
  const killed = r.hosts.find((h) => h.host === KILLED_HOST);
  if (!killed || killed.killed_at_s === null) return null;
  const killedAt = killed.killed_at_s;
  const rack = killed.rack;
  const announces = (r.announces ?? []).filter((a) => a.rack === rack && a.host !== null);
  const repsBefore = [
    ...new Set(announces.filter((a) => a.t < killedAt && a.n_xrack_peers > 0).map((a) => a.host!)),
  ].sort();
  const next = announces
    .filter((a) => a.t >= killedAt && a.host !== KILLED_HOST && !repsBefore.includes(a.host!) && a.n_xrack_peers > 0)
    .sort((a, b) => a.t - b.t)[0];
  const survivors = leechers(r);
  return {
    killedAt,
    rack,
    repsBefore,
    successor: next ? { host: next.host!, after: next.t - killedAt } : null,
    watched: r.summary.measure_window_s - killedAt,
    intervals: announces.filter((a) => a.host !== KILLED_HOST && a.interval !== null).map((a) => a.interval!),
    slowestKilledRack: slowest(survivors.filter((h) => h.rack === rack)),
    slowestOthers: slowest(survivors.filter((h) => h.rack !== rack)),
    unfinished: survivors.filter((h) => !h.completed).length,
  };
}

const seconds = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "unfinished");
function span(xs: number[]): string {
  if (xs.length === 0) return "-";
  const [low, high] = [Math.min(...xs), Math.max(...xs)];
  return low === high ? String(low) : `${low}-${high}`;
}

function tables(outcomes: readonly Outcome[]): Table[] {
  const measured = succeeded(outcomes).map((o) => ({ o, f: figures(o.result) }));
  const rows = outcomes.map((o) => {
    const f = "result" in o ? measured.find((m) => m.o === o)?.f : null;
    if ("error" in o || !f)
      return [o.run.label, "error" in o ? "lab error" : "no kill", "-", "-", "-", "-", "-", "-", "-", "-"];
    const s = o.result.summary;
    const aware = o.run.mode === "rack-aware";
    return [
      o.run.label,
      `${s.verified}/${s.hosts}`,
      s.makespan_s ?? "-",
      f.killedAt,
      aware ? f.repsBefore.join(" ") || "none" : "-",
      !aware
        ? "-"
        : f.successor
          ? `${f.successor.host} ${f.successor.after.toFixed(1)}`
          : `none in ${f.watched.toFixed(0)}`,
      span(f.intervals),
      seconds(f.slowestKilledRack),
      seconds(f.slowestOthers),
      fixed2(f.slowestKilledRack / f.slowestOthers),
    ];
  });

  const aware = measured.filter((m): m is { o: Done; f: KillFigures } => m.o.run.mode === "rack-aware" && m.f !== null);
  const open = measured.filter((m) => m.o.run.mode === "opentracker" && m.f !== null);
  const all = (ok: (f: KillFigures) => boolean) => aware.length > 0 && aware.every((m) => ok(m.f));
  const perRun = (list: typeof measured, f: (k: KillFigures) => string) =>
    list.map((m) => (m.f ? `${m.o.run.label}: ${f(m.f)}` : "")).join(", ") || "-";
  const ratioOf = (f: KillFigures) => f.slowestKilledRack / f.slowestOthers;
  const successorWithin = (f: KillFigures) => f.successor !== null && f.successor.after <= worst(f.intervals);
  const targets = [
    [
      `rack-aware: ${KILLED_HOST} was given cross-rack peers before the kill (a representative)`,
      "yes",
      perRun(aware, (f) => (f.repsBefore.includes(KILLED_HOST) ? "yes" : "no")),
      met(all((f) => f.repsBefore.includes(KILLED_HOST))),
    ],
    [
      "rack-aware: new representative after the kill (s) vs the rack's announce interval (s)",
      "≤ 1 interval",
      perRun(aware, (f) =>
        f.successor ? `${f.successor.after.toFixed(1)} vs ${worst(f.intervals)}` : `none in ${f.watched.toFixed(0)}`,
      ),
      met(all(successorWithin)),
    ],
    [
      "rack-aware: slowest host of the killed rack / slowest of the other racks",
      `≤ ${MAX_SLOWEST_RATIO}`,
      perRun(aware, (f) => fixed2(ratioOf(f))),
      met(all((f) => ratioOf(f) <= MAX_SLOWEST_RATIO)),
    ],
    [
      "rack-aware: hosts finished (the killed host left out)",
      "100 %",
      perRun(aware, (f) => (f.unfinished === 0 ? "all" : `${f.unfinished} unfinished`)),
      met(all((f) => f.unfinished === 0)),
    ],
    [
      "opentracker (no representatives): the same slowest-host ratio",
      "reference",
      perRun(open, (f) => fixed2(ratioOf(f))),
      "-",
    ],
  ];
  return [
    {
      title: "Representative killed mid-transfer (btlab)",
      columns: [
        "run",
        "hosts ok",
        "makespan s",
        "killed at s",
        "given xrack before kill",
        "new repr., after s",
        "interval s",
        "slowest, killed rack s",
        "slowest, other racks s",
        "ratio",
      ],
      rows,
      notes: [
        `${PAYLOAD_MIB} MiB, 4 racks × 5 aria2c hosts, interleaved start (h1 of every rack first); ${KILLED_HOST}'s client SIGKILLed ${KILL_AT_S} s after the first start, so it never announces \`stopped\`; --timeout ${TIMEOUT_S}.`,
        "given xrack before kill: the killed rack's hosts whose announce replies held a peer of another rack before the kill (its representatives). new repr.: the first other host of that rack given such a peer after the kill, seconds after it (none in N: not within the N s the run lasted after the kill).",
        "interval s: the `interval` values in the replies to the rack's surviving hosts; slowest: download time of the rack's slowest surviving host, against the slowest of the three untouched racks.",
        ...missedNote(targets),
      ],
    },
    targetsTable("Killed representative targets (btlab)", targets, outcomes),
  ];
}
