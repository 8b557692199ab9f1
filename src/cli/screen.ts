/**
 * A view redrawn in place on a terminal: the cursor goes home, each line overwrites the
 * one below it and is cleared to its end, and whatever the last frame left lower down is
 * cleared. Nothing scrolls, so the view never leaves copies of itself in the scrollback.
 */

/** Cursor visibility: hidden while the view redraws (no flicker), shown again on exit. */
export const HIDE_CURSOR = "\x1b[?25l";
export const SHOW_CURSOR = "\x1b[?25h";

/** The text that replaces the screen by `lines`, cut to `columns` and `rows` (a longer frame would scroll). */
export function screenFrame(lines: readonly string[], columns: number, rows: number): string {
  // The newline after the last line needs a row of its own.
  const room = Math.max(rows, 3) - 1;
  const fitted =
    lines.length > room
      ? [...lines.slice(0, room - 1), `... ${lines.length - room + 1} more lines: make the terminal taller`]
      : lines;
  // A line as wide as the terminal would wrap on some terminals and push the frame down.
  const width = Math.max(columns, 2) - 1;
  const body = fitted.map((line) => `${line.length > width ? line.slice(0, width) : line}\x1b[K\n`).join("");
  return `\x1b[H${body}\x1b[J`;
}
