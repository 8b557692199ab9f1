import { join, resolve } from "node:path";
import { REPO_ROOT, scratchDir, type BenchContext, type Table, type Workload } from "./bench.js";
import { checkLab, runLab, waitForLab, type Outcome, type Scenario } from "./btlab/lab.js";
import { single } from "./btlab/single.js";
import { multi } from "./btlab/multi.js";
import { kill } from "./btlab/kill.js";
import { clients } from "./btlab/clients.js";

/** Every scenario, in the order a run takes them. */
const SCENARIOS: Scenario[] = [single, multi, kill, clients];

/** The scenarios BTLAB_SCENARIOS names (comma-separated), or all of them. */
function selected(): Scenario[] {
  const names = (process.env.BTLAB_SCENARIOS ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.length === 0) return SCENARIOS;
  const unknown = names.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `BTLAB_SCENARIOS: no scenario ${unknown.join(", ")} (have ${SCENARIOS.map((s) => s.name).join(",")})`,
    );
  }
  return SCENARIOS.filter((s) => names.includes(s.name));
}

/**
 * Workload 5: real BitTorrent clients in btlab's namespace racks, through p2ptracker and
 * opentracker in one session; bytes into each rack's uplink, who crossed it and how long
 * hosts took. Scenarios: one transfer, concurrent transfers, a killed representative, and
 * rtorrent-only and Transmission-only swarms.
 */
export const btlab: Workload = {
  name: "btlab",
  description:
    "rack uplinks with real clients in network namespaces (root; only with --only btlab; BTLAB_SCENARIOS=single,multi,kill,clients)",
  explicitOnly: true,
  selection() {
    const scenarios = selected();
    if (scenarios.length === SCENARIOS.length) return undefined;
    const names = scenarios.map((s) => s.name);
    return { name: names.join("-"), env: `BTLAB_SCENARIOS=${names.join(",")}` };
  },
  async run(context: BenchContext): Promise<Table[]> {
    const labDir = resolve(process.env.BTLAB_DIR ?? join(REPO_ROOT, "../shared/btlab"));
    const scenarios = selected();
    checkLab(context, labDir, [...new Set(scenarios.flatMap((s) => s.tools))]);
    const dir = scratchDir(context, "btlab");
    const planned = scenarios.map((scenario) => ({ scenario, runs: scenario.plan(context.quick) }));
    const total = planned.reduce((n, p) => n + p.runs.length, 0);
    const tables: Table[] = [];
    let n = 0;
    for (const { scenario, runs } of planned) {
      const outcomes: Outcome[] = [];
      for (const run of runs) {
        await waitForLab(context);
        context.progress(`btlab: run ${++n}/${total}: ${scenario.name}: ${run.label}`);
        const started = Date.now();
        const outcome = await runLab(labDir, run, join(dir, `${scenario.name}-${run.label.replace(/\W+/g, "-")}`));
        const wall = `${((Date.now() - started) / 1000).toFixed(0)} s`;
        if ("error" in outcome) context.progress(`btlab: ${run.label}: ${outcome.error} (${wall})`);
        else {
          const s = outcome.result.summary;
          context.progress(
            `btlab: ${run.label}: ${s.verified}/${s.hosts} hosts, makespan ${s.makespan_s ?? "-"} s, max rack rx ${s.max_rack_uplink_rx_x}× payload (${wall})`,
          );
        }
        outcomes.push(outcome);
      }
      tables.push(...scenario.tables(outcomes));
    }
    return tables;
  },
};
