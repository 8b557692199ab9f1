#!/usr/bin/env node
/** The `p2ptracker` command: runs the tracker and the operators' commands. */

import { ConfigError, describeSettings, loadConfig } from "./config/config.js";
import { CommandError, EXIT, UsageError } from "./cli/errors.js";

const USAGE = `usage:
  p2ptracker serve [--config FILE] [--<key> VALUE ...]
  p2ptracker bootstrap activate <file.torrent | INFOHASH> [--config FILE] [--<key> VALUE ...]
  p2ptracker bootstrap deactivate <INFOHASH> [--config FILE] [--<key> VALUE ...]
      (straight to Redis, for bootstrapping; the commands below use the HTTP API)
  p2ptracker torrent create <file-or-dir> --announce URL [-o FILE] [--register] [--json] (--help: all options)
  p2ptracker transfer register|activate|deactivate|list|show|peers|wait ... [--tracker URL] [--token TOKEN] [--json]
      (p2ptracker transfer --help)
  p2ptracker rack resolve <IP> [--tracker URL] [--json]

Settings come from the config file (KEY = value lines), then P2PTRACKER_<KEY>
environment variables, then --<key> flags. Settings and defaults:
  ${describeSettings().join("\n  ")}
`;

async function serveCommand(args: string[]): Promise<void> {
  const { startTracker } = await import("./server.js");
  const { log } = await import("./log.js");
  const tracker = await startTracker(loadConfig(args));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    await tracker.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === "serve") return serveCommand(args);
  // Each command loads only its own modules: an operator's command starts without the
  // tracker's Redis client, HTTP server and scripts.
  if (command === "bootstrap") return (await import("./cli/bootstrap.js")).bootstrapCommand(args);
  if (command === "torrent") return (await import("./cli/torrentCreate.js")).torrentCommand(args);
  if (command === "transfer") return (await import("./cli/transfer.js")).transferCommand(args);
  if (command === "rack") return (await import("./cli/rack.js")).rackCommand(args);
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return;
  }
  throw new UsageError(`unknown command "${command}"`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`p2ptracker: ${error.message}\n\n${error.usage ?? USAGE}`);
    process.exit(EXIT.usage);
  }
  const message =
    error instanceof ConfigError
      ? `config error: ${error.message.split("\n").join("\nconfig error: ")}`
      : `p2ptracker: ${(error as Error).message}`;
  process.stderr.write(`${message}\n`);
  process.exit(error instanceof CommandError ? error.exitCode : EXIT.failed);
});
