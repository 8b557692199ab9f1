import { ARIA2_TEST_FLAGS } from "./helpers/clients.js";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import bencode from "bencode";
import { activateTransfer, type TransferStore } from "../src/store/transfers.js";
import { autoPieceLength, buildTorrent, isValidPieceLength } from "../src/wire/torrentMake.js";
import { readTorrent } from "../src/wire/torrentFile.js";

/** Reads a .torrent the way the tracker checks uploads. */
const summarizeTorrent = (bytes: Uint8Array) => readTorrent(bytes, Number.MAX_SAFE_INTEGER);
import { cleanEnv, MAIN, runCli } from "./helpers/cli.js";
import { text } from "./helpers/http.js";
import { freePort } from "./helpers/redisServer.js";
import { trackerFixture } from "./helpers/tracker.js";

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const ANNOUNCE = "http://127.0.0.1:6969/announce";
const VERSION = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha1 = (data: Uint8Array) => createHash("sha1").update(data).digest();
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

type Metainfo = { announce: Uint8Array; "created by": Uint8Array; "creation date": number; info: Info };
type Info = {
  name: Uint8Array;
  "piece length": number;
  pieces: Uint8Array;
  length?: number;
  files?: Array<{ length: number; path: Uint8Array[] }>;
  private?: number;
};
const decodeTorrent = (bytes: Uint8Array) => bencode.decode(bytes) as Metainfo;

/** Asserts `pieces` is the SHA-1 of each `pieceLength` slice of `payload`, in order. */
function assertPieces(info: Info, payload: Buffer): void {
  const pieceLength = info["piece length"];
  const count = Math.ceil(payload.length / pieceLength);
  assert.equal(info.pieces.length, 20 * count, "20 bytes per piece, ceil(total / piece length) pieces");
  for (let i = 0; i < count; i++) {
    const expected = sha1(payload.subarray(i * pieceLength, (i + 1) * pieceLength));
    assert.deepEqual(Buffer.from(info.pieces.subarray(i * 20, i * 20 + 20)), expected, `piece ${i} of ${count}`);
  }
}

/** Writes each `path -> bytes` under `root`, making folders as needed. */
function writeTree(root: string, files: Record<string, Uint8Array>): void {
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), bytes);
  }
}

/** A sparse file of `size` bytes (holes read as zeros, take no disk). */
function sparseFile(path: string, size: number): void {
  const fd = openSync(path, "w");
  ftruncateSync(fd, size);
  closeSync(fd);
}

describe("torrent create", () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), "p2ptracker-torrent-"));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  describe("piece length", () => {
    it("follows mktorrent's rule: 32 KiB up to 50 MiB, doubling with each bound, 16 MiB above 12800 MiB", () => {
      const bounds: Array<[number, number]> = [
        [50 * MIB, 32 * KIB],
        [100 * MIB, 64 * KIB],
        [200 * MIB, 128 * KIB],
        [400 * MIB, 256 * KIB],
        [800 * MIB, 512 * KIB],
        [1600 * MIB, 1 * MIB],
        [3200 * MIB, 2 * MIB],
        [6400 * MIB, 4 * MIB],
        [12800 * MIB, 8 * MIB],
      ];
      assert.equal(autoPieceLength(1), 32 * KIB);
      for (const [bound, pieceLength] of bounds) {
        assert.equal(autoPieceLength(bound), pieceLength, `at ${bound / MIB} MiB`);
        assert.equal(autoPieceLength(bound + 1), pieceLength * 2, `just past ${bound / MIB} MiB`);
      }
      assert.equal(autoPieceLength(2 ** 50), 16 * MIB);
    });

    it("accepts only powers of two from 16 KiB to 64 MiB", () => {
      for (const ok of [16 * KIB, 32 * KIB, 1 * MIB, 64 * MIB]) assert.ok(isValidPieceLength(ok), String(ok));
      for (const bad of [0, 8 * KIB, 16 * KIB - 1, 16 * KIB + 1, 48 * KIB, 128 * MIB, 1.5, NaN]) {
        assert.ok(!isValidPieceLength(bad), String(bad));
      }
    });
  });

  describe("building", () => {
    it("a single file: length, name, pieces, private flag, created by, creation date", async () => {
      const payload = randomBytes(5 * 16 * KIB + 123);
      const path = join(work, "single.bin");
      writeFileSync(path, payload);
      const before = Math.floor(Date.now() / 1000);
      const made = await buildTorrent(path, { announce: ANNOUNCE, pieceLength: 16 * KIB, private: true });
      const metainfo = decodeTorrent(made.bytes);
      assert.equal(text(metainfo.announce), ANNOUNCE);
      assert.equal(text(metainfo["created by"]), `p2ptracker ${VERSION}`);
      assert.ok(Math.abs(metainfo["creation date"] - before) <= 5, "creation date is now, in seconds");
      const { info } = metainfo;
      assert.deepEqual(Object.keys(info).sort(), ["length", "name", "piece length", "pieces", "private"]);
      assert.equal(text(info.name), "single.bin");
      assert.equal(info.length, payload.length);
      assert.equal(info["piece length"], 16 * KIB);
      assert.equal(info.private, 1);
      assertPieces(info, payload);
      assert.equal(made.pieceCount, 6);
      assert.deepEqual(made.files, [{ path: "single.bin", length: payload.length }]);
      assert.equal(made.multiFile, false);
      assert.equal(summarizeTorrent(made.bytes).infoHashHex, made.infoHashHex);
      assert.equal(made.infoHashHex, sha1(bencode.encode(info)).toString("hex").toUpperCase());
    });

    it("a directory: files sorted by path in nested folders, pieces across file boundaries", async () => {
      const root = join(work, "tree");
      // Sizes not multiples of the piece length, so pieces straddle files; an empty file too.
      const files: Record<string, Uint8Array> = {
        "b.bin": randomBytes(40_000),
        "a/z.txt": randomBytes(7),
        "a/deep/er/x.dat": randomBytes(70_001),
        "a-b.bin": randomBytes(16 * KIB),
        "A.bin": randomBytes(1000),
        "a/empty": new Uint8Array(0),
      };
      writeTree(root, files);
      // Byte order of the "/"-joined paths, as mktorrent sorts ("-" 0x2d before "/" 0x2f).
      const order = ["A.bin", "a-b.bin", "a/deep/er/x.dat", "a/empty", "a/z.txt", "b.bin"];
      const progress: Array<[number, number]> = [];
      const made = await buildTorrent(
        root,
        { announce: ANNOUNCE, pieceLength: 16 * KIB, private: true },
        (hashed, total) => progress.push([hashed, total]),
      );
      const { info } = decodeTorrent(made.bytes);
      assert.equal(text(info.name), "tree");
      assert.equal(info.length, undefined, "a multi-file info has files, not length");
      assert.deepEqual(
        info.files!.map((f) => ({ path: f.path.map(text).join("/"), length: f.length })),
        order.map((path) => ({ path, length: files[path]!.length })),
      );
      for (const file of info.files!) assert.deepEqual(Object.keys(file).sort(), ["length", "path"]);
      const payload = Buffer.concat(order.map((path) => files[path]!));
      assertPieces(info, payload);
      assert.equal(made.length, payload.length);
      assert.equal(made.pieceCount, Math.ceil(payload.length / (16 * KIB)));
      assert.equal(summarizeTorrent(made.bytes).infoHashHex, made.infoHashHex);
      assert.equal(summarizeTorrent(made.bytes).length, BigInt(payload.length));

      assert.deepEqual(progress[0], [0, payload.length]);
      assert.deepEqual(progress.at(-1), [payload.length, payload.length]);
      for (let i = 1; i < progress.length; i++)
        assert.ok(progress[i]![0] >= progress[i - 1]![0], "progress only grows");

      const again = await buildTorrent(root, { announce: ANNOUNCE, pieceLength: 16 * KIB, private: true });
      assert.equal(again.infoHashHex, made.infoHashHex, "the same tree gives the same info hash");
    });

    it("the automatic piece length, --name and the public variant change only what they should", async () => {
      const path = join(work, "auto.bin");
      writeFileSync(path, randomBytes(100 * KIB));
      const made = await buildTorrent(path, { announce: ANNOUNCE, name: "renamed.bin", private: false });
      const { info } = decodeTorrent(made.bytes);
      assert.equal(info["piece length"], 32 * KIB);
      assert.equal(text(info.name), "renamed.bin");
      assert.equal(info.private, undefined, "a public torrent has no private key at all");
      assert.equal(made.private, false);
    });

    const refusals: Array<[string, (dir: string) => string, RegExp]> = [
      ["a missing path", (dir) => join(dir, "nothing-here"), /nothing-here: no such file or directory/],
      [
        "an empty directory",
        (dir) => (mkdirSync(join(dir, "empty", "sub"), { recursive: true }), join(dir, "empty")),
        /empty: the directory has no files/,
      ],
      [
        "a directory of empty files",
        (dir) => (
          writeTree(join(dir, "zeros"), { a: new Uint8Array(0), "b/c": new Uint8Array(0) }),
          join(dir, "zeros")
        ),
        /zeros: nothing to share, every file is empty/,
      ],
      [
        "an empty file",
        (dir) => (writeFileSync(join(dir, "zero.bin"), ""), join(dir, "zero.bin")),
        /every file is empty/,
      ],
      [
        "a symlink loop back to a parent",
        (dir) => {
          writeTree(join(dir, "looping"), { "sub/file": randomBytes(10) });
          symlinkSync("..", join(dir, "looping", "sub", "up"));
          return join(dir, "looping");
        },
        /looping\/sub\/up: symbolic link loop/,
      ],
      [
        "a symlink to itself",
        (dir) => {
          writeTree(join(dir, "selfish"), { file: randomBytes(10) });
          symlinkSync("me", join(dir, "selfish", "me"));
          return join(dir, "selfish");
        },
        /selfish\/me: symbolic link loop/,
      ],
      [
        "a broken symlink",
        (dir) => {
          writeTree(join(dir, "broken"), { file: randomBytes(10) });
          symlinkSync("gone", join(dir, "broken", "link"));
          return join(dir, "broken");
        },
        /broken\/link: no such file or directory \(or a broken symbolic link\)/,
      ],
    ];
    for (const [label, make, message] of refusals) {
      it(`refuses ${label}`, async () => {
        const dir = mkdtempSync(join(work, "refuse-"));
        await assert.rejects(buildTorrent(make(dir), { announce: ANNOUNCE, private: true }), message);
      });
    }

    it("refuses a piece length that is not a power of two from 16 KiB to 64 MiB, and a name with a slash", async () => {
      const path = join(work, "small.bin");
      writeFileSync(path, randomBytes(100));
      for (const pieceLength of [8 * KIB, 48 * KIB, 128 * MIB]) {
        await assert.rejects(
          buildTorrent(path, { announce: ANNOUNCE, pieceLength, private: true }),
          /expected a power of two from 16 KiB to 64 MiB/,
        );
      }
      await assert.rejects(
        buildTorrent(path, { announce: ANNOUNCE, name: "a/b", private: true }),
        /"a\/b" cannot be a torrent name/,
      );
    });
  });

  describe("the command", () => {
    let dir: string;
    let payload: Record<string, Uint8Array>;
    before(() => {
      dir = join(work, "cli");
      payload = { "one.bin": randomBytes(70_000), "nested/two.bin": randomBytes(50_000) };
      writeTree(join(dir, "build-7"), payload);
    });
    const torrentOf = (path: string) => decodeTorrent(readFileSync(path));

    it("writes NAME.torrent here, private by default, and says what it made", async () => {
      const result = await runCli(["torrent", "create", "build-7", "--announce", ANNOUNCE], {}, dir);
      assert.equal(result.code, 0, result.stderr);
      const bytes = readFileSync(join(dir, "build-7.torrent"));
      const { infoHashHex } = summarizeTorrent(bytes);
      const { info } = decodeTorrent(bytes);
      assert.equal(info.private, 1);
      assert.equal(info["piece length"], 32 * KIB);
      const lines = result.stdout.split("\n");
      assert.ok(lines.includes(`info hash   ${infoHashHex}`), result.stdout);
      assert.ok(lines.includes("name        build-7"), result.stdout);
      assert.ok(lines.includes("size        117 KiB (120000 bytes)"), result.stdout);
      assert.ok(lines.includes("pieces      4 x 32 KiB"), result.stdout);
      assert.ok(lines.includes("files       2"), result.stdout);
      assert.ok(lines.includes("              nested/two.bin (48.8 KiB)"), result.stdout);
      assert.ok(lines.includes("private     yes (no DHT or PEX)"), result.stdout);
      assert.ok(lines.includes("torrent     build-7.torrent"), result.stdout);
      // stderr is not a terminal here: no bar redrawn, one final line.
      assert.match(result.stderr, /^hashed 117 KiB in \d+s \([^)]+\/s\)\n$/);
    });

    it("--public leaves the private flag off; --piece-length and --name are used", async () => {
      const out = join(dir, "public.torrent");
      const args = ["--public", "--piece-length", "64K", "--name", "renamed", "-o", out];
      const result = await runCli(["torrent", "create", join(dir, "build-7"), "--announce", ANNOUNCE, ...args]);
      assert.equal(result.code, 0, result.stderr);
      const { info } = torrentOf(out);
      assert.equal(info.private, undefined);
      assert.equal(info["piece length"], 64 * KIB);
      assert.equal(text(info.name), "renamed");
      assert.match(result.stdout, /^private {5}no \(--public\)$/m);
    });

    it("--json prints one JSON object and nothing else on stdout", async () => {
      const out = join(dir, "json.torrent");
      const result = await runCli(
        [
          "torrent",
          "create",
          join(dir, "build-7"),
          "--announce",
          ANNOUNCE,
          "-o",
          out,
          "--json",
          "--piece-length",
          "16384",
        ],
        {},
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim().split("\n").length, 1);
      const json = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.deepEqual(json, {
        infoHash: summarizeTorrent(readFileSync(out)).infoHashHex,
        name: "build-7",
        length: 120_000,
        pieceLength: 16 * KIB,
        pieces: Math.ceil(120_000 / (16 * KIB)),
        private: true,
        announce: ANNOUNCE,
        files: [
          { path: "nested/two.bin", length: 50_000 },
          { path: "one.bin", length: 70_000 },
        ],
        output: out,
      });
    });

    it("refuses to overwrite a file unless --force", async () => {
      const out = join(dir, "taken.torrent");
      writeFileSync(out, "precious");
      const args = ["torrent", "create", join(dir, "build-7"), "--announce", ANNOUNCE, "-o", out];
      const refused = await runCli(args);
      assert.equal(refused.code, 1);
      assert.equal(refused.stderr, `p2ptracker: ${out} already exists (--force overwrites it)\n`);
      assert.equal(readFileSync(out, "utf8"), "precious");
      const forced = await runCli([...args, "--force"]);
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(summarizeTorrent(readFileSync(out)).name, "build-7");
    });

    it("--register to a tracker that does not answer: exit 1, and the .torrent is still written", async () => {
      const out = join(dir, "registered.torrent");
      const closed = `http://127.0.0.1:${await freePort()}`;
      const result = await runCli([
        "torrent",
        "create",
        join(dir, "build-7"),
        "--announce",
        ANNOUNCE,
        "-o",
        out,
        "--register",
        "--tracker",
        closed,
      ]);
      assert.equal(result.code, 1);
      const { infoHashHex } = summarizeTorrent(readFileSync(out));
      assert.match(
        result.stderr,
        new RegExp(
          `^p2ptracker: ${out} is written \\(info hash ${infoHashHex}\\), but registering it failed: ` +
            `cannot reach the tracker at ${closed}: .+\n$`,
          "m",
        ),
      );
      assert.equal(result.stdout, "");
    });

    it("--register finds the tracker in P2PTRACKER_URL", async () => {
      const out = join(dir, "registered-env.torrent");
      const closed = `http://127.0.0.1:${await freePort()}`;
      const result = await runCli(
        ["torrent", "create", join(dir, "build-7"), "--announce", ANNOUNCE, "-o", out, "--register", "--json"],
        { P2PTRACKER_URL: closed },
      );
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`cannot reach the tracker at ${closed}: `));
      assert.ok(existsSync(out));
    });

    const usage: Array<[string, string[], string]> = [
      ["no subcommand", [], "p2ptracker: torrent needs a command: create"],
      ["an unknown subcommand", ["make", "x"], 'p2ptracker: unknown torrent command "make"'],
      ["no path", ["create", "--announce", ANNOUNCE], "p2ptracker: torrent create needs a file or directory"],
      ["two paths", ["create", "a", "b", "--announce", ANNOUNCE], 'p2ptracker: unexpected argument "b"'],
      ["no --announce", ["create", "x"], "p2ptracker: torrent create needs --announce URL"],
      ["--announce without a value", ["create", "x", "--announce"], "p2ptracker: --announce needs a value"],
      [
        "an announce URL of another scheme",
        ["create", "x", "--announce", "ftp://t/announce"],
        'p2ptracker: --announce "ftp://t/announce": expected an http, https or udp URL',
      ],
      ["an unknown option", ["create", "x", "--announce", ANNOUNCE, "--dht"], 'p2ptracker: unknown option "--dht"'],
      [
        "a piece length that is not a power of two",
        ["create", "x", "--announce", ANNOUNCE, "--piece-length", "100K"],
        "p2ptracker: --piece-length 100K: expected a power of two from 16K to 64M",
      ],
      [
        "a piece length too large",
        ["create", "x", "--announce", ANNOUNCE, "--piece-length", "128M"],
        "p2ptracker: --piece-length 128M: expected a power of two from 16K to 64M",
      ],
      [
        "mktorrent's exponent",
        ["create", "x", "--announce", ANNOUNCE, "--piece-length", "18"],
        "p2ptracker: --piece-length 18: expected a power of two from 16K to 64M (2^18 bytes is 256K)",
      ],
      [
        "a piece length that is not a size",
        ["create", "x", "--announce", ANNOUNCE, "--piece-length", "big"],
        'p2ptracker: --piece-length "big": expected bytes, e.g. 262144, 256K or 1M',
      ],
      [
        "a name with a slash",
        ["create", "x", "--announce", ANNOUNCE, "--name", "a/b"],
        'p2ptracker: --name: "a/b" cannot be a torrent name: it must be one file name, without "/"',
      ],
      [
        "--tracker without --register",
        ["create", "x", "--announce", ANNOUNCE, "--tracker", "http://t"],
        "p2ptracker: --tracker and --token go with --register",
      ],
    ];
    for (const [label, args, message] of usage) {
      it(`exit 2 for ${label}`, async () => {
        const result = await runCli(["torrent", ...args]);
        assert.equal(result.code, 2, result.stderr);
        assert.equal(result.stderr.split("\n")[0], message);
        assert.match(result.stderr, /\nusage:\n[^]*p2ptracker torrent create /, "the usage follows the message");
        assert.equal(result.stdout, "");
      });
    }

    const failures: Array<[string, (root: string) => string, string]> = [
      ["a missing path", (root) => join(root, "gone"), "gone: no such file or directory (or a broken symbolic link)"],
      [
        "an empty directory",
        (root) => (mkdirSync(join(root, "hollow")), join(root, "hollow")),
        "hollow: the directory has no files",
      ],
    ];
    for (const [label, make, message] of failures) {
      it(`exit 1 for ${label}, and no .torrent`, async () => {
        const root = mkdtempSync(join(work, "fail-"));
        const source = make(root);
        const out = join(root, "out.torrent");
        const result = await runCli(["torrent", "create", source, "--announce", ANNOUNCE, "-o", out]);
        assert.equal(result.code, 1);
        assert.equal(result.stderr, `p2ptracker: ${join(root, message)}\n`);
        assert.ok(!existsSync(out));
      });
    }

    it("--help prints every option", async () => {
      const result = await runCli(["torrent", "create", "--help"]);
      assert.equal(result.code, 0);
      for (const option of [
        "--announce",
        "--piece-length",
        "--name",
        "--output",
        "--force",
        "--public",
        "--register",
      ]) {
        assert.match(result.stdout, new RegExp(`[ ,] ${option} `), option);
      }
      assert.match(result.stdout, /mktorrent/);
    });
  });

  describe("aria2c downloads what it made, through the tracker", () => {
    const fixture = trackerFixture({ ACTIVE_INTERVAL: "2" });
    const children: ChildProcess[] = [];
    after(async () => {
      await Promise.allSettled(children.map(stopChild));
    });

    it("a multi-file torrent, every file intact", async () => {
      const { tracker, admin } = fixture;
      const version = spawnSync("aria2c", ["--version"]);
      assert.equal(version.status, 0, "aria2c is installed (Debian package aria2; scripts/test installs it)");
      const root = join(work, "aria2");
      const files: Record<string, Uint8Array> = {
        "app/bin/server": randomBytes(3 * MIB + 12_345),
        "app/lib/libthing.so": randomBytes(700_001),
        "app/README": randomBytes(999),
        "data/seed.db": randomBytes(1 * MIB),
        "data/empty.log": new Uint8Array(0),
      };
      writeTree(join(root, "origin", "release-42"), files);
      const torrent = join(root, "release-42.torrent");
      const made = await runCli([
        "torrent",
        "create",
        join(root, "origin", "release-42"),
        "--announce",
        `${tracker.url}/announce`,
        "-o",
        torrent,
        "--json",
      ]);
      assert.equal(made.code, 0, made.stderr);
      const { infoHash, name, length } = JSON.parse(made.stdout) as { infoHash: string; name: string; length: number };
      await activateTransfer(admin as unknown as TransferStore, infoHash, name, String(length));

      const origin = startAria2(root, "origin", "127.0.9.1", torrent, ["--check-integrity=true"]);
      children.push(origin.child);
      await sleep(500);
      const leecher = startAria2(root, "leecher", "127.0.1.11", torrent);
      children.push(leecher.child);

      const fail = (message: string): never =>
        assert.fail(`${message}\n--- origin:\n${origin.tail()}\n--- leecher:\n${leecher.tail()}`);
      const target = join(root, "leecher", "release-42");
      const intact = () =>
        !existsSync(`${target}.aria2`) &&
        Object.entries(files).every(([path, bytes]) => {
          const file = join(target, path);
          return existsSync(file) && sha256(readFileSync(file)) === sha256(bytes);
        });
      for (const deadline = Date.now() + 60_000; !intact(); await sleep(300)) {
        for (const client of [origin, leecher]) {
          if (client.child.exitCode !== null) fail(`${client.name} exited (code ${client.child.exitCode})`);
        }
        if (Date.now() > deadline) fail("the download did not finish in 60 s");
      }
      for (const [path, bytes] of Object.entries(files)) {
        assert.equal(sha256(readFileSync(join(target, path))), sha256(bytes), path);
      }
    });
  });

  describe("the progress bar, in a real terminal", () => {
    // A private tmux server: nothing here touches anyone else's sessions.
    const socket = `p2ptracker-test-${process.pid}`;
    const session = `torrent-create-${randomBytes(4).toString("hex")}`;
    const tmux = (...args: string[]) =>
      spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8", env: cleanEnv() });
    after(() => {
      tmux("kill-session", "-t", session);
    });

    it("redraws one line with a bar, percentage, rate and ETA, then shows the result", async () => {
      const version = spawnSync("tmux", ["-V"]);
      assert.equal(version.status, 0, "tmux is installed (Debian package tmux; scripts/test installs it)");
      const dir = mkdtempSync(join(work, "tmux-"));
      // Hashes in a few seconds on this machine (measured 0.25 to 1.1 GiB/s): long enough to watch.
      sparseFile(join(dir, "disk.img"), 4 * GIB);
      const command = `cd '${dir}' && '${process.execPath}' '${MAIN}' torrent create disk.img --announce ${ANNOUNCE}; echo "exit=$?"; sleep 30`;
      const started = tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "20", command);
      assert.equal(started.status, 0, started.stderr);

      const bar = /^hashing \[[#-]{30}\] +(\d+)%  (\S+ \S+) \/ 4\.00 GiB  (\S+ \S+\/s)  ETA (\S+)$/;
      const midway: string[] = [];
      let pane = "";
      for (const deadline = Date.now() + 90_000; !/^exit=\d+$/m.test(pane); await sleep(100)) {
        const capture = tmux("capture-pane", "-p", "-t", session);
        assert.equal(capture.status, 0, `the session ended early: ${capture.stderr}`);
        pane = capture.stdout;
        const bars = pane.split("\n").filter((line) => line.startsWith("hashing "));
        assert.ok(bars.length <= 1, `the bar is redrawn in place, not printed again:\n${pane}`);
        const match = bars[0]?.trimEnd().match(bar);
        if (bars[0] !== undefined) assert.ok(match, `a bar line as expected: "${bars[0]}"`);
        const percent = Number(match?.[1]);
        if (match && percent > 0 && percent < 100) midway.push(bars[0]!.trimEnd());
        assert.ok(Date.now() < deadline, `no result after 90 s:\n${pane}`);
      }
      assert.ok(midway.length >= 2, `the bar was seen between 0% and 100% (${midway.length} times):\n${pane}`);
      for (const line of midway) {
        const [, , done, rate, eta] = line.match(bar)!;
        assert.match(done!, /^\d[\d.]* (KiB|MiB|GiB)$/, line);
        assert.match(rate!, /^\d[\d.]* (KiB|MiB|GiB)\/s$/, line);
        assert.match(eta!, /^(\d+s|\d+m\d\ds)$/, line);
      }
      const percents = midway.map((line) => Number(line.match(bar)![1]));
      assert.ok(percents.at(-1)! > percents[0]!, `the percentage grows: ${percents}`);

      const lines = pane.split("\n").map((line) => line.trimEnd());
      assert.ok(!lines.some((line) => line.startsWith("hashing ")), `the bar is gone at the end:\n${pane}`);
      assert.ok(lines.includes("exit=0"), pane);
      assert.ok(
        lines.some((line) => /^hashed 4\.00 GiB in \d+s \(\S+ \S+\/s\)$/.test(line)),
        pane,
      );
      const { infoHashHex } = summarizeTorrent(readFileSync(join(dir, "disk.img.torrent")));
      assert.ok(lines.includes(`info hash   ${infoHashHex}`), pane);
      assert.ok(lines.includes("pieces      1024 x 4 MiB"), pane);
      assert.ok(lines.includes("torrent     disk.img.torrent"), pane);
    });
  });
});

/** An aria2c bound to its own loopback address (so the tracker sees it there), keeping its output's tail. */
function startAria2(work: string, name: string, ip: string, torrent: string, extra: string[] = []) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const child = spawn("aria2c", [...ARIA2_TEST_FLAGS, `--interface=${ip}`, `--dir=${dir}`, ...extra, torrent], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer | string) => (output = (output + chunk.toString()).slice(-3000));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.on("error", (error) => keep(`spawn error: ${error.message}\n`));
  return { name, child, tail: () => output };
}

/** SIGTERM, then SIGKILL if it is still there after 3 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}
