// Scenario "clients": swarms of one client kind other than aria2 (rtorrent, Transmission),
// seeder included. Their timers and quirks differ: a rack-aware tracker must not slow them
// down much against a flat one.
import { type Table } from "../bench.js";
import {
  MAX_REPR_RACK,
  clientRacks,
  fixed2,
  leechers,
  mean,
  met,
  missedNote,
  targetsTable,
  succeeded,
  worst,
  type Done,
  type LabResult,
  type LabRun,
  type Mode,
  type Outcome,
  type Scenario,
} from "./lab.js";

const KINDS = ["rtorrent", "transmission"];
/** Transmission swarms take 35-55 s; a stalled host then costs 2 minutes, not btlab's default 3. */
const TIMEOUT_S = 120;
const MAX_RATIO = 1.2;

export const clients: Scenario = {
  name: "clients",
  tools: ["rtorrent", "transmission-daemon"],
  plan(quick: boolean): LabRun[] {
    const runs: LabRun[] = [];
    for (const kind of KINDS) {
      const args = ["--clients", kind, "--seeder-client", kind, "--timeout", String(TIMEOUT_S)];
      for (let i = 1; i <= (quick ? 1 : 3); i++) {
        runs.push({ label: `p2ptracker rack-aware, ${kind} ${i}`, mode: "rack-aware", args, key: kind });
        runs.push({ label: `opentracker, ${kind} ${i}`, mode: "opentracker", args, key: kind });
      }
    }
    return runs;
  },
  tables,
};

/** A time, and whether it is only a lower bound (some host had not finished when the run ended). */
interface Bound {
  readonly s: number;
  readonly atLeast: boolean;
}

/** Mean of the leechers' download times; a host that did not finish counts its time until the end. */
function meanDownload(r: LabResult): Bound {
  const hosts = leechers(r);
  const times = hosts.map((h) =>
    h.completed && h.download_s !== null ? h.download_s : r.summary.measure_window_s - (h.start_s ?? 0),
  );
  return { s: mean(times), atLeast: hosts.some((h) => !h.completed) };
}

function makespan(r: LabResult): Bound {
  const s = r.summary.makespan_s;
  return s !== null ? { s, atLeast: false } : { s: r.summary.measure_window_s, atLeast: true };
}

function meanBound(bounds: readonly Bound[]): Bound {
  return { s: mean(bounds.map((b) => b.s)), atLeast: bounds.some((b) => b.atLeast) };
}

const show = (b: Bound) => (Number.isFinite(b.s) ? `${b.atLeast ? "≥ " : ""}${b.s.toFixed(1)}` : "-");
/** a / b, where a lower bound on b makes the ratio a lower bound only if a is exact: shown with "?". */
function boundRatio(a: Bound, b: Bound): { x: number; text: string } {
  const x = a.s / b.s;
  const mark = a.atLeast && !b.atLeast ? "≥ " : b.atLeast ? "? " : "";
  return { x, text: Number.isFinite(x) ? `${mark}${x.toFixed(2)}` : "-" };
}

function tables(outcomes: readonly Outcome[]): Table[] {
  const done = succeeded(outcomes);
  const rows = outcomes.map((o) => {
    if ("error" in o) return [o.run.label, "lab error", "-", "-", "-", "-", "-"];
    const s = o.result.summary;
    const racks = clientRacks(o.result);
    return [
      o.run.label,
      `${s.verified}/${s.hosts}`,
      show(meanDownload(o.result)),
      show(makespan(o.result)),
      racks.map((r) => fixed2(r.rx_x)).join(" "),
      racks.map((r) => r.hosts_with_xrack_traffic).join(" "),
      racks.map((r) => r.hosts_given_xrack_peers ?? "?").join(" "),
    ];
  });

  const of = (kind: string, mode: Mode) => done.filter((o) => o.run.key === kind && o.run.mode === mode);
  const summaryRows: Array<Array<string | number>> = [];
  const targets: Array<Array<string | number>> = [];
  for (const kind of KINDS) {
    const aware = of(kind, "rack-aware");
    const open = of(kind, "opentracker");
    if (aware.length === 0 && open.length === 0) continue;
    const dl = (runs: Done[]) => meanBound(runs.map((o) => meanDownload(o.result)));
    const span = (runs: Done[]) => meanBound(runs.map((o) => makespan(o.result)));
    const dlRatio = boundRatio(dl(aware), dl(open));
    const spanRatio = boundRatio(span(aware), span(open));
    for (const [mode, runs] of [
      ["rack-aware", aware],
      ["opentracker", open],
    ] as const) {
      summaryRows.push([
        kind,
        mode,
        runs.length,
        runs.map((o) => `${o.result.summary.verified}/${o.result.summary.hosts}`).join(" "),
        show(dl(runs)),
        mode === "rack-aware" ? dlRatio.text : "1.00",
        show(span(runs)),
        mode === "rack-aware" ? spanRatio.text : "1.00",
      ]);
    }
    const xrack = aware.flatMap((o) => clientRacks(o.result).map((r) => r.hosts_with_xrack_traffic));
    const finished = aware.length > 0 && aware.every((o) => o.result.summary.verified === o.result.summary.hosts);
    const exact = (b: Bound) => !b.atLeast;
    targets.push(
      [
        `${kind}: mean host download time / opentracker's`,
        `≤ ${MAX_RATIO}`,
        dlRatio.text,
        met(dlRatio.x <= MAX_RATIO && exact(dl(open)) && exact(dl(aware))),
      ],
      [
        `${kind}: makespan / opentracker's`,
        `≤ ${MAX_RATIO}`,
        spanRatio.text,
        met(spanRatio.x <= MAX_RATIO && exact(span(open)) && exact(span(aware))),
      ],
      [
        `${kind}: xrack_hosts per rack (rack-aware), worst`,
        `≤ ${MAX_REPR_RACK}`,
        String(worst(xrack)),
        met(worst(xrack) <= MAX_REPR_RACK),
      ],
      [
        `${kind}: hosts finished (rack-aware, sha256 checked)`,
        "100 %",
        aware.map((o) => `${o.result.summary.verified}/${o.result.summary.hosts}`).join(", ") || "-",
        met(finished),
      ],
    );
  }
  return [
    {
      title: "rtorrent-only and Transmission-only swarms (btlab)",
      columns: [
        "run",
        "hosts ok",
        "mean download s",
        "makespan s",
        "uplink rx × payload, rack 1..4",
        "xrack_hosts",
        "given_xrack",
      ],
      rows,
      notes: [
        `4 racks × 5 hosts and the origin seeder all running the same client, 32 MiB, 100 Mbit hosts, interleaved start, --timeout ${TIMEOUT_S}.`,
        "mean download s: mean of the leechers' download times (client start to completion hook); ≥: some host had not finished when the run ended, and counts its time until then.",
      ],
    },
    {
      title: "Client kinds, means over the runs (btlab)",
      columns: [
        "clients",
        "tracker",
        "runs",
        "hosts ok",
        "mean download s",
        "÷ opentracker",
        "makespan s",
        "÷ opentracker",
      ],
      rows: summaryRows,
      notes: [
        "≥ before a ratio: the rack-aware time is only a lower bound (hosts unfinished), so the ratio is too; ? : opentracker's own time is a lower bound, the ratio is not exact; a target on an inexact figure is NOT met.",
        ...missedNote(targets),
      ],
    },
    targetsTable("Client kind targets (btlab)", targets, outcomes),
  ];
}
