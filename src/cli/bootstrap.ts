/**
 * `p2ptracker bootstrap activate|deactivate`: registers or archives a transfer straight in
 * Redis, with the same settings as `serve`. For bootstrapping a site before any tracker
 * runs, or on a host that can reach Redis; everything else goes through the HTTP API.
 */

import { readFileSync } from "node:fs";
import { loadConfig } from "../config/config.js";
import { splitArguments } from "../config/sources.js";
import { loadScripts } from "../store/redis.js";
import { connectStore, storeMasters } from "../store/connect.js";
import { archiveTransfer, registerTransfer, type TransferStore } from "../store/transfers.js";
import { parseInfoHashHex, readTorrent } from "../wire/torrentFile.js";
import { CommandError, UsageError } from "./errors.js";

/** Runs `bootstrap <activate|deactivate> <target> [settings]`. */
export async function bootstrapCommand(args: string[]): Promise<void> {
  const { positional, flags } = splitArguments(args);
  const [action, target, ...extra] = positional;
  if (action !== "activate" && action !== "deactivate") {
    throw new UsageError(
      action === undefined ? "bootstrap needs activate or deactivate" : `unknown bootstrap command "${action}"`,
    );
  }
  if (target === undefined) throw new UsageError(`bootstrap ${action} needs a target`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const config = loadConfig(flags);
  let infoHashHex = parseInfoHashHex(target);
  let torrent: ReturnType<typeof readTorrent> | undefined;
  if (infoHashHex === undefined) {
    if (action === "deactivate") throw new UsageError(`"${target}" is not an info hash (40 hex digits)`);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(target);
    } catch {
      throw new UsageError(`"${target}" is neither an info hash (40 hex digits) nor a readable .torrent file`);
    }
    try {
      torrent = readTorrent(bytes, config.TORRENT_MAX_BYTES);
    } catch (error) {
      throw new CommandError(`${target}: ${(error as Error).message}`);
    }
    infoHashHex = torrent.infoHashHex;
  }
  const connection = await connectStore(config);
  const redis = connection.redis;
  try {
    for (const master of await storeMasters(connection)) await loadScripts(master);
    const store = redis as unknown as TransferStore;
    if (action === "activate") {
      const { status } = await registerTransfer(store, infoHashHex, torrent?.registration ?? {});
      if (status === "conflict") throw new CommandError(`${infoHashHex}: a different .torrent is registered`);
      const label = torrent ? ` (${torrent.name}, ${torrent.length} bytes)` : "";
      const outcome = {
        registered: "activated",
        "torrent-added": "already active, .torrent stored",
        unchanged: "already active",
      };
      console.log(`${infoHashHex}${label}: ${outcome[status]}`);
    } else {
      const result = await archiveTransfer(store, infoHashHex, config.ARCHIVE_TTL);
      if (result.status === "archived") {
        console.log(`${infoHashHex}: deactivated, archived as ${result.stamp} with ${result.peers} peers`);
      } else if (result.status === "unknown") {
        console.log(`${infoHashHex}: was not active`);
      } else {
        throw new CommandError(`${infoHashHex}: archived less than a second ago, try again`);
      }
    }
  } finally {
    await connection.close();
  }
}
