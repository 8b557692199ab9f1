import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { BENCH_SOURCE, type BenchContext, type Table, type Workload } from "./bench.js";
import { renderMarkdown, renderText } from "./tables.js";
import { memory } from "./memory.js";
import { swarmSize } from "./swarmSize.js";
import { shapes } from "./shapes.js";
import { throughput } from "./throughput.js";
import { btlab } from "./btlab.js";
import { udp } from "./udp.js";
import { instructions } from "./instructions.js";

/** Every workload, in the order a full run takes them. */
const WORKLOADS: Workload[] = [throughput, swarmSize, shapes, memory, udp, instructions, btlab];

const USAGE = `usage: scripts/bench [--quick] [--only NAME]
workloads: ${WORKLOADS.map((w) => `\n  ${w.name.padEnd(12)} ${w.description}`).join("")}`;

function parseArgs(args: string[]): { quick: boolean; only: string | undefined } {
  let quick = false;
  let only: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--quick") quick = true;
    else if (arg === "--only" && args[i + 1] !== undefined) only = args[++i];
    else throw new Error(`unexpected argument "${arg}"\n${USAGE}`);
  }
  if (only !== undefined && !WORKLOADS.some((w) => w.name === only)) throw new Error(`no workload "${only}"\n${USAGE}`);
  return { quick, only };
}

async function main(): Promise<number> {
  const { quick, only } = parseArgs(process.argv.slice(2));
  const workDir = mkdtempSync(join(tmpdir(), "p2ptracker-bench-"));
  const context: BenchContext = { quick, workDir, progress: (m) => process.stderr.write(`bench: ${m}\n`) };
  const started = new Date();
  const tables: Table[] = [];
  const workloads = WORKLOADS.filter((w) => (only === undefined ? !w.explicitOnly : w.name === only));
  const selection = only !== undefined ? workloads[0]?.selection?.() : undefined;
  try {
    for (const workload of workloads) {
      context.progress(`${workload.name}: ${workload.description}`);
      for (const table of await workload.run(context)) {
        tables.push(table);
        process.stdout.write(`\n${renderText(table)}\n`);
      }
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`;
  const command = `${selection ? `${selection.env} ` : ""}scripts/bench${quick ? " --quick" : ""}${only ? ` --only ${only}` : ""}`;
  const header = `Results of \`${command}\`, ${started.toISOString()}, ${machine}.`;
  const resultsDir = join(BENCH_SOURCE, "results");
  mkdirSync(resultsDir, { recursive: true });
  // A part of a workload gets its own file, so it does not overwrite the whole workload's.
  const stem = `${quick ? "quick" : "full"}${only ? `-${only}` : ""}${selection ? `-${selection.name}` : ""}`;
  writeFileSync(join(resultsDir, `${stem}.md`), `${header}\n\n${tables.map(renderMarkdown).join("\n\n")}\n`);
  writeFileSync(
    join(resultsDir, `${stem}.json`),
    `${JSON.stringify({ command, started, machine, tables }, null, 2)}\n`,
  );
  context.progress(`results in scripts/benchmarks/results/${stem}.md and .json`);
  const failed = tables.filter((t) => t.failed !== undefined);
  for (const t of failed) process.stderr.write(`bench: FAILED ${t.title}: ${t.failed}\n`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`bench: ${error.message}\n`);
    process.exit(2);
  },
);
