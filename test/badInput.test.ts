import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { QUERY_LIMITS, QueryError, decodeQuery } from "../src/wire/query.js";
import { decode, httpRequest, percentEncode, text, type RawResponse } from "./helpers/http.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { announce, hexOf, peer, randomInfoHash, startTestTracker, type TestTracker } from "./helpers/tracker.js";

const MAX_COUNTER = "9223372036854775807"; // 2^63-1
const TOO_BIG = "9223372036854775808"; // 2^63
const COUNTERS = ["uploaded", "downloaded", "left"] as const;
const REQUIRED = ["info_hash", "peer_id", "port", ...COUNTERS] as const;
const METHODS = ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] as const;

/** A query as ordered name=value pairs (values already percent-encoded), so a case can edit one. */
type Pairs = ReadonlyArray<readonly [string, string]>;
type Edit = (pairs: Pairs) => string;

const bytes = (n: number) => percentEncode(randomBytes(n));
const join = (pairs: Pairs) => pairs.map(([name, value]) => `${name}=${value}`).join("&");
const without =
  (name: string): Edit =>
  (pairs) =>
    join(pairs.filter(([n]) => n !== name));
const set =
  (name: string, value: string): Edit =>
  (pairs) =>
    join(pairs.map(([n, v]) => [n, n === name ? value : v] as const));
const plus =
  (...extra: string[]): Edit =>
  (pairs) =>
    [join(pairs), ...extra].join("&");
/** Pads the query with one junk parameter to exactly `length` characters. */
const padTo =
  (length: number): Edit =>
  (pairs) => {
    const head = `${join(pairs)}&pad=`;
    return head + "a".repeat(length - head.length);
  };
const repeat = (n: number, param: string) => Array.from({ length: n }, () => param);

function validAnnounce(infoHash: Uint8Array): Pairs {
  return [
    ["info_hash", percentEncode(infoHash)],
    ["peer_id", bytes(20)],
    ["port", "6881"],
    ["uploaded", "0"],
    ["downloaded", "0"],
    ["left", "1000"],
  ];
}

/** Announces that must fail: name, how to spoil a valid query, the reason, headers replacing the default. */
const BAD_ANNOUNCES: Array<[string, Edit, RegExp, Record<string, string>?]> = [
  ...REQUIRED.map((name): [string, Edit, RegExp] => [`missing ${name}`, without(name), new RegExp(`missing ${name}`)]),
  ...(["info_hash", "peer_id"] as const).flatMap((name) =>
    [0, 19, 21, 5000].map((n): [string, Edit, RegExp] => [
      `${n}-byte ${name}`,
      set(name, bytes(n)),
      new RegExp(`${name} must be 20 bytes, got ${n}\\b`),
    ]),
  ),
  ...["0", "70000", "65536", "abc", "-1", "", "%EF%BC%98"].map((port): [string, Edit, RegExp] => [
    `port=${port}`,
    set("port", port),
    /port must be an integer from 1 to 65535/,
  ]),
  ...COUNTERS.flatMap((name) =>
    (
      [
        ["-1", /must be a non-negative integer/],
        ["abc", /must be a non-negative integer/],
        ["1.5", /must be a non-negative integer/],
        ["", /must be a non-negative integer/],
        ["%B9", /must be a non-negative integer/],
        ["1".repeat(30), /must be a non-negative integer/],
        [TOO_BIG, /must be at most 2\^63-1/],
      ] as const
    ).map(([value, reason]): [string, Edit, RegExp] => [
      `${name}=${value.length > 20 ? `${value.length} digits` : value}`,
      set(name, value),
      new RegExp(`${name} ${reason.source}`),
    ]),
  ),
  ["event=bogus", plus("event=bogus"), /event must be one of started, completed, stopped, paused/],
  ["event=STARTED", plus("event=STARTED"), /event must be one of/],
  ["event=%C3%A9 (non-ASCII)", plus("event=%C3%A9"), /event must be one of/],
  ["compact=2", plus("compact=2"), /compact must be 0 or 1/],
  ["no_peer_id=yes", plus("no_peer_id=yes"), /no_peer_id must be 0 or 1/],
  ["numwant=-1", plus("numwant=-1"), /numwant must be a non-negative integer/],
  ["numwant=abc", plus("numwant=abc"), /numwant must be a non-negative integer/],
  ["a 65-byte key", plus(`key=${bytes(65)}`), /key must be at most 64 bytes, got 65/],
  ["a 65-byte trackerid", plus(`trackerid=${"t".repeat(65)}`), /trackerid must be at most 64 bytes, got 65/],
  ["a 65-character ip", plus(`ip=${"1".repeat(65)}`), /ip is too long/],
  ["info_hash twice", plus(`info_hash=${bytes(20)}`), /info_hash given more than once/],
  ["peer_id twice", plus(`peer_id=${bytes(20)}`), /peer_id given more than once/],
  ["port twice", plus("port=6882"), /port given more than once/],
  ["the same port twice", plus("port=6881"), /port given more than once/],
  ["left twice", plus("left=0"), /left given more than once/],
  ["event twice", plus("event=started", "event=started"), /event given more than once/],
  ["key twice", plus("key=a", "key=b"), /key given more than once/],
  ["a query one over the length limit", padTo(QUERY_LIMITS.maxLength + 1), /query string too long/],
  ["a query of 3 times the length limit", padTo(QUERY_LIMITS.maxLength * 3), /query string too long/],
  ["too many parameters", plus(...repeat(QUERY_LIMITS.maxParams, "x=1")), /too many query parameters/],
  ["too many empty parameters", plus(...repeat(QUERY_LIMITS.maxParams, "")), /too many query parameters/],
  ["%zz in a value", plus("x=%zz"), /malformed percent-encoding/],
  ["%zz in a name", plus("%zz=1"), /malformed percent-encoding/],
  ["a truncated escape at the end", plus("x=%4"), /malformed percent-encoding/],
  ["a truncated escape in info_hash", set("info_hash", `${bytes(19)}%A`), /malformed percent-encoding/],
  ["a bad X-Forwarded-For", (p) => join(p), /X-Forwarded-For holds an invalid address/, { "X-Forwarded-For": "nope" }],
  ["an empty X-Forwarded-For", (p) => join(p), /X-Forwarded-For holds an invalid address/, { "X-Forwarded-For": "" }],
  ["a bad X-Real-IP", (p) => join(p), /X-Real-IP holds an invalid address/, { "X-Real-IP": "10.0.0.300" }],
];

/** Announces at the edge of each limit: accepted, so the failures above are not vacuous. */
const EDGE_ANNOUNCES: Array<[string, Edit]> = [
  ["the plain valid query", join],
  [
    "counters at 2^63-1",
    (p) => join(p.map(([n, v]) => [n, (COUNTERS as readonly string[]).includes(n) ? MAX_COUNTER : v])),
  ],
  ["port=1", set("port", "1")],
  ["port=65535", set("port", "65535")],
  ["a 64-byte key", plus(`key=${bytes(64)}`)],
  ["a 64-byte trackerid", plus(`trackerid=${"t".repeat(64)}`)],
  ["unknown parameters, repeated", plus("foo=1", "foo=2", "%ff%fe=bar", "empty", "=")],
  ["a query exactly at the length limit", padTo(QUERY_LIMITS.maxLength)],
  ["exactly the parameter limit", plus(...repeat(QUERY_LIMITS.maxParams - 6, "x=1"))],
];

/** Scrapes that must fail. */
const BAD_SCRAPES: Array<[string, string, RegExp]> = [
  ...[0, 19, 21, 5000].map((n): [string, string, RegExp] => [
    `a ${n}-byte info_hash`,
    `info_hash=${bytes(n)}`,
    new RegExp(`info_hash must be 20 bytes, got ${n}\\b`),
  ]),
  ["a good and a 21-byte info_hash", `info_hash=${bytes(20)}&info_hash=${bytes(21)}`, /must be 20 bytes, got 21/],
  ["201 info_hash values", repeat(201, `info_hash=${bytes(20)}`).join("&"), /at most 200 info_hash values/],
  ["%zz", `info_hash=${bytes(20)}&x=%zz`, /malformed percent-encoding/],
  ["a query over the length limit", `x=${"a".repeat(QUERY_LIMITS.maxLength)}`, /query string too long/],
  ["too many parameters", repeat(QUERY_LIMITS.maxParams + 1, "x=1").join("&"), /too many query parameters/],
];

/** Bytes written straight to the tracker's port, and the failure reason each gets. */
const RAW_JUNK: Array<[string, Buffer, RegExp, { halfClose?: boolean }?]> = [
  ["random bytes", Buffer.concat([randomBytes(512), Buffer.from("\r\n\r\n")]), /malformed HTTP request/],
  ["NUL bytes", Buffer.alloc(256), /malformed HTTP request/],
  ["a TLS ClientHello", Buffer.from("16030100a5010000a10303", "hex"), /malformed HTTP request/],
  ["an HTTP/2 preface", Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), /malformed HTTP request/],
  ["an unknown method token", Buffer.from("BREW /announce HTTP/1.1\r\nHost: x\r\n\r\n"), /malformed HTTP request/],
  [
    "control bytes in the request line",
    Buffer.concat([
      Buffer.from("GET /announce?info_hash="),
      Buffer.from([0, 1, 0x7f, 0xff]),
      Buffer.from(" HTTP/1.1\r\n\r\n"),
    ]),
    /malformed HTTP request/,
  ],
  [
    "control bytes in a header",
    Buffer.from("GET /announce HTTP/1.1\r\nHost: x\r\nX-\x01: y\r\n\r\n"),
    /malformed HTTP request/,
  ],
  [
    "a malformed chunked body",
    Buffer.from("GET /announce HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    /malformed HTTP request/,
  ],
  [
    "a request cut off mid-line",
    Buffer.from("GET /announce?info_hash=%4"),
    /malformed HTTP request/,
    { halfClose: true },
  ],
];

/** Checks a raw HTTP exchange: status 200 and a bencoded dict holding only a failure reason. */
function assertBencodedFailure(exchange: string, reason: RegExp): void {
  assert.match(exchange, /^HTTP\/1\.1 200 /);
  const body = Buffer.from(exchange.slice(exchange.indexOf("\r\n\r\n") + 4), "latin1");
  const reply = decode(body);
  assert.deepEqual(Object.keys(reply), ["failure reason"]);
  assert.match(text(reply["failure reason"]), reason);
}

describe("malformed announces and scrapes", () => {
  let redis: TestRedis;
  let tracker: TestTracker;

  /** Every key, and the members of the global indexes: what a wrongly accepted request would change. */
  const storedState = async () => ({
    keys: [...(await redis.client.keys("*"))].sort(),
    indexes: await Promise.all(
      ["transfers:active", "transfers:seen"].map((key) => redis.client.zRangeWithScores(key, 0, -1)),
    ),
    racks: [...(await redis.client.sMembers("racks"))].sort(),
  });

  /** Sends a bad request and checks the bencoded failure and that Redis did not change. */
  const expectRejected = async (send: () => Promise<RawResponse>, reason: RegExp, infoHash?: Uint8Array) => {
    const stored = await storedState();
    const response = await send();
    assert.equal(response.status, 200);
    const reply = decode(response.body);
    assert.deepEqual(Object.keys(reply), ["failure reason"], "a client error carries only its reason");
    assert.match(text(reply["failure reason"]), reason);
    assert.deepEqual(await storedState(), stored, "nothing stored");
    if (infoHash) assert.deepEqual(await redis.client.keys(`{${hexOf(infoHash)}}*`), []);
  };

  /** A GET from a client behind the trusted proxy, unless a case brings its own headers. */
  const get = (path: string, headers: Record<string, string> = { "X-Forwarded-For": "10.20.0.1" }) =>
    httpRequest(`${tracker.url}${path}`, { headers });

  /** Writes raw bytes to the tracker's port; resolves with everything it answers until it closes. */
  const rawExchange = (bytes: Buffer, options: { halfClose?: boolean } = {}) =>
    new Promise<string>((done, fail) => {
      const socket = connect(tracker.port, "127.0.0.1");
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => socket.destroy(new Error("the tracker did not close the connection")), 5000);
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("error", (error) => (clearTimeout(timer), fail(error)));
      socket.on("close", () => (clearTimeout(timer), done(Buffer.concat(chunks).toString("latin1"))));
      socket.write(bytes);
      if (options.halfClose) socket.end();
    });

  before(async () => {
    redis = await startTestRedis();
    // AUTO_ACTIVATE: a wrongly accepted announce would store its transfer. A long sweep
    // interval keeps the sweeper's lease key from appearing between two snapshots.
    tracker = await startTestTracker(redis, { AUTO_ACTIVATE: "true", SWEEP_INTERVAL: "86400" });
  });
  after(async () => {
    await tracker.close();
    await redis.close();
  });

  describe("announce: accepted at the edge of each limit", () => {
    for (const [name, edit] of EDGE_ANNOUNCES) {
      it(name, async () => {
        const infoHash = randomInfoHash();
        const response = await get(`/announce?${edit(validAnnounce(infoHash))}`);
        assert.equal(response.status, 200);
        assert.equal(decode(response.body)["failure reason"], undefined);
        assert.equal(await redis.client.hLen(`{${hexOf(infoHash)}}:peers`), 1, "the peer is stored");
      });
    }
  });

  describe("announce: rejected with a reason, nothing stored", () => {
    for (const [name, edit, reason, headers] of BAD_ANNOUNCES) {
      it(name, async () => {
        const infoHash = randomInfoHash();
        await expectRejected(() => get(`/announce?${edit(validAnnounce(infoHash))}`, headers), reason, infoHash);
      });
    }
  });

  describe("scrape: rejected with a reason", () => {
    for (const [name, query, reason] of BAD_SCRAPES) {
      it(name, () => expectRejected(() => get(`/scrape?${query}`), reason));
    }

    it("accepts exactly 200 info_hash values", async () => {
      const hashes = Array.from({ length: 200 }, () => randomInfoHash());
      const response = await get(`/scrape?${hashes.map((h) => `info_hash=${percentEncode(h)}`).join("&")}`);
      assert.equal(response.status, 200);
      assert.equal(Object.keys(decode(response.body).files as object).length, 200);
    });
  });

  describe("methods and routes", () => {
    for (const method of METHODS) {
      for (const route of ["announce", "scrape"]) {
        it(`${method} /${route} with a valid query`, async () => {
          const infoHash = randomInfoHash();
          const query = join(validAnnounce(infoHash));
          const send = () => httpRequest(`${tracker.url}/${route}?${query}`, { method });
          await expectRejected(send, new RegExp(`${route} must be a GET request`), infoHash);
        });
      }
    }

    it("HEAD /announce answers 200 without a body and stores nothing", async () => {
      const infoHash = randomInfoHash();
      const stored = await storedState();
      const response = await httpRequest(`${tracker.url}/announce?${join(validAnnounce(infoHash))}`, {
        method: "HEAD",
      });
      assert.equal(response.status, 200);
      assert.equal(response.body.length, 0);
      assert.deepEqual(await storedState(), stored);
    });

    for (const path of ["/", "/stats", "/announce/x", "/Announce", "/announce.php", "//announce", "/announce;x"]) {
      for (const method of ["GET", "POST"]) {
        it(`${method} ${path} is 404 and stores nothing`, async () => {
          const infoHash = randomInfoHash();
          const stored = await storedState();
          const response = await httpRequest(`${tracker.url}${path}?${join(validAnnounce(infoHash))}`, { method });
          assert.equal(response.status, 404);
          assert.match(response.body.toString(), /not found/);
          assert.deepEqual(await storedState(), stored);
        });
      }
    }
  });

  describe("bytes that are not a well-formed HTTP request", () => {
    for (const [name, junk, reason, options] of RAW_JUNK) {
      it(`${name}: a bencoded failure, the tracker stays up`, async () => {
        const stored = await storedState();
        assertBencodedFailure(await rawExchange(junk, options), reason);
        assert.deepEqual(await storedState(), stored);
      });
    }

    it("raw non-ASCII bytes in an otherwise valid announce get a bencoded failure", async () => {
      const infoHash = randomInfoHash();
      const stored = await storedState();
      const request = Buffer.concat([
        Buffer.from(`GET /announce?${join(validAnnounce(infoHash))}&x=`),
        Buffer.from("é€", "utf8"),
        Buffer.from(" HTTP/1.1\r\nHost: x\r\n\r\n"),
      ]);
      assertBencodedFailure(await rawExchange(request), /percent-encode every byte outside ASCII/);
      assert.deepEqual(await storedState(), stored);
    });

    it("the decoder refuses non-ASCII characters should a parser ever pass them", () => {
      assert.throws(
        () => decodeQuery("x=\u00e9"),
        (e) => e instanceof QueryError && /ASCII/.test(e.message),
      );
      assert.throws(() => decodeQuery(`info_hash=${"\u00ff".repeat(20)}`), QueryError);
    });

    it("a request target beyond the 64 KiB header limit gets a bencoded failure and stores nothing", async () => {
      const infoHash = randomInfoHash();
      await expectRejected(
        () => get(`/announce?${padTo(70_000)(validAnnounce(infoHash))}`),
        /request too large/,
        infoHash,
      );
    });

    it("an absolute-form target reaches the tracker and gets a bencoded failure", async () => {
      const stored = await storedState();
      const reply = await rawExchange(
        Buffer.from("GET http://x/announce?x=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      );
      assert.match(reply, /^HTTP\/1\.1 200 /);
      const body = Buffer.from(reply.slice(reply.indexOf("\r\n\r\n") + 4), "latin1");
      assert.match(text(decode(body)["failure reason"]), /malformed percent-encoding/);
      assert.deepEqual(await storedState(), stored);
    });

    it("an HTTP/0.9-style request line gets a bencoded failure", async () => {
      const reply = await rawExchange(Buffer.from("GET /announce\r\n\r\n"));
      assert.match(reply, /^HTTP\/1\.1 200 /);
      assert.match(reply, /d14:failure reason17:missing info_hashe$/);
    });
  });

  it("still serves a valid announce and scrape afterwards", async () => {
    const infoHash = randomInfoHash();
    const seeder = peer("10.20.0.1");
    assert.equal((await announce(tracker, infoHash, seeder, { left: 0 }))["failure reason"], undefined);
    const reply = await announce(tracker, infoHash, peer("10.20.1.1"));
    assert.equal(reply.complete, 1);
    assert.equal(reply.incomplete, 1);
    const scrape = decode((await get(`/scrape?info_hash=${percentEncode(infoHash)}`)).body);
    assert.deepEqual(Object.values(scrape.files as object), [{ complete: 1, downloaded: 0, incomplete: 1 }]);
  });
});
