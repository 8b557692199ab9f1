import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** The lua/ directory, found from this module whether it runs from src/ or dist/src/. */
export const LUA_DIR = fileURLToPath(
  new URL(import.meta.url.includes("/dist/") ? "../../../lua/" : "../../lua/", import.meta.url),
);

const INCLUDE = /^-- @include (\S+)\s*$/gm;

/** A script's source with its includes inlined, and its KEYS count from its file name. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly numberOfKeys: number;
}

/** Reads lua/<name>-<N>.lua and inlines each `-- @include x` line with lua/includes/x.lua, once. */
export function loadLuaScript(name: string, dir: string = LUA_DIR): LuaScript {
  const file = readdirSync(dir).find((f) => f.startsWith(`${name}-`) && /-\d+\.lua$/.test(f));
  if (!file) throw new Error(`no script lua/${name}-<N>.lua`);
  const included = new Set<string>();
  const source = readFileSync(join(dir, file), "utf8").replace(INCLUDE, (_line, include: string) => {
    if (included.has(include)) return "";
    included.add(include);
    return readFileSync(join(dir, "includes", `${include}.lua`), "utf8");
  });
  return { name, source, numberOfKeys: Number(/-(\d+)\.lua$/.exec(file)![1]) };
}
