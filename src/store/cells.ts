/**
 * Which cell of a rack holds a member: the rule of lua/includes/cells.lua, for the views.
 * A rack's L and S sets live in cells (cell 0: <rack>:L, <rack>:S; cell c: <rack>:L.<c>,
 * <rack>:S.<c>); once the rack has split, the transfer's info hash holds 'cells <rack>' =
 * '<n> <max>' and the directory <rack>:C the size of each cell's sets.
 * test/cells.test.ts checks that both sides agree.
 */

/** The directory of a rack's cells: hash L<c>, S<c>. */
export const CELL_DIRECTORY = "C";

/** The field of the transfer's info hash that holds a rack's '<n> <max>'. */
export const cellsField = (rack: string) => `cells ${rack}`;

/** The same hash of the address bytes as the script's (below 2^31, exact in doubles). */
export function addressHash(address: Uint8Array): number {
  let h = 0;
  for (const byte of address) h = (h * 131 + byte) % 2147483629;
  return h;
}

/** The cell of `address` in a rack of `n` cells (linear hashing). */
export function cellOf(address: Uint8Array, n: number): number {
  if (n <= 1) return 0;
  let low = 1;
  while (low * 2 <= n) low *= 2;
  const h = addressHash(address);
  const c = h % low;
  return c < n - low ? h % (2 * low) : c;
}

/** The key of set L or S of cell `cell` of `rack`. */
export function cellSetKey(rackPrefix: string, rack: string, set: "L" | "S", cell: number): string {
  return `${rackPrefix}${rack}:${cell === 0 ? set : `${set}.${cell}`}`;
}

/** The number of cells from the info hash's '<n> <max>' (a rack that never split has one). */
export function cellCount(value: unknown): number {
  const count = Number(String(value ?? "1").split(" ")[0]);
  return Number.isInteger(count) && count >= 1 ? count : 1;
}
