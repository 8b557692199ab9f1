/** Plain-text tables for terminals: columns aligned with spaces, no borders. */

/** A column: its heading and whether its cells line up on the right (numbers). */
export interface Column {
  readonly heading: string;
  readonly right?: boolean;
}

/**
 * The heading line and one line per row, columns two spaces apart. No line ends in
 * spaces: terminals show none, but tests and diffs would.
 */
export function alignColumns(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const widths = columns.map((column, i) => Math.max(column.heading.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => {
        if (i === cells.length - 1 && !columns[i]!.right) return cell;
        return columns[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.heading)), ...rows.map(line)];
}

/** `label  value` lines with the values aligned after the longest label. */
export function alignFields(fields: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...fields.map(([label]) => label.length));
  return fields.map(([label, value]) => `${label.padEnd(width)}  ${value}`);
}
