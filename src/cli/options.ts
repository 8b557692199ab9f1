/**
 * The command line of the operators' commands: strict flags (node:util parseArgs), the
 * options every command shares (--tracker, --token, --json, --help), and the argument
 * types they take (info hashes, durations, counts).
 */

import { parseArgs } from "node:util";
import { readCommandEnvironment, type CommandEnvironment } from "../config/commandEnvironment.js";
import { parseInfoHashHex } from "../wire/torrentFile.js";
import { DEFAULT_TRACKER_URL, type ApiTarget } from "./apiClient.js";
import { UsageError } from "./errors.js";

/** A flag a command takes besides the shared ones. */
export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
}

/** The options every operators' command takes, as its help lists them. */
export const SHARED_OPTIONS_HELP = `  --tracker URL   the tracker (default: P2PTRACKER_URL, else ${DEFAULT_TRACKER_URL})
  --token TOKEN   the admin token, needed for changes (default: P2PTRACKER_TOKEN)
  --json          JSON on stdout instead of text
  -h, --help      this help`;

const SHARED_FLAGS: Record<string, FlagSpec> = {
  tracker: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

/** A parsed command line: positional arguments and flag values by long name. */
export interface CommandLine {
  readonly positionals: string[];
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  /** The tracker and token, from the flags, else the environment, else the defaults. */
  readonly target: ApiTarget;
  readonly json: boolean;
  readonly help: boolean;
  /** The command's usage text, for the errors that its arguments raise. */
  readonly usage: string;
}

/** Parses `args` strictly against the shared flags and `flags`; a wrong line is a UsageError. */
export function parseCommandLine(
  args: readonly string[],
  flags: Readonly<Record<string, FlagSpec>>,
  usage: string,
  env: CommandEnvironment = readCommandEnvironment(),
): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { ...SHARED_FLAGS, ...flags },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(describeParseError(error as Error & { code?: string }), usage);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const url = optionalText(values.tracker) ?? env.url;
  const target: ApiTarget = {
    url: url === undefined ? DEFAULT_TRACKER_URL : checkTrackerUrl(url, values.tracker !== undefined, usage),
    token: optionalText(values.token) ?? env.token,
  };
  return {
    positionals: parsed.positionals,
    values,
    target,
    json: values.json === true,
    help: values.help === true,
    usage,
  };
}

const optionalText = (value: string | boolean | undefined) =>
  typeof value === "string" && value !== "" ? value : undefined;

/** parseArgs speaks of "Option '--x <value>'"; say the same in the words of the other errors. */
function describeParseError(error: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(error.message)?.[1];
  if (option !== undefined) {
    if (error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option "${option}"`;
    if (/does not take an argument/.test(error.message)) return `"${option}" takes no value`;
    if (/argument missing|ambiguous/.test(error.message)) return `"${option}" needs a value`;
  }
  return error.message;
}

function checkTrackerUrl(url: string, fromFlag: boolean, usage: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    const source = fromFlag ? "--tracker" : "P2PTRACKER_URL";
    throw new UsageError(`${source} "${url}": expected a URL such as http://tracker.example:6969`, usage);
  }
  return url;
}

/** The positional arguments named in `names` (all required); a missing or extra one is a UsageError. */
export function takePositionals(line: CommandLine, command: string, names: readonly string[]): string[] {
  const { positionals } = line;
  if (positionals.length < names.length) {
    throw new UsageError(`${command} needs ${names[positionals.length]}`, line.usage);
  }
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument "${positionals[names.length]}"`, line.usage);
  }
  return positionals;
}

/** An info hash argument (40 hex digits, any case) in upper case. */
export function infoHashArgument(text: string, usage: string): string {
  const hex = parseInfoHashHex(text);
  if (hex === undefined) throw new UsageError(`"${text}" is not an info hash (40 hex digits)`, usage);
  return hex;
}

const DURATION = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/;

/** Seconds in `text`: `90s`, `5m`, `1h30m` or plain seconds (`300`, `0.5`); undefined if not a duration. */
export function parseDuration(text: string): number | undefined {
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text);
  const match = DURATION.exec(text);
  if (match === null || text === "") return undefined;
  const [, hours, minutes, seconds] = match;
  return Number(hours ?? 0) * 3600 + Number(minutes ?? 0) * 60 + Number(seconds ?? 0);
}

/** The value of a duration flag in seconds, `fallback` when absent; zero or garbage is a UsageError. */
export function durationFlag(line: CommandLine, name: string, fallback: number): number {
  const text = line.values[name];
  if (typeof text !== "string") return fallback;
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds <= 0) {
    throw new UsageError(`--${name} "${text}": expected a duration such as 90s, 5m, 1h30m or 300`, line.usage);
  }
  return seconds;
}

/** The value of a flag that takes a whole number of at least 1; undefined when absent. */
export function countFlag(line: CommandLine, name: string): number | undefined {
  const text = line.values[name];
  if (typeof text !== "string") return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--${name} "${text}": expected a whole number of at least 1`, line.usage);
  }
  return Number(text);
}

/** At most one of the boolean flags in `names` is set: which one, or undefined. */
export function oneOf<T extends string>(line: CommandLine, names: readonly T[]): T | undefined {
  const set = names.filter((name) => line.values[name] === true);
  if (set.length > 1) throw new UsageError(`--${set[0]} and --${set[1]} exclude each other`, line.usage);
  return set[0];
}
