/**
 * Real BitTorrent clients started with the client configs shipped in etc/, for end-to-end
 * tests. Each launcher starts one client with the shipped file as it stands and overrides
 * only what a test must: where files go, the loopback address the client binds to (which
 * is its rack), and for rtorrent the announce period, which the test shortens with the
 * tracker's interval. The qBittorrent and libtorrent setups live in etc/README.md, not in
 * files: their launchers take them from the README's code blocks.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildTorrent } from "../../src/wire/torrentMake.js";

/** The repository's etc/ directory (this file runs from dist/test/helpers/). */
export const ETC = fileURLToPath(new URL("../../../etc/", import.meta.url));
export const ARIA2_CONF = join(ETC, "aria2.conf");
export const RTORRENT_RC = join(ETC, "rtorrent.rc");
export const TRANSMISSION_SETTINGS = join(ETC, "transmission", "settings.json");
export const ETC_README = join(ETC, "README.md");

/** The one fenced block of `lang` in the `## section` of etc/README.md, as written there. */
export function readmeBlock(section: string, lang: string): string {
  const text = readFileSync(ETC_README, "utf8");
  const start = text.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`etc/README.md has no section "## ${section}"`);
  const end = text.indexOf("\n## ", start + 1);
  const body = text.slice(start, end < 0 ? undefined : end);
  const blocks = [...body.matchAll(new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```$", "gm"))];
  if (blocks.length !== 1)
    throw new Error(`etc/README.md "## ${section}": ${blocks.length} \`\`\`${lang} blocks, not 1`);
  return blocks[0]![1]!;
}

/** A build as the build server has it: the payload on disk and its .torrent. */
export interface TestTorrent {
  readonly torrent: string;
  readonly infoHashHex: string;
  /** The directory that holds the payload, as /srv/builds does on the build server. */
  readonly buildDir: string;
  readonly file: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * Writes a random payload into `dir`/build and its .torrent into `dir`, made as
 * `p2ptracker torrent create` makes it: every torrent of these tests comes from here, so
 * each client here also shows it accepts the project's own torrents. It is public unless
 * asked otherwise, on purpose: a private torrent would turn DHT and PEX off in every
 * client, whatever its config says.
 */
export async function makeTestTorrent(
  dir: string,
  announce: string,
  size: number,
  { privateFlag = false } = {},
): Promise<TestTorrent> {
  const buildDir = join(dir, "build");
  const file = "payload.bin";
  mkdirSync(buildDir, { recursive: true });
  const payload = randomBytes(size);
  writeFileSync(join(buildDir, file), payload);
  const torrent = join(dir, "payload.torrent");
  const made = await buildTorrent(join(buildDir, file), { announce, pieceLength: 256 * 1024, private: privateFlag });
  writeFileSync(torrent, made.bytes);
  const sha256 = createHash("sha256").update(payload).digest("hex");
  return { torrent, infoHashHex: made.infoHashHex, buildDir, file, size: payload.length, sha256 };
}

/** A client process started by a test. */
export interface RunningClient {
  readonly name: string;
  /** The loopback address it binds to, for peers and for the tracker. */
  readonly ip: string;
  /** Where it saves the torrent's files. */
  readonly downloadDir: string;
  readonly child: ChildProcess;
  /** The tail of its console output and log file, for failure messages. */
  output(): string;
}

/** What every launcher needs: a name for messages, an address and a directory of its own. */
export interface ClientOptions {
  readonly name: string;
  readonly ip: string;
  readonly workDir: string;
  /** The .torrent to start. */
  readonly torrent: string;
}

const TAIL = 4000;

function launch(
  options: ClientOptions,
  downloadDir: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  logFile?: string,
): RunningClient {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let consoleTail = "";
  const keep = (chunk: Buffer | string) => (consoleTail = (consoleTail + chunk.toString()).slice(-TAIL));
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("error", (error) => keep(`spawn ${command}: ${error.message}\n`));
  const output = () => {
    const log = logFile && existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-TAIL) : "";
    return `${command} ${args.join(" ")}\n${consoleTail}${log ? `--- ${logFile}\n${log}` : ""}`;
  };
  return { name: options.name, ip: options.ip, downloadDir, child, output };
}

/**
 * aria2c with etc/aria2.conf, as the README runs it: one process per transfer. `extra`
 * options go on the command line (e.g. the build server's --check-integrity=true).
 */
export function startAria2(options: ClientOptions & { readonly dir?: string; extra?: string[] }): RunningClient {
  const dir = options.dir ?? join(options.workDir, "downloads");
  mkdirSync(dir, { recursive: true });
  const args = [
    `--conf-path=${ARIA2_CONF}`,
    // Binds its listening socket and its tracker requests, so the tracker sees its rack.
    `--interface=${options.ip}`,
    `--dir=${dir}`,
    ...(options.extra ?? []),
    options.torrent,
  ];
  return launch(options, dir, "aria2c", args);
}

/**
 * rtorrent with etc/rtorrent.rc, headless (the rc sets daemon mode). HOME is the client's
 * work directory, which holds the rc's ~/session/, ~/watch/ and ~/rtorrent.log; the
 * torrent is started by dropping it into ~/watch/, as on a deploy host.
 */
export function startRtorrent(options: ClientOptions & { readonly announceSeconds: number }): RunningClient {
  const home = options.workDir;
  const downloadDir = join(home, "downloads");
  mkdirSync(join(home, "watch"), { recursive: true });
  mkdirSync(downloadDir, { recursive: true });
  copyFileSync(options.torrent, join(home, "watch", basename(options.torrent)));
  // -o runs one command with one argument; -O parses a whole config line, as the rc does.
  const args = [
    "-n",
    "-o",
    `import=${RTORRENT_RC}`,
    "-O",
    `directory.default.set = ${downloadDir}/`,
    "-O",
    `network.bind_address.set = ${options.ip}`,
    // The same command as the rc's schedule, at the test tracker's interval.
    "-O",
    `schedule2 = p2ptracker_announce, ${options.announceSeconds}, ${options.announceSeconds}, ((p2ptracker.announce))`,
  ];
  return launch(options, downloadDir, "rtorrent", args, { ...process.env, HOME: home }, join(home, "rtorrent.log"));
}

/** A running transmission-daemon: its client and the port of its RPC interface. */
export interface RunningTransmission extends RunningClient {
  readonly rpcPort: number;
}

/**
 * transmission-daemon in the foreground with a copy of etc/transmission/settings.json as
 * its settings (the daemon writes its settings back on exit). The torrent goes into the
 * watch directory, as on a deploy host.
 */
export function startTransmission(options: ClientOptions & { readonly rpcPort: number }): RunningTransmission {
  const configDir = join(options.workDir, "config");
  const downloadDir = join(options.workDir, "downloads");
  const watchDir = join(options.workDir, "watch");
  for (const dir of [configDir, downloadDir, watchDir]) mkdirSync(dir, { recursive: true });
  copyFileSync(TRANSMISSION_SETTINGS, join(configDir, "settings.json"));
  copyFileSync(options.torrent, join(watchDir, basename(options.torrent)));
  const args = [
    "--foreground",
    ...["--config-dir", configDir],
    ...["--download-dir", downloadDir],
    ...["--watch-dir", watchDir],
    ...["--bind-address-ipv4", options.ip],
    // Its RPC interface (127.0.0.1 in the settings) on a free port, not 9091.
    ...["--port", String(options.rpcPort)],
  ];
  return { ...launch(options, downloadDir, "transmission-daemon", args), rpcPort: options.rpcPort };
}

/**
 * An ini file with some keys set: each replaces the key's line in its section, or joins
 * the section (added at the end if the file has none). Keys are written as in the file,
 * e.g. `Session\\Port` in `[BitTorrent]`.
 */
export function setIniKeys(ini: string, overrides: Record<string, Record<string, string>>): string {
  const lines = ini.split("\n");
  for (const [section, keys] of Object.entries(overrides)) {
    let header = lines.indexOf(`[${section}]`);
    if (header < 0) {
      lines.push(`[${section}]`);
      header = lines.length - 1;
    }
    let end = lines.findIndex((line, i) => i > header && line.startsWith("["));
    if (end < 0) end = lines.length;
    for (const [key, value] of Object.entries(keys)) {
      const at = lines.findIndex((line, i) => i > header && i < end && line.startsWith(`${key}=`));
      if (at >= 0) lines[at] = `${key}=${value}`;
      else lines.splice(end++, 0, `${key}=${value}`);
    }
  }
  return lines.join("\n");
}

/** A running qbittorrent-nox: its client and the port of its WebUI. */
export interface RunningQbittorrent extends RunningClient {
  readonly webUiPort: number;
}

/**
 * qbittorrent-nox with the qBittorrent.conf of etc/README.md, in a HOME of its own (so
 * ~/.config/qBittorrent/qBittorrent.conf). Overridden: the save path, the listen port,
 * the address it binds (its rack) and the WebUI port; the legal notice is accepted, as
 * qBittorrent 4.5 otherwise asks for it on the terminal.
 */
export function startQbittorrent(
  options: ClientOptions & { readonly listenPort: number; readonly webUiPort: number },
): RunningQbittorrent {
  const home = options.workDir;
  const downloadDir = join(home, "downloads");
  const configDir = join(home, ".config", "qBittorrent");
  for (const dir of [downloadDir, configDir]) mkdirSync(dir, { recursive: true });
  const conf = setIniKeys(readmeBlock("qBittorrent", "ini"), {
    BitTorrent: {
      "Session\\DefaultSavePath": downloadDir,
      "Session\\Port": String(options.listenPort),
      "Session\\InterfaceAddress": options.ip,
    },
    Preferences: { "WebUI\\Port": String(options.webUiPort) },
    LegalNotice: { Accepted: "true" },
  });
  writeFileSync(join(configDir, "qBittorrent.conf"), conf);
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  for (const name of ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"]) delete env[name];
  const client = launch(options, downloadDir, "qbittorrent-nox", [], env);
  return { ...client, webUiPort: options.webUiPort };
}

/**
 * The Python script of etc/README.md (libtorrent-rasterbar), run as the README runs it:
 * `python3 seed.py TORRENT SAVE_PATH LISTEN ACTIVE_INTERVAL`. Debian's python3, which has
 * the python3-libtorrent binding (another python3 on PATH may not).
 */
export function startLibtorrentScript(
  options: ClientOptions & { readonly listenPort: number; readonly activeInterval: number },
): RunningClient {
  const downloadDir = join(options.workDir, "downloads");
  mkdirSync(downloadDir, { recursive: true });
  const script = join(options.workDir, "seed.py");
  writeFileSync(script, readmeBlock("libtorrent-rasterbar", "python"));
  const args = [
    script,
    options.torrent,
    downloadDir,
    `${options.ip}:${options.listenPort}`,
    String(options.activeInterval),
  ];
  return launch(options, downloadDir, "/usr/bin/python3", args);
}

/** Whether the client process is still alive. */
export const isRunning = (client: RunningClient) => client.child.exitCode === null && client.child.signalCode === null;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * The build server, started as the README starts it: aria2c checks the build already on
 * disk, announces complete, and is the transfer's origin. Resolves once `announced` says
 * the tracker has it. `extra` options go on its command line.
 */
export async function startOrigin(
  build: TestTorrent,
  ip: string,
  announced: () => Promise<boolean>,
  extra: string[] = [],
): Promise<RunningClient> {
  const origin = startAria2({
    name: "origin",
    ip,
    workDir: build.buildDir,
    dir: build.buildDir,
    torrent: build.torrent,
    extra: ["--check-integrity=true", ...extra],
  });
  for (const deadline = Date.now() + 20_000; !(await announced()); await sleep(200)) {
    if (!isRunning(origin)) throw new Error(`the origin exited\n${origin.output()}`);
    if (Date.now() > deadline) {
      await stopClient(origin);
      throw new Error(`the origin never announced\n${origin.output()}`);
    }
  }
  return origin;
}

/** A condition checked before the file is hashed, and what it means, for messages. */
export interface Gate {
  readonly check: () => Promise<boolean>;
  readonly description: string;
}

/**
 * Waits until `file` of the client's download holds bytes with the given sha256. The
 * optional gate (say, "the tracker has it as a seeder") is checked first, so a large file
 * is not hashed at every poll. Fails at once if the client exits, and with its output on
 * timeout.
 */
export async function waitForDownload(
  client: RunningClient,
  expected: { readonly file: string; readonly size: number; readonly sha256: string },
  timeoutMs: number,
  gate: Gate = { check: async () => true, description: "" },
): Promise<void> {
  const path = join(client.downloadDir, expected.file);
  const deadline = Date.now() + timeoutMs;
  let problem = `not yet: ${gate.description}`;
  for (;;) {
    if (!isRunning(client)) throw new Error(`${client.name} exited (${client.child.exitCode})\n${client.output()}`);
    if (await gate.check()) {
      if (!existsSync(path)) problem = `${path} does not exist`;
      else if (statSync(path).size !== expected.size) problem = `${path} has ${statSync(path).size} bytes`;
      else if (sha256File(path) !== expected.sha256) problem = `${path} has other bytes`;
      else return;
    }
    if (Date.now() > deadline) {
      throw new Error(`${client.name}: no download after ${timeoutMs} ms (${problem})\n${client.output()}`);
    }
    await sleep(200);
  }
}

/** Stops a client by its PID: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
export async function stopClient(client: RunningClient, graceMs = 5000): Promise<void> {
  if (!isRunning(client) || client.child.pid === undefined) return;
  const exited = new Promise((r) => client.child.once("exit", r));
  client.child.kill("SIGTERM");
  const timer = setTimeout(() => client.child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Local addresses of the UDP sockets a process holds (DHT and LPD need one; TCP peers do not). */
export function udpSockets(pid: number): Promise<string[]> {
  return new Promise((done, fail) => {
    execFile("ss", ["-uanpH"], (error, stdout) => {
      if (error) return fail(new Error(`ss: ${error.message}`));
      const lines = stdout.split("\n").filter((line) => line.includes(`pid=${pid},`));
      done(lines.map((line) => line.trim().split(/\s+/)[3] ?? line));
    });
  });
}

/** Settings of a running transmission-daemon, from its RPC interface (`session-get`). */
export async function transmissionSession(rpcPort: number): Promise<Record<string, unknown>> {
  const url = `http://127.0.0.1:${rpcPort}/transmission/rpc`;
  const body = JSON.stringify({ method: "session-get" });
  // The first request is refused with the session id (CSRF protection) that the second carries.
  let sessionId = "";
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await fetch(url, { method: "POST", body, headers: { "X-Transmission-Session-Id": sessionId } });
    if (response.status === 409) {
      sessionId = response.headers.get("X-Transmission-Session-Id") ?? "";
      continue;
    }
    const reply = (await response.json()) as { result?: string; arguments?: Record<string, unknown> };
    if (reply.result !== "success" || !reply.arguments) throw new Error(`session-get: ${JSON.stringify(reply)}`);
    return reply.arguments;
  }
  throw new Error("session-get: no session id");
}

/**
 * When the tracker last heard from `client` as a seeder of the transfer (score of its rack's
 * seeder set; racks are the tracker's default /24 subnets); undefined while it is none.
 */
export async function seenAsSeeder(
  redis: { zRangeWithScores(key: string, start: number, stop: number): Promise<Array<{ score: number }>> },
  infoHashHex: string,
  client: Pick<RunningClient, "ip">,
): Promise<number | undefined> {
  const key = `{${infoHashHex}}:rack:${client.ip.replace(/\d+$/, "0")}/24:S`;
  const [entry] = await redis.zRangeWithScores(key, 0, -1);
  return entry?.score;
}

/** aria2c flags for a client a test drives itself, without a config file. */
export const ARIA2_TEST_FLAGS = [
  "--no-conf=true",
  // Tracker only: no DHT, PEX or LPD, so every peer a client meets came from the tracker.
  "--enable-dht=false",
  "--enable-dht6=false",
  "--bt-enable-lpd=false",
  "--enable-peer-exchange=false",
  "--listen-port=6881-6889",
  "--bt-tracker-interval=2",
  "--file-allocation=none",
  "--summary-interval=0",
  "--console-log-level=warn",
  "--log-level=info",
  "--allow-overwrite=true",
  "--bt-hash-check-seed=true",
  "--follow-torrent=false",
  "--bt-stop-timeout=0",
  "--check-certificate=false",
  // Keep seeding until killed, so every finished leecher goes on serving its rack.
  "--seed-ratio=0.0",
  // A seeding aria2c drops its .aria2 control file only at its next auto-save (default 60 s).
  "--auto-save-interval=1",
];
