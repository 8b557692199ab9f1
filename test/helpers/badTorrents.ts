import { makeTorrent } from "./torrent.js";

const good = makeTorrent(new Uint8Array(40_000), {
  name: "app.tar",
  announce: "http://t/announce",
  pieceLength: 16384,
});
const goodText = Buffer.from(good.bytes).toString("latin1");
const pieces20 = "\u00ab".repeat(20);

/** A metainfo with the given info dict body (bencoded, without the d...e) and announce. */
const torrentWith = (infoBody: string, top = "8:announce17:http://t/announce") =>
  Buffer.from(`d${top}4:infod${infoBody}ee`, "latin1");

/** Uploads that are not acceptable .torrent files: label, bytes, what the error says. */
export const BAD_TORRENTS: ReadonlyArray<readonly [string, Uint8Array, RegExp]> = [
  ["an empty body", new Uint8Array(0), /empty/],
  ["text that is not bencode", Buffer.from("just text"), /must start with a dictionary/],
  ["a truncated .torrent", good.bytes.subarray(0, good.bytes.length - 30), /truncated/],
  ["trailing bytes after the metainfo", Buffer.concat([good.bytes, Buffer.from("junk")]), /bytes after the end/],
  [
    "a gigantic integer",
    torrentWith(`6:lengthi${"9".repeat(40)}e4:name1:a12:piece lengthi16384e6:pieces20:${pieces20}`),
    /more than 15 digits/,
  ],
  [
    "an integer with a leading zero",
    torrentWith(`6:lengthi07e4:name1:a12:piece lengthi16384e6:pieces20:${pieces20}`),
    /is not an integer/,
  ],
  ["deep nesting", Buffer.from(`d8:announce1:x4:info${"l".repeat(10_000)}${"e".repeat(10_000)}e`), /nested deeper/],
  ["a duplicate key", Buffer.from("d8:announce1:x8:announce1:ye"), /appears twice/],
  [
    "a duplicate key in a nested dictionary",
    torrentWith(`4:name1:a6:lengthi7e4:name1:b12:piece lengthi16384e6:pieces20:${pieces20}`),
    /"name" appears twice in a dictionary/,
  ],
  [
    "a dictionary of very many keys",
    Buffer.from(
      `d8:announce1:x4:infod${Array.from({ length: 10_001 }, (_, i) => `6:k${String(i).padStart(5, "0")}i1e`).join("")}ee`,
    ),
    /more than 10000 keys/,
  ],
  ["no info dictionary", Buffer.from("d8:announce17:http://t/announcee"), /no info dictionary/],
  ["info that is a list", Buffer.from("d8:announce1:x4:infoli1eee"), /info is not a dictionary/],
  ["no announce URL", Buffer.from(goodText.replace("8:announce17:http://t/announce", ""), "latin1"), /no announce URL/],
  ["no name", torrentWith(`6:lengthi7e12:piece lengthi16384e6:pieces20:${pieces20}`), /info\.name/],
  [
    "a name that is an integer",
    torrentWith(`6:lengthi7e4:namei5e12:piece lengthi16384e6:pieces20:${pieces20}`),
    /info\.name: expected a byte string/,
  ],
  [
    "a piece length of zero",
    torrentWith(`6:lengthi7e4:name1:a12:piece lengthi0e6:pieces20:${pieces20}`),
    /info\.piece length/,
  ],
  [
    "pieces not a multiple of 20 bytes",
    torrentWith(`6:lengthi7e4:name1:a12:piece lengthi16384e6:pieces19:${pieces20.slice(1)}`),
    /multiple of 20/,
  ],
  [
    "neither length nor files",
    torrentWith(`4:name1:a12:piece lengthi16384e6:pieces20:${pieces20}`),
    /exactly one of length/,
  ],
  [
    "a negative length",
    torrentWith(`6:lengthi-7e4:name1:a12:piece lengthi16384e6:pieces20:${pieces20}`),
    /info\.length/,
  ],
  [
    "a file path with ..",
    torrentWith(`5:filesld6:lengthi3e4:pathl2:..1:aeee4:name1:a12:piece lengthi16384e6:pieces20:${pieces20}`),
    /path element/,
  ],
  [
    "piece hashes that do not match the length",
    torrentWith(`6:lengthi70000e4:name1:a12:piece lengthi16384e6:pieces20:${pieces20}`),
    /expected 5/,
  ],
  [
    "a BEP 52 v2-only torrent",
    torrentWith(`9:file treede4:name1:a12:meta versioni2e12:piece lengthi16384e`),
    /v2-only/,
  ],
];
