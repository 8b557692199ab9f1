import { readCommandEnvironment } from "../config/commandEnvironment.js";
import { existsSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import {
  buildTorrent,
  checkTorrentName,
  defaultTorrentName,
  isValidPieceLength,
  TorrentMakeError,
  type MadeTorrent,
} from "../wire/torrentMake.js";
import { DEFAULT_TRACKER_URL, registerTorrent, type ApiTarget } from "./apiClient.js";
import { CommandError, UsageError } from "./errors.js";
import { formatBytes, formatDuration, formatRate, progressLine, renderBar } from "./progressBar.js";

/** `p2ptracker torrent create`: hashes a file or directory into a .torrent, optionally registers it. */

const HELP = `usage: p2ptracker torrent create <file-or-dir> --announce URL [options]

Hashes a file or a directory (every file under it, sorted by path) into a
BEP 3 .torrent, with a progress bar on stderr.

  --announce URL       the tracker's announce URL (http, https or udp); required
  --piece-length SIZE  a power of two from 16K to 64M: bytes, or with a K or M
                       suffix (262144, 256K, 1M). Default: from the total size, as
                       mktorrent does: 32K up to 50 MiB, doubling each time the size
                       doubles, 16M above 12800 MiB
  --name NAME          the torrent's name (default: the file's or directory's name)
  -o, --output FILE    where to write the .torrent (default: ./NAME.torrent)
  --force              overwrite FILE if it exists
  --public             no private flag (default: private, so clients use only the
                       tracker, with no DHT or PEX to bypass the rack tiers)
  --register           upload the .torrent to the tracker once written
  --tracker URL        the tracker --register talks to (default: $P2PTRACKER_URL,
                       else ${DEFAULT_TRACKER_URL})
  --token TOKEN        API token for --register (default: $P2PTRACKER_TOKEN)
  --json               print one JSON object on stdout instead of the summary
  -h, --help           this help

Exit codes: 0 done, 1 failed (message on stderr), 2 wrong command line.
`;

const OPTIONS = {
  announce: { type: "string" },
  "piece-length": { type: "string" },
  name: { type: "string" },
  output: { type: "string", short: "o" },
  force: { type: "boolean" },
  public: { type: "boolean" },
  register: { type: "boolean" },
  tracker: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} satisfies ParseArgsConfig["options"];

/** What a valid `torrent create` command line asks for. */
interface CreateRequest {
  readonly source: string;
  readonly announce: string;
  readonly pieceLength: number | undefined;
  readonly name: string;
  readonly output: string;
  readonly force: boolean;
  readonly private: boolean;
  readonly register: ApiTarget | undefined;
  readonly json: boolean;
}

/** Runs `p2ptracker torrent ARGS` (ARGS: what follows `torrent`, e.g. `create DIR --announce URL`). */
export async function torrentCommand(args: string[]): Promise<void> {
  const request = parseCreate(args);
  if (request === undefined) {
    process.stdout.write(HELP);
    return;
  }
  if (existsSync(request.output) && !request.force) {
    throw new CommandError(`${request.output} already exists (--force overwrites it)`);
  }
  if (!isDirectory(dirname(request.output))) {
    throw new CommandError(`${request.output}: no such directory ${dirname(request.output)}`);
  }
  const made = await hashWithProgress(request);
  try {
    await writeFile(request.output, made.bytes, { flag: request.force ? "w" : "wx" });
  } catch (error) {
    throw new CommandError(`cannot write ${request.output}: ${(error as Error).message}`);
  }
  let registered: { status: number; transfer: Record<string, unknown> } | undefined;
  if (request.register) {
    try {
      registered = await registerTorrent(request.register, made.bytes);
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      throw new CommandError(
        `${request.output} is written (info hash ${made.infoHashHex}), but registering it failed: ${error.message}`,
      );
    }
  }
  if (request.json) {
    const result = {
      infoHash: made.infoHashHex,
      name: made.name,
      length: made.length,
      pieceLength: made.pieceLength,
      pieces: made.pieceCount,
      private: made.private,
      announce: request.announce,
      files: made.files,
      output: resolve(request.output),
      ...(registered && { registered }),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    process.stdout.write(describe(made, request.output, registered?.status));
  }
}

/** The request, or undefined for --help. Throws UsageError for anything that is not a valid command line. */
function parseCreate(args: string[]): CreateRequest | undefined {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(parseArgsProblem(error as Error & { code?: string }));
  }
  const { values, positionals } = parsed;
  const [action, source, ...extra] = positionals;
  if (values.help) return undefined;
  if (action === undefined) throw new UsageError("torrent needs a command: create");
  if (action !== "create") throw new UsageError(`unknown torrent command "${action}"`);
  if (source === undefined) throw new UsageError("torrent create needs a file or directory");
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (values.announce === undefined) throw new UsageError("torrent create needs --announce URL");
  const announce = checkUrl("--announce", values.announce, ["http:", "https:", "udp:"]);
  const name = values.name ?? defaultTorrentName(source);
  try {
    checkTorrentName(name);
  } catch (error) {
    throw new UsageError(`--name: ${(error as Error).message}`);
  }
  if (!values.register && (values.tracker !== undefined || values.token !== undefined)) {
    throw new UsageError("--tracker and --token go with --register");
  }
  return {
    source,
    announce,
    pieceLength: values["piece-length"] === undefined ? undefined : parsePieceLength(values["piece-length"]),
    name,
    output: values.output ?? `${name}.torrent`,
    force: values.force ?? false,
    private: !values.public,
    register: values.register ? apiTarget(values.tracker, values.token) : undefined,
    json: values.json ?? false,
  };
}

/** parseArgs' messages name options oddly ("Option '--x <value>' argument missing"): say it plainly. */
function parseArgsProblem(error: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(error.message)?.[1];
  if (error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option) return `unknown option "${option}"`;
  if (error.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option) return `${option} needs a value`;
  return error.message;
}

const SUFFIXES: Record<string, number> = { "": 1, k: 1024, kib: 1024, m: 1024 * 1024, mib: 1024 * 1024 };

/** `--piece-length`: bytes, or K/M (binary) multiples; a power of two from 16K to 64M. */
function parsePieceLength(text: string): number {
  const match = /^(\d+)(k|kib|m|mib)?$/i.exec(text.trim());
  if (!match) throw new UsageError(`--piece-length "${text}": expected bytes, e.g. 262144, 256K or 1M`);
  const bytes = Number(match[1]) * SUFFIXES[(match[2] ?? "").toLowerCase()]!;
  if (isValidPieceLength(bytes)) return bytes;
  // mktorrent's -l takes an exponent: someone used to it may write 18 for 256K.
  const exponent = Number(match[1]);
  const hint =
    match[2] === undefined && exponent >= 14 && exponent <= 26
      ? ` (2^${exponent} bytes is ${exactSize(2 ** exponent).replace(/ (.)iB$/, "$1")})`
      : "";
  throw new UsageError(`--piece-length ${text}: expected a power of two from 16K to 64M${hint}`);
}

/** A power of two of at least 1 KiB as `256 KiB` or `4 MiB`, exactly. */
const exactSize = (bytes: number) => (bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MiB` : `${bytes / 1024} KiB`);

function checkUrl(label: string, text: string, protocols: string[]): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || !protocols.includes(url.protocol) || url.hostname === "") {
    const names = protocols.map((p) => p.slice(0, -1));
    throw new UsageError(`${label} "${text}": expected an ${names.join(", ").replace(/, ([^,]*)$/, " or $1")} URL`);
  }
  return text;
}

/** Where --register goes: flags first, then the environment a deploy pipeline sets. */
function apiTarget(tracker: string | undefined, token: string | undefined): ApiTarget {
  const env = readCommandEnvironment();
  const fromEnv = tracker === undefined && env.url !== undefined;
  const url = tracker ?? env.url ?? DEFAULT_TRACKER_URL;
  checkUrl(fromEnv ? "P2PTRACKER_URL" : "--tracker", url, ["http:", "https:"]);
  return { url, token: token ?? env.token };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

// The bar is 30 cells; the whole line stays under 100 columns.
const BAR_WIDTH = 30;

/** buildTorrent with a progress line on stderr: bar, percentage, bytes, rate and ETA. */
async function hashWithProgress(request: CreateRequest): Promise<MadeTorrent> {
  const line = progressLine(process.stderr);
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  let made: MadeTorrent;
  try {
    made = await buildTorrent(
      request.source,
      { announce: request.announce, pieceLength: request.pieceLength, name: request.name, private: request.private },
      (hashed, total) => {
        const rate = hashed / Math.max(elapsed(), 1e-3);
        const percent = Math.floor((hashed / total) * 100);
        const eta = hashed > 0 ? formatDuration((total - hashed) / rate) : "--";
        line.update(
          `hashing ${renderBar(hashed / total, BAR_WIDTH)} ${String(percent).padStart(3)}%  ` +
            `${formatBytes(hashed)} / ${formatBytes(total)}  ${formatRate(rate)}  ETA ${eta}`,
        );
      },
    );
  } catch (error) {
    line.done();
    if (error instanceof TorrentMakeError) throw new CommandError(error.message);
    throw error;
  }
  const seconds = elapsed();
  line.done(`hashed ${formatBytes(made.length)} in ${formatDuration(seconds)} (${formatRate(made.length / seconds)})`);
  return made;
}

// A long file list would bury the summary: the first few, then a count.
const LISTED_FILES = 10;

/** The human summary of a made (and maybe registered) torrent. */
function describe(made: MadeTorrent, output: string, registeredStatus: number | undefined): string {
  const rows: Array<[string, string]> = [
    ["info hash", made.infoHashHex],
    ["name", made.name],
    ["size", `${formatBytes(made.length)} (${made.length} bytes)`],
    ["pieces", `${made.pieceCount} x ${exactSize(made.pieceLength)}`],
    ["files", made.multiFile ? String(made.files.length) : "1 (single file)"],
  ];
  const lines = rows.map(([label, value]) => `${label.padEnd(11)} ${value}`);
  if (made.multiFile) {
    for (const file of made.files.slice(0, LISTED_FILES))
      lines.push(`              ${file.path} (${formatBytes(file.length)})`);
    if (made.files.length > LISTED_FILES) lines.push(`              ... and ${made.files.length - LISTED_FILES} more`);
  }
  lines.push(`${"private".padEnd(11)} ${made.private ? "yes (no DHT or PEX)" : "no (--public)"}`);
  lines.push(`${"torrent".padEnd(11)} ${output}`);
  if (registeredStatus !== undefined) {
    lines.push(`${"registered".padEnd(11)} ${registeredStatus === 201 ? "yes" : "already registered"}`);
  }
  return `${lines.join("\n")}\n`;
}
