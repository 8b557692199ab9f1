import { pathToFileURL } from "node:url";
import { resolve as resolvePath } from "node:path";
import type { Resolver } from "./location.js";
import { log } from "../log.js";

/** Loads a site's resolver: a JS module exporting `resolve(ip): Promise<string | undefined>`. */
export async function moduleResolver(path: string): Promise<Resolver> {
  const loaded = (await import(pathToFileURL(resolvePath(path)).href)) as { resolve?: unknown };
  if (typeof loaded.resolve !== "function") throw new Error(`RACK_MODULE ${path} does not export resolve(ip)`);
  const resolve = loaded.resolve as (ip: string) => unknown;
  return async (ip) => {
    try {
      const location = await resolve(ip);
      return typeof location === "string" ? location : undefined;
    } catch (error) {
      log.debug(`RACK_MODULE resolve(${ip}) failed: ${(error as Error).message}`);
      return undefined;
    }
  };
}
