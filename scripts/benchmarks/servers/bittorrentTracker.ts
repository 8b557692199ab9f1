import Server from "bittorrent-tracker/server";

/**
 * webtorrent's bittorrent-tracker in HTTP mode (swarms in process memory), behind a
 * trusted proxy like p2ptracker. Usage: bittorrentTracker PORT
 */
const port = Number(process.argv[2]);
const server = new Server({ udp: false, ws: false, http: true, stats: false, trustProxy: true });
server.on("warning", () => undefined);
server.on("error", (error: Error) => process.stderr.write(`bittorrent-tracker: ${error.message}\n`));
server.listen(port, "127.0.0.1");
