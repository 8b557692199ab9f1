/**
 * `p2ptracker transfer ...`: register, activate, deactivate, list, show, peers and wait,
 * all through the tracker's HTTP API, so they work from any host that reaches it.
 */

import { readFileSync } from "node:fs";
import { ApiError, apiRequest, registerTorrent, type ApiTarget } from "./apiClient.js";
import { CommandError, UsageError } from "./errors.js";
import {
  countFlag,
  durationFlag,
  infoHashArgument,
  oneOf,
  parseCommandLine,
  SHARED_OPTIONS_HELP,
  takePositionals,
  type CommandLine,
  type FlagSpec,
} from "./options.js";
import {
  getTransfer,
  listAllPeers,
  listAllTransfers,
  type Archived,
  type ListState,
  type PeerList,
  type Registered,
} from "./transferApi.js";
import {
  activatedLine,
  archivedLine,
  peerLines,
  rackLines,
  registeredLine,
  transferLines,
  transferListLines,
} from "./transferView.js";
import { PRIORITIES } from "../store/scripts.js";
import { waitCommand } from "./transferWait.js";
import { watchTransfer } from "./transferWatch.js";

/** One `transfer` subcommand: its flags, its help and what it does. */
interface Subcommand {
  readonly synopsis: string;
  /** One line for the list of commands. */
  readonly summary: string;
  readonly description: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
  readonly flagsHelp?: string;
  run(line: CommandLine): Promise<void>;
}

const print = (lines: readonly string[]) => process.stdout.write(`${lines.join("\n")}\n`);
const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

/** A change refused for want of a token says where a token comes from. */
async function change<T>(target: ApiTarget, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && target.token === undefined) {
      throw new ApiError(401, `${error.message} (pass --token or set P2PTRACKER_TOKEN)`);
    }
    throw error;
  }
}

const PRIORITY_HELP = `  --priority P    urgent, normal (a new transfer's default) or background: who gets a
                  rack's uplink slot first when transfers compete (README: rack uplink
                  budget); given again for an active transfer, it changes its priority`;

/** The --priority flag as a query string ("" when absent). */
function priorityQuery(line: CommandLine): string {
  const priority = line.values.priority;
  if (priority === undefined) return "";
  if (!(PRIORITIES as readonly string[]).includes(String(priority))) {
    throw new UsageError(`--priority "${priority}": expected ${PRIORITIES.join(", ")}`, line.usage);
  }
  return `?priority=${priority}`;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  register: {
    synopsis: "register <file.torrent> [--priority urgent|normal|background]",
    summary: "register a transfer by uploading its .torrent",
    description: "Registers a transfer by uploading its .torrent (again: nothing changes but a --priority given).",
    flags: { priority: { type: "string" } },
    flagsHelp: PRIORITY_HELP,
    async run(line) {
      const query = priorityQuery(line);
      const [file] = takePositionals(line, "transfer register", ["a .torrent file"]);
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(file!);
      } catch (error) {
        // Node's text leads with the errno code and repeats the path: keep the reason alone.
        const reason = (error as Error).message.replace(/^[A-Z]+: /, "").replace(/, \w+ '.*'$/, "");
        throw new CommandError(`cannot read ${file}: ${reason}`);
      }
      const { transfer: answer } = await change(line.target, () => registerTorrent(line.target, bytes, query));
      if (line.json) printJson(answer);
      else print([registeredLine(answer as unknown as Registered)]);
    },
  },

  activate: {
    synopsis: "activate <INFOHASH> [--priority urgent|normal|background]",
    summary: "register a transfer by its info hash alone",
    description: "Registers a transfer by its info hash alone (no .torrent stored).",
    flags: { priority: { type: "string" } },
    flagsHelp: PRIORITY_HELP,
    async run(line) {
      const query = priorityQuery(line);
      const [text] = takePositionals(line, "transfer activate", ["an INFOHASH"]);
      if (text!.endsWith(".torrent")) {
        throw new UsageError(`"${text}" is a file: use transfer register to upload a .torrent`, line.usage);
      }
      const hex = infoHashArgument(text!, line.usage);
      const { json } = await change(line.target, () => apiRequest(line.target, "POST", `/transfers/${hex}${query}`));
      if (line.json) printJson(json);
      else print([activatedLine(json as Registered)]);
    },
  },

  deactivate: {
    synopsis: "deactivate <INFOHASH>",
    summary: "end a transfer and archive it",
    description: "Ends a transfer: clients get no more peers; its state is archived (ARCHIVE_TTL).",
    flags: {},
    async run(line) {
      const [text] = takePositionals(line, "transfer deactivate", ["an INFOHASH"]);
      const hex = infoHashArgument(text!, line.usage);
      const { json } = await change(line.target, () => apiRequest(line.target, "DELETE", `/transfers/${hex}`));
      if (line.json) printJson(json);
      else print([archivedLine(json as Archived)]);
    },
  },

  list: {
    synopsis: "list [--archived | --seen]",
    summary: "active transfers (or archived ones, or announced but unregistered hashes)",
    description: "Lists active transfers, newest first (or archived ones, or hashes announced but not registered).",
    flags: { archived: { type: "boolean" }, seen: { type: "boolean" } },
    flagsHelp: `  --archived      archived (deactivated) transfers, kept for ARCHIVE_TTL
  --seen          info hashes clients announced that are not registered`,
    async run(line) {
      takePositionals(line, "transfer list", []);
      const state: ListState = oneOf(line, ["archived", "seen"] as const) ?? "active";
      const items = await listAllTransfers(line.target, state);
      if (line.json) printJson({ items, total: items.length });
      else print(transferListLines(state, items));
    },
  },

  show: {
    synopsis: "show <INFOHASH> [--racks] [--watch [--interval 2s]]",
    summary: "a transfer's counters and progress, per rack, live",
    description: "Shows a transfer's counters and progress (the latest archive if it is not active).",
    flags: { racks: { type: "boolean" }, watch: { type: "boolean" }, interval: { type: "string" } },
    flagsHelp: `  --racks         per rack: peers, seeders, leechers, completed hosts, progress, representatives
  --watch         refresh every interval, in place on a terminal, with rate and ETA; stops
                  at Ctrl-C or when the transfer is archived (--json: one line per refresh)
  --interval D    the refresh interval: 90s, 5m, 1h30m or seconds (default 2s)`,
    async run(line) {
      const [text] = takePositionals(line, "transfer show", ["an INFOHASH"]);
      const hex = infoHashArgument(text!, line.usage);
      const racks = line.values.racks === true;
      const intervalSeconds = durationFlag(line, "interval", 2);
      if (line.values.watch === true) {
        return watchTransfer({ target: line.target, infoHashHex: hex, racks, intervalSeconds, json: line.json });
      }
      if (line.values.interval !== undefined) throw new UsageError("--interval goes with --watch", line.usage);
      const transfer = await getTransfer(line.target, hex, racks);
      if (line.json) return void printJson(transfer);
      print(
        transfer.racks === undefined
          ? transferLines(transfer)
          : [...transferLines(transfer), "", ...rackLines(transfer.racks)],
      );
    },
  },

  peers: {
    synopsis: "peers <INFOHASH> [--seeders | --leechers | --representatives | --origins]",
    summary: "a transfer's peers",
    description: "Lists a transfer's peers, by rack (all of them, or only those named).",
    flags: {
      seeders: { type: "boolean" },
      leechers: { type: "boolean" },
      representatives: { type: "boolean" },
      origins: { type: "boolean" },
    },
    flagsHelp: `  --seeders, --leechers, --representatives, --origins
                  only those peers`,
    async run(line) {
      const [text] = takePositionals(line, "transfer peers", ["an INFOHASH"]);
      const hex = infoHashArgument(text!, line.usage);
      const list: PeerList = oneOf(line, ["seeders", "leechers", "representatives", "origins"] as const) ?? "peers";
      const peers = await listAllPeers(line.target, hex, list);
      if (line.json) printJson({ items: peers });
      else print(peerLines(peers));
    },
  },

  wait: {
    synopsis: "wait <INFOHASH> --hosts N [--timeout 30m] [--stall 5m] [--interval 2s]",
    summary: "until N hosts have completed: exit 0, stalled 1, timeout 124",
    description: `Waits until N hosts have completed the transfer (its completed count; origins do
not count). Exit 0 when they have; 1 when no host made progress for the stall time
(naming the racks that stalled), or the transfer was archived; 124 at the timeout. An
unreachable tracker is asked again until the timeout. A progress line goes to stderr;
with --json, one object on stdout and nothing else:
  {"result": "completed"|"stalled"|"timeout"|"archived", "completed", "hosts", "elapsed_s", "stalled_racks"}`,
    flags: {
      hosts: { type: "string" },
      timeout: { type: "string" },
      stall: { type: "string" },
      interval: { type: "string" },
    },
    flagsHelp: `  --hosts N       how many hosts must complete (required)
  --timeout D     give up after D (default 30m); durations: 90s, 5m, 1h30m or seconds
  --stall D       give up when nothing moved for D (default 5m)
  --interval D    how often to ask the tracker (default 2s)`,
    async run(line) {
      const [text] = takePositionals(line, "transfer wait", ["an INFOHASH"]);
      const hex = infoHashArgument(text!, line.usage);
      const hosts = countFlag(line, "hosts");
      if (hosts === undefined) throw new UsageError("transfer wait needs --hosts N", line.usage);
      await waitCommand(
        {
          target: line.target,
          infoHashHex: hex,
          hosts,
          timeoutSeconds: durationFlag(line, "timeout", 30 * 60),
          stallSeconds: durationFlag(line, "stall", 5 * 60),
          intervalSeconds: durationFlag(line, "interval", 2),
        },
        line.json,
      );
    },
  },
};

/** The help of `transfer`: every subcommand in a line or two. */
export const TRANSFER_USAGE = `usage: p2ptracker transfer <command> [options]

commands:
${Object.values(SUBCOMMANDS)
  .map((sub) => `  ${sub.synopsis}\n      ${sub.summary}`)
  .join("\n")}

options of every command:
${SHARED_OPTIONS_HELP}

"p2ptracker transfer <command> --help" tells more. Exit codes: 0 done, 1 failed (the
reason on stderr), 2 wrong command line, 124 wait timed out.
`;

function subcommandUsage(sub: Subcommand): string {
  const own = sub.flagsHelp === undefined ? "" : `${sub.flagsHelp}\n`;
  return `usage: p2ptracker transfer ${sub.synopsis} [--tracker URL] [--token TOKEN] [--json]

${sub.description}

options:
${own}${SHARED_OPTIONS_HELP}
`;
}

/** Runs `transfer <command> ...`. */
export async function transferCommand(args: readonly string[]): Promise<void> {
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    if (name === undefined) throw new UsageError("transfer needs a command", TRANSFER_USAGE);
    process.stdout.write(TRANSFER_USAGE);
    return;
  }
  const sub = Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (sub === undefined) throw new UsageError(`unknown transfer command "${name}"`, TRANSFER_USAGE);
  const usage = subcommandUsage(sub);
  const line = parseCommandLine(rest, sub.flags, usage);
  if (line.help) {
    process.stdout.write(usage);
    return;
  }
  await sub.run(line);
}
