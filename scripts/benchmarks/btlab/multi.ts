// Scenario "multi": 2 and 3 concurrent transfers started 3 s apart, each wave in its own random
// order, so different hosts of a rack lead each transfer. A rack's uplink budget has to hold
// over all of them: at most RACK_UPLINK_SLOTS hosts crossing at once, at most that many host
// caps coming in.
import { ratio, type Table } from "../bench.js";
import {
  RACK_UPLINK_SLOTS,
  clientRacks,
  fixed2,
  hostCapMbit,
  met,
  missedNote,
  targetsTable,
  succeeded,
  worst,
  type Done,
  type LabRun,
  type Outcome,
  type Scenario,
} from "./lab.js";

const TRANSFER_COUNTS = [2, 3];
const TRANSFER_STAGGER_S = 3;
/** Headroom over slots x host cap for the 1 s rate samples (headers, sampling jitter). */
const RX_HEADROOM = 1.1;
const MAX_MAKESPAN_RATIO = 1.25;

const lead = (k: number, rep: number) => `${k} transfers #${rep}`;

export const multi: Scenario = {
  name: "multi",
  tools: [],
  plan(quick: boolean): LabRun[] {
    const runs: LabRun[] = [];
    for (let rep = 1; rep <= (quick ? 1 : 2); rep++) {
      for (const k of TRANSFER_COUNTS) {
        // --seed sets the start orders: both trackers of a pair see the same ones.
        const args = ["--transfers", String(k), "--transfer-stagger", String(TRANSFER_STAGGER_S)];
        args.push("--start-order", "random", "--seed", String(rep));
        const key = lead(k, rep);
        runs.push({ label: `p2ptracker rack-aware, ${key}`, mode: "rack-aware", args, key });
        runs.push({ label: `opentracker, ${key}`, mode: "opentracker", args, key });
      }
    }
    return runs;
  },
  tables,
};

/** This run's makespan over the opentracker run of the same key; NaN when either did not finish. */
function makespanRatio(o: Done, done: readonly Done[]): number {
  const open = done.find((d) => d.run.mode === "opentracker" && d.run.key === o.run.key);
  const a = o.result.summary.makespan_s;
  const b = open?.result.summary.makespan_s;
  return a !== null && b !== null && b !== undefined && b > 0 ? a / b : NaN;
}

const rxLimit = (o: Done) => RACK_UPLINK_SLOTS * hostCapMbit(o.result) * RX_HEADROOM;

function tables(outcomes: readonly Outcome[]): Table[] {
  const done = succeeded(outcomes);
  const rows = outcomes.map((o) => {
    if ("error" in o) return [o.run.label, "lab error", "-", "-", "-", "-", "-", "-", "-", "-"];
    const s = o.result.summary;
    const racks = clientRacks(o.result);
    const open = done.find((d) => d.run.mode === "opentracker" && d.run.key === o.run.key);
    return [
      o.run.label,
      `${s.verified}/${s.hosts}`,
      s.makespan_s ?? "-",
      s.makespan_s !== null && open?.result.summary.makespan_s
        ? ratio(s.makespan_s, open.result.summary.makespan_s)
        : "-",
      (o.result.transfers ?? []).map((t) => t.makespan_s ?? `(${t.completed}/${t.hosts})`).join(" "),
      racks.map((r) => r.peak_concurrent_xrack_hosts ?? "?").join(" "),
      racks.map((r) => Math.round(r.peak_rx_mbit ?? NaN)).join(" "),
      Math.round(rxLimit(o)),
      racks.map((r) => fixed2(r.rx_x)).join(" "),
      racks.map((r) => r.hosts_with_xrack_traffic).join(" "),
    ];
  });

  const aware = done.filter((o) => o.run.mode === "rack-aware");
  const perRun = (f: (o: Done) => string) => aware.map((o) => `${o.run.key}: ${f(o)}`).join(", ") || "-";
  const peakXrack = (o: Done) => worst(clientRacks(o.result).map((r) => r.peak_concurrent_xrack_hosts ?? Infinity));
  const peakRx = (o: Done) => worst(clientRacks(o.result).map((r) => r.peak_rx_mbit ?? Infinity));
  const all = (ok: (o: Done) => boolean) => aware.length > 0 && aware.every(ok);
  const targets = [
    [
      "rack-aware: peak_xrack (hosts crossing the uplink in one 1 s sample), worst rack",
      `≤ ${RACK_UPLINK_SLOTS}`,
      perRun((o) => String(peakXrack(o))),
      met(all((o) => peakXrack(o) <= RACK_UPLINK_SLOTS)),
    ],
    [
      "rack-aware: peak 1 s uplink rx Mbit/s, worst rack",
      `≤ ${RACK_UPLINK_SLOTS} slots × host cap × ${RX_HEADROOM}`,
      perRun((o) => `${Math.round(peakRx(o))} / ${Math.round(rxLimit(o))}`),
      met(all((o) => peakRx(o) <= rxLimit(o))),
    ],
    [
      "rack-aware: hosts finished, every transfer (sha256 checked)",
      "100 %",
      perRun((o) => `${o.result.summary.verified}/${o.result.summary.hosts}`),
      met(all((o) => o.result.summary.verified === o.result.summary.hosts)),
    ],
    [
      "rack-aware: makespan of all transfers / opentracker's",
      `≤ ${MAX_MAKESPAN_RATIO}`,
      perRun((o) => fixed2(makespanRatio(o, done))),
      met(all((o) => makespanRatio(o, done) <= MAX_MAKESPAN_RATIO)),
    ],
  ];
  const hostMbit = done[0] ? hostCapMbit(done[0].result) : 100;
  const payloadMib = done[0] ? done[0].result.lab.payload_bytes / 2 ** 20 / (done[0].result.lab.transfers ?? 1) : 32;
  return [
    {
      title: "Concurrent transfers with real clients (btlab)",
      columns: [
        "run",
        "hosts ok",
        "makespan s",
        "÷ opentracker",
        "makespan s per transfer",
        "peak_xrack, rack 1..4",
        "peak rx Mbit/s, rack 1..4",
        "rx limit",
        "uplink rx × all payloads",
        "xrack_hosts",
      ],
      rows,
      notes: [
        `${TRANSFER_COUNTS.join(" and ")} transfers of ${payloadMib} MiB each, transfer k+1 started ${TRANSFER_STAGGER_S} s after transfer k, every wave in its own random order (--seed N: the same orders for both trackers of a pair); 4 racks × 5 aria2c hosts, ${hostMbit} Mbit hosts, 1 Gbit uplinks.`,
        "peak_xrack: most hosts of the rack moving > 2 Mbit/s across its uplink in the same 1 s sample, over all transfers; peak rx: highest 1 s rate into the rack (core side of the uplink).",
        `rx limit = RACK_UPLINK_SLOTS (${RACK_UPLINK_SLOTS}, the tracker's default MAX_REPR_RACK) × the host cap × ${RX_HEADROOM}; makespan: first client start to last completion over all transfers, ÷ the opentracker run with the same transfers and seed.`,
        ...missedNote(targets),
      ],
    },
    targetsTable("Concurrent transfer targets (btlab)", targets, outcomes),
  ];
}
