import assert from "node:assert/strict";
import { describe, it } from "node:test";
import bencode from "bencode";
import { encodeAnnounce, type AnnounceReply } from "../src/wire/bittorrent.js";

describe("announce reply encoding", () => {
  const peers = (count: number, size: number, fill: number) => Buffer.alloc(count * size, fill);
  const replies: Array<[string, AnnounceReply]> = [
    [
      "IPv4 peers",
      { interval: 30, minInterval: 15, complete: 10, incomplete: 40, peers4: peers(50, 6, 7), peers6: peers(0, 18, 0) },
    ],
    [
      "IPv4 and IPv6 peers",
      {
        interval: 1800,
        minInterval: 900,
        complete: 0,
        incomplete: 3,
        peers4: peers(1, 6, 0x65),
        peers6: peers(2, 18, 0x3a),
      },
    ],
    [
      "IPv6 peers only",
      { interval: 1, minInterval: 1, complete: 1, incomplete: 0, peers4: peers(0, 6, 0), peers6: peers(3, 18, 0x64) },
    ],
    [
      "no peers, large counters",
      {
        interval: 86400,
        minInterval: 43200,
        complete: 2 ** 40,
        incomplete: 123456789,
        peers4: peers(0, 6, 0),
        peers6: peers(0, 18, 0),
      },
    ],
  ];

  for (const [name, reply] of replies) {
    it(`writes the compact reply byte for byte as bencode does: ${name}`, () => {
      const expected: Record<string, unknown> = {
        complete: reply.complete,
        incomplete: reply.incomplete,
        interval: reply.interval,
        "min interval": reply.minInterval,
        peers: reply.peers4,
      };
      if (reply.peers6.length > 0) expected.peers6 = reply.peers6;
      const got = Buffer.from(encodeAnnounce(reply));
      assert.deepEqual(got, Buffer.from(bencode.encode(expected)));
      const decoded = bencode.decode(got) as Record<string, unknown>;
      assert.equal(decoded.complete, reply.complete);
      assert.deepEqual(Buffer.from(decoded.peers as Uint8Array), Buffer.from(reply.peers4));
    });
  }
});
