import { readFileSync } from "node:fs";

/** A raw setting and where it came from, for error messages. */
export interface RawSetting {
  readonly value: string;
  readonly source: string;
}

export type RawSettings = Map<string, RawSetting>;

/** Client-safe configuration problem: printed as is, then the process stops. */
export class ConfigError extends Error {}

/**
 * Reads a config file of `KEY = value` lines with `#` comments. Values may be quoted or be
 * Python literals (True, False, None) so that a file written for the origin tracker, which
 * was a Python module, reads unchanged.
 */
export function readConfigFile(path: string): RawSettings {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`config file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const settings: RawSettings = new Map();
  text.split(/\r?\n/).forEach((line, index) => {
    const content = stripComment(line).trim();
    if (content === "") return;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(.*)$/.exec(content);
    if (!match) throw new ConfigError(`config file ${path}:${index + 1}: expected KEY = value, got "${content}"`);
    const value = unquote(match[2]!.trim());
    if (value === undefined) return; // None: leave the default
    settings.set(match[1]!.toUpperCase(), { value, source: `${path}:${index + 1}` });
  });
  return settings;
}

function stripComment(line: string): string {
  let quote = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = "";
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === "#") {
      return line.slice(0, i);
    }
  }
  return line;
}

function unquote(value: string): string | undefined {
  const quoted = /^(['"])(.*)\1$/.exec(value);
  if (quoted) return quoted[2]!;
  if (value === "None") return undefined;
  return integerArithmetic(value) ?? value;
}

/** Integer sums and products as the origin's Python config wrote them (`5 * 60`). */
function integerArithmetic(value: string): string | undefined {
  if (!/^\d+(?:\s*[-+*]\s*\d+)+$/.test(value)) return undefined;
  let total = 0n;
  let sign = 1n;
  let product = 1n;
  for (const token of value.match(/\d+|[-+*]/g)!) {
    if (token === "+" || token === "-") {
      total += sign * product;
      sign = token === "+" ? 1n : -1n;
      product = 1n;
    } else if (token !== "*") {
      product *= BigInt(token);
    }
  }
  return (total + sign * product).toString();
}

const ENV_PREFIX = "P2PTRACKER_";

/** Settings from environment variables named P2PTRACKER_<KEY>. */
export function readEnvironment(env: NodeJS.ProcessEnv): RawSettings {
  const settings: RawSettings = new Map();
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith(ENV_PREFIX) && value !== undefined) {
      settings.set(name.slice(ENV_PREFIX.length), { value, source: `environment ${name}` });
    }
  }
  return settings;
}

/** Flag name for a key: MAX_REPR_RACK -> --max-repr-rack. */
export function flagName(key: string): string {
  return `--${key.toLowerCase().replace(/_/g, "-")}`;
}

/** Separates positional arguments from `--key value` / `--key=value` flags, wherever they stand. */
export function splitArguments(args: readonly string[]): { positional: string[]; flags: string[] } {
  const positional: string[] = [];
  const flags: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) positional.push(arg);
    else if (arg.includes("=") || i + 1 >= args.length) flags.push(arg);
    else flags.push(arg, args[++i]!);
  }
  return { positional, flags };
}

/**
 * Parses `--key value` / `--key=value` flags into settings (any config key, e.g.
 * --max-repr-rack 3) and returns `--config FILE` separately.
 */
export function readFlags(args: readonly string[]): { settings: RawSettings; configFile?: string } {
  const settings: RawSettings = new Map();
  let configFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument "${arg}" (settings are --key value)`);
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    let value = eq < 0 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new ConfigError(`flag ${name} needs a value`);
    if (name === "--config") {
      configFile = value;
      continue;
    }
    const key = name.slice(2).toUpperCase().replace(/-/g, "_");
    settings.set(key, { value, source: `flag ${name}` });
  }
  return configFile === undefined ? { settings } : { settings, configFile };
}
