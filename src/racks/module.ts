import { pathToFileURL } from "node:url";
import { extname, resolve as resolvePath } from "node:path";
import type { Resolver } from "./location.js";

/**
 * Loads a site's resolver: a JavaScript module exporting `resolve(ip): Promise<string |
 * undefined>`. What it throws passes to the next resolver (and is not cached).
 */
export async function moduleResolver(path: string): Promise<Resolver> {
  if ([".ts", ".mts", ".cts"].includes(extname(path))) {
    throw new Error(`RACK_MODULE ${path}: Node.js 20 cannot import TypeScript; compile it to .js or .mjs first`);
  }
  const loaded = (await import(pathToFileURL(resolvePath(path)).href)) as { resolve?: unknown };
  if (typeof loaded.resolve !== "function") throw new Error(`RACK_MODULE ${path} does not export resolve(ip)`);
  const resolve = loaded.resolve as (ip: string) => unknown;
  return async (ip) => {
    const location = await resolve(ip);
    return typeof location === "string" ? location : undefined;
  };
}
