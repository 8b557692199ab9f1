// Scenario "single": one 32 MiB transfer through p2ptracker (rack-aware and flat) and
// opentracker; bytes into each rack's uplink and who crossed it.
import { ratio, type Table } from "../bench.js";
import {
  MAX_REPR_RACK,
  clientRacks,
  fixed2,
  succeeded,
  worst,
  type LabResult,
  type LabRun,
  type Mode,
  type Outcome,
  type Scenario,
} from "./lab.js";

const MAX_RACK_RX_X = 2.2;
const MAX_MAKESPAN_RATIO = 1.1;
/** Flat mode "looks like opentracker" when its mean rack rx is within this factor of opentracker's. */
const FLAT_TOLERANCE = 1.33;

/** The original btlab table: lab defaults (4 racks x 5 aria2c hosts, 32 MiB, interleaved start). */
export const single: Scenario = {
  name: "single",
  tools: [],
  plan(quick: boolean): LabRun[] {
    const aware = (i: number): LabRun => ({
      label: `p2ptracker rack-aware ${i}`,
      mode: "rack-aware",
      args: [],
      key: "",
    });
    const open: LabRun = { label: "opentracker", mode: "opentracker", args: [], key: "" };
    const flat: LabRun = { label: "p2ptracker flat", mode: "flat", args: [], key: "" };
    return quick ? [aware(1), open, flat] : [aware(1), open, aware(2), flat, aware(3)];
  },
  tables,
};

function tables(outcomes: readonly Outcome[]): Table[] {
  const done = succeeded(outcomes);
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
