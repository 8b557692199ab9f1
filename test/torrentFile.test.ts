import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { parseInfoHashHex, summarizeTorrent } from "../src/wire/torrentFile.js";
import { makeTorrent } from "./helpers/torrent.js";

const sha1Hex = (bytes: Uint8Array) => createHash("sha1").update(bytes).digest("hex").toUpperCase();

describe(".torrent files", () => {
  it("reads the info hash, name and length of a single-file torrent", () => {
    const built = makeTorrent(new Uint8Array(40_000), {
      name: "app.tar",
      announce: "http://t/announce",
      pieceLength: 16384,
    });
    const summary = summarizeTorrent(built.bytes);
    assert.equal(summary.infoHashHex, Buffer.from(built.infoHash).toString("hex").toUpperCase());
    assert.equal(summary.name, "app.tar");
    assert.equal(summary.length, 40_000n);
  });

  it("hashes the info dictionary's bytes as written, even when its keys are not sorted", () => {
    const info = Buffer.concat([
      Buffer.from("d4:name5:build6:lengthi7e12:piece lengthi16384e6:pieces20:"),
      Buffer.alloc(20, 0xab),
      Buffer.from("e"),
    ]);
    const torrent = Buffer.concat([Buffer.from("d8:announce17:http://t/announce4:info"), info, Buffer.from("e")]);
    const summary = summarizeTorrent(torrent);
    assert.equal(summary.infoHashHex, sha1Hex(info));
    assert.equal(summary.name, "build");
    assert.equal(summary.length, 7n);
  });

  it("sums the lengths of a multi-file torrent", () => {
    const torrent = Buffer.from(
      "d4:infod5:filesld6:lengthi3e4:pathl1:aeed6:lengthi4e4:pathl1:beee4:name3:dir12:piece lengthi16384e6:pieces0:ee",
    );
    assert.equal(summarizeTorrent(torrent).length, 7n);
  });

  it("refuses what is not a torrent, naming the problem", () => {
    assert.throws(() => summarizeTorrent(Buffer.from("just text")), /not a bencoded \.torrent/);
    assert.throws(() => summarizeTorrent(Buffer.from("d8:announce3:urle")), /no info dictionary/);
  });

  it("accepts an info hash as 40 hex digits in any case", () => {
    assert.equal(parseInfoHashHex("ab".repeat(20)), "AB".repeat(20));
    assert.equal(parseInfoHashHex("ab".repeat(19)), undefined);
    assert.equal(parseInfoHashHex("zz".repeat(20)), undefined);
  });
});
