import type { Table } from "./bench.js";

const cell = (value: string | number) => String(value);

/** A table as aligned plain text, for the terminal. */
export function renderText(table: Table): string {
  const rows = [table.columns, ...table.rows].map((row) => row.map(cell));
  const widths = table.columns.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) =>
    row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const out = [`== ${table.title}`, line(rows[0]!), ...rows.slice(1).map(line)];
  for (const note of table.notes ?? []) out.push(`   ${note}`);
  if (table.failed) out.push(`   FAILED: ${table.failed}`);
  return out.join("\n");
}

/** A table as Markdown, for scripts/benchmarks/results and the README. */
export function renderMarkdown(table: Table): string {
  const row = (cells: ReadonlyArray<string | number>) => `| ${cells.map(cell).join(" | ")} |`;
  const out = [
    `### ${table.title}`,
    "",
    row(table.columns),
    row(table.columns.map(() => "---")),
    ...table.rows.map(row),
  ];
  if (table.notes?.length) out.push("", ...table.notes.map((note) => `- ${note}`));
  if (table.failed) out.push("", `**FAILED:** ${table.failed}`);
  return out.join("\n");
}
