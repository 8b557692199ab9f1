/**
 * A resolver maps a client address (text form) to a location, or undefined when it does
 * not know the address; it throws when it cannot answer now (the chain then passes on).
 */
export type Resolver = (ip: string) => Promise<string | undefined> | string | undefined;

export const MAX_LOCATION_LENGTH = 128;

/** The location every client gets in flat mode; sanitize() never yields it. */
export const FLAT_LOCATION = "*";

/**
 * Makes a resolver's answer safe to put inside a Redis key: whitespace, control bytes and
 * braces (which would change the cluster hash tag) become "_", and it is length-limited.
 * Returns undefined for an empty answer, so the chain moves on.
 */
export function sanitizeLocation(location: unknown): string | undefined {
  if (typeof location !== "string") return undefined;
  const clean = location
    .trim()
    .replace(/[\s\p{Cc}{}]/gu, "_")
    .slice(0, MAX_LOCATION_LENGTH);
  if (clean === "" || clean === FLAT_LOCATION) return undefined;
  return clean;
}
