#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { ConfigError, describeSettings, loadConfig, redisUrl } from "./config/config.js";
import { splitArguments } from "./config/sources.js";
import { connectRedis, loadScripts } from "./store/redis.js";
import { startTracker } from "./server.js";
import { parseInfoHashHex, summarizeTorrent } from "./wire/torrentFile.js";
import { activateTransfer, deactivateTransfer, type TransferStore } from "./store/transfers.js";
import { UsageError } from "./cli/errors.js";
import { torrentCommand } from "./cli/torrentCreate.js";

const USAGE = `usage:
  p2ptracker serve [--config FILE] [--<key> VALUE ...]
  p2ptracker transfer activate <file.torrent | INFOHASH> [--config FILE] [--<key> VALUE ...]
  p2ptracker transfer deactivate <INFOHASH> [--config FILE] [--<key> VALUE ...]
  p2ptracker torrent create <file-or-dir> --announce URL [-o FILE] [--register] [--json] (--help: all options)

Settings come from the config file (KEY = value lines), then P2PTRACKER_<KEY>
environment variables, then --<key> flags. Settings and defaults:
  ${describeSettings().join("\n  ")}
`;

async function serveCommand(args: string[]): Promise<void> {
  const tracker = await startTracker(loadConfig(args));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: stopping\n`);
    await tracker.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

async function transferCommand(args: string[]): Promise<void> {
  const { positional, flags } = splitArguments(args);
  const [action, target, ...extra] = positional;
  if (action !== "activate" && action !== "deactivate") {
    throw new UsageError(
      action === undefined ? "transfer needs activate or deactivate" : `unknown transfer command "${action}"`,
    );
  }
  if (target === undefined) throw new UsageError(`transfer ${action} needs a target`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const config = loadConfig(flags);
  let infoHashHex = parseInfoHashHex(target);
  let name = "";
  let length = "";
  if (infoHashHex === undefined) {
    if (action === "deactivate") throw new UsageError(`"${target}" is not an info hash (40 hex digits)`);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(target);
    } catch {
      throw new UsageError(`"${target}" is neither an info hash (40 hex digits) nor a readable .torrent file`);
    }
    const torrent = summarizeTorrent(bytes);
    ({ infoHashHex, name } = torrent);
    length = torrent.length.toString();
  }
  const redis = await connectRedis({ url: redisUrl(config), commandTimeoutMs: config.REDIS_TIMEOUT_MS });
  try {
    await loadScripts(redis);
    const store = redis as unknown as TransferStore;
    if (action === "activate") {
      const fresh = await activateTransfer(store, infoHashHex, name, length);
      const label = name ? ` (${name}, ${length} bytes)` : "";
      console.log(`${infoHashHex}${label}: ${fresh ? "activated" : "already active"}`);
    } else {
      const { wasActive, peersRemoved } = await deactivateTransfer(store, infoHashHex);
      console.log(`${infoHashHex}: ${wasActive ? `deactivated, ${peersRemoved} peers dropped` : "was not active"}`);
    }
  } finally {
    await redis.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === "serve") return serveCommand(args);
  if (command === "transfer") return transferCommand(args);
  if (command === "torrent") return torrentCommand(args);
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return;
  }
  throw new UsageError(`unknown command "${command}"`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`p2ptracker: ${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  const message =
    error instanceof ConfigError
      ? `config error: ${error.message.split("\n").join("\nconfig error: ")}`
      : `p2ptracker: ${(error as Error).message}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
