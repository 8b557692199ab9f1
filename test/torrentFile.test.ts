import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { parseInfoHashHex, readTorrent, TorrentError } from "../src/wire/torrentFile.js";
import { makeTorrent } from "./helpers/torrent.js";
import { BAD_TORRENTS } from "./helpers/badTorrents.js";

const sha1Hex = (bytes: Uint8Array) => createHash("sha1").update(bytes).digest("hex").toUpperCase();
const LIMIT = 10 * 1024 * 1024;

describe(".torrent files", () => {
  it("reads the info hash, name, length, piece length and file count of a single-file torrent", () => {
    const built = makeTorrent(new Uint8Array(40_000), {
      name: "app.tar",
      announce: "http://t/announce",
      pieceLength: 16384,
    });
    const summary = readTorrent(built.bytes, LIMIT);
    assert.equal(summary.infoHashHex, Buffer.from(built.infoHash).toString("hex").toUpperCase());
    assert.equal(summary.name, "app.tar");
    assert.equal(summary.length, 40_000n);
    assert.equal(summary.pieceLength, 16384);
    assert.equal(summary.files, 1);
  });

  it("hashes the info dictionary's bytes as written, even when its keys are not sorted", () => {
    const info = Buffer.concat([
      Buffer.from("d4:name5:build6:lengthi7e12:piece lengthi16384e6:pieces20:"),
      Buffer.alloc(20, 0xab),
      Buffer.from("e"),
    ]);
    const torrent = Buffer.concat([Buffer.from("d8:announce17:http://t/announce4:info"), info, Buffer.from("e")]);
    const summary = readTorrent(torrent, LIMIT);
    assert.equal(summary.infoHashHex, sha1Hex(info));
    assert.equal(summary.name, "build");
    assert.equal(summary.length, 7n);
  });

  it("sums the lengths of a multi-file torrent and counts its files", () => {
    const torrent = Buffer.concat([
      Buffer.from(
        "d8:announce17:http://t/announce4:infod5:filesld6:lengthi3e4:pathl1:aeed6:lengthi4e4:pathl1:beee4:name3:dir12:piece lengthi16384e6:pieces20:",
      ),
      Buffer.alloc(20, 1),
      Buffer.from("ee"),
    ]);
    const summary = readTorrent(torrent, LIMIT);
    assert.equal(summary.length, 7n);
    assert.equal(summary.files, 2);
  });

  for (const [label, bytes, message] of BAD_TORRENTS) {
    it(`refuses ${label}, naming the problem`, () => {
      assert.throws(
        () => readTorrent(bytes, LIMIT),
        (error: unknown) => error instanceof TorrentError && message.test(error.message),
      );
    });
  }

  it("refuses a .torrent over the size limit as too large", () => {
    const built = makeTorrent(new Uint8Array(40_000), { name: "a", announce: "http://t/a", pieceLength: 16384 });
    assert.throws(
      () => readTorrent(built.bytes, built.bytes.length - 1),
      (error: unknown) => error instanceof TorrentError && error.tooLarge && /limit is/.test(error.message),
    );
  });

  it("accepts an info hash as 40 hex digits in any case", () => {
    assert.equal(parseInfoHashHex("ab".repeat(20)), "AB".repeat(20));
    assert.equal(parseInfoHashHex("ab".repeat(19)), undefined);
    assert.equal(parseInfoHashHex("zz".repeat(20)), undefined);
  });
});
