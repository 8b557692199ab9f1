import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { after, before, describe, it } from "node:test";
import { activateTransfer, type TransferStore } from "../src/store/transfers.js";
import { scrapeMetrics } from "./helpers/metrics.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import {
  announce as httpAnnounce,
  hexOf,
  peer,
  peersOf,
  randomInfoHash,
  startTestTracker,
  trackerFixture,
  type TestTracker,
} from "./helpers/tracker.js";
import {
  UdpClient,
  announcePacket,
  connectPacket,
  currentBucket,
  designedConnectionId,
  scrapePacket,
  type Reply,
} from "./helpers/udp.js";

const SECRET = "test-udp-secret-0123456789";
const LOOPBACK4 = Uint8Array.from([127, 0, 0, 1]);

/** Whether this machine can bind UDP on ::1 (IPv6 tests are skipped where it cannot). */
const HAS_IPV6 = await new Promise<boolean>((done) => {
  const socket = createSocket({ type: "udp6", ipv6Only: true });
  socket.once("error", () => done(false));
  socket.bind(0, "::1", () => socket.close(() => done(true)));
});

function expectAction<A extends Reply["action"]>(reply: Reply, action: A): Extract<Reply, { action: A }> {
  assert.equal(reply.action, action, `expected action ${action}, got ${JSON.stringify(reply)}`);
  return reply as Extract<Reply, { action: A }>;
}

describe("UDP tracker (BEP 15)", () => {
  const f = trackerFixture({
    UDP_PORT: "0",
    UDP_HOSTS: HAS_IPV6 ? "127.0.0.1,::1" : "127.0.0.1",
    UDP_SECRET: SECRET,
    // The tests play hosts in several racks from one machine through the announce's ip field.
    ACCEPT_IP_PARAM: "true",
  });
  let client: UdpClient;
  const register = async (infoHash: Uint8Array) =>
    activateTransfer(f.admin as unknown as TransferStore, hexOf(infoHash), "udp", "1000");
  /** Every key of a transfer with its content, to show a refused packet changed nothing. */
  const stateOf = async (infoHash: Uint8Array) => {
    const keys = (await f.redis.client.keys(`{${hexOf(infoHash)}}*`)).sort();
    const info = await f.redis.client.hGetAll(`{${hexOf(infoHash)}}:info`);
    return { keys, info };
  };

  before(async () => {
    client = await UdpClient.open("127.0.0.1", f.tracker.udpPort!);
  });
  after(() => client.close());

  it("connect: a 16-byte reply that echoes the transaction id, with the connection id of the design", async () => {
    const bucket = currentBucket();
    const reply = expectAction(await client.ask(connectPacket(0xdeadbeef)), 0);
    assert.equal(reply.transactionId, 0xdeadbeef);
    const expected = [bucket, currentBucket()].map((b) =>
      designedConnectionId(SECRET, b, LOOPBACK4, client.localPort).toString("hex"),
    );
    assert.ok(
      expected.includes(reply.connectionId.toString("hex")),
      "HMAC-SHA256(secret, bucket ‖ port ‖ address)[0..8]",
    );
    const other = await UdpClient.open("127.0.0.1", f.tracker.udpPort!);
    try {
      assert.notDeepEqual(await other.connect(), reply.connectionId, "another client port gets another id");
    } finally {
      other.close();
    }
  });

  it("announce: through the same scripts as HTTP, so members get their rack only and representatives other racks", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    // Rack 10.2.2.0/24 announces over HTTP, rack 10.1.1.0/24 over UDP.
    const [h1, h2] = [peer("10.2.2.1", 6001), peer("10.2.2.2", 6002)];
    await httpAnnounce(f.tracker, infoHash, h1, { event: "started" });
    await httpAnnounce(f.tracker, infoHash, h2, { event: "started" });
    const udp = (n: number, extra: Partial<Parameters<UdpClient["announce"]>[0]> = {}) =>
      client.announce({ infoHash, ip: `10.1.1.${n}`, port: 7000 + n, event: 2, numwant: 50, ...extra });
    const rep = expectAction(await udp(1), 1);
    expectAction(await udp(2), 1);
    const member = expectAction(await udp(3), 1);
    assert.deepEqual(rep.peers.sort(), ["10.2.2.1:6001", "10.2.2.2:6002"], "a representative gets the other rack's");
    assert.equal(rep.interval, f.tracker.config.REP_INTERVAL);
    assert.deepEqual(member.peers.sort(), ["10.1.1.1:7001", "10.1.1.2:7002"], "a member gets its rack only");
    assert.equal(member.interval, f.tracker.config.ACTIVE_INTERVAL);
    assert.equal(member.leechers, 5);
    assert.equal(member.seeders, 0);
    // HTTP's representative sees UDP's representatives (and its rack mate), not UDP's member.
    assert.deepEqual(peersOf(await httpAnnounce(f.tracker, infoHash, h1)).sort(), [
      "10.1.1.1:7001",
      "10.1.1.2:7002",
      "10.2.2.2:6002",
    ]);
    // Stored as an HTTP announce is: the compact address, the rack, the peer id (the key is not stored).
    const peerId = Buffer.from("-UT0001-udp-test-001");
    expectAction(await udp(3, { peerId, key: 0xa1b2c3d4, left: 0n, event: 1 }), 1);
    const record = await f.admin.hGet(
      `{${hexOf(infoHash)}}:peers`,
      Buffer.from([10, 1, 1, 3, 7003 >> 8, 7003 & 0xff]) as never,
    );
    assert.match(String(record), /^10\.1\.1\.0\/24 Sc \d+ 0 0 0 -UT0001-udp-test-001$/);
  });

  it("scrape: seeders, completed and leechers of each hash, in the request's order; zeros for an unknown hash", async () => {
    const [a, b, unknown] = [randomInfoHash(), randomInfoHash(), randomInfoHash()];
    await register(a);
    await register(b);
    expectAction(await client.announce({ infoHash: a, ip: "10.3.3.1", port: 7101, event: 2 }), 1);
    expectAction(await client.announce({ infoHash: a, ip: "10.3.3.2", port: 7102, event: 1, left: 0n }), 1);
    expectAction(await client.announce({ infoHash: b, ip: "10.3.3.1", port: 7101, event: 2 }), 1);
    const connectionId = await client.connect();
    const reply = expectAction(await client.ask(scrapePacket(connectionId, 77, [unknown, a, b, a])), 2);
    assert.deepEqual(reply.files, [
      { seeders: 0, completed: 0, leechers: 0 },
      { seeders: 1, completed: 1, leechers: 1 },
      { seeders: 0, completed: 0, leechers: 1 },
      { seeders: 1, completed: 1, leechers: 1 },
    ]);
  });

  it("an unregistered transfer gets the passive interval and no peers, and none of its keys, as over HTTP", async () => {
    const infoHash = randomInfoHash();
    const reply = expectAction(await client.announce({ infoHash, ip: "10.4.4.1", port: 7201, event: 2 }), 1);
    assert.equal(reply.interval, f.tracker.config.PASSIVE_INTERVAL);
    assert.deepEqual(reply.peers, []);
    assert.deepEqual(await f.redis.client.keys(`{${hexOf(infoHash)}}*`), []);
    assert.notEqual(await f.redis.client.zScore("transfers:seen", hexOf(infoHash)), null, "remembered as seen");
  });

  it("accepts an announce that carries BEP 41 options (URL data, NOP, end of options) after its 98 bytes", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    const connectionId = await client.connect();
    const url = Buffer.from("/announce?passkey=x");
    const options = Buffer.concat([Buffer.from([0x01, 0x02, url.length]), url, Buffer.from([0x00])]);
    const packet = Buffer.concat([
      announcePacket({ connectionId, transactionId: 5, infoHash, ip: "10.5.5.1", port: 7301 }),
      options,
    ]);
    const reply = expectAction(await client.ask(packet), 1);
    assert.equal(reply.leechers, 1);
  });

  it("answers every malformed packet with an error naming the problem (or drops it when too short to answer), stores nothing, keeps serving", async () => {
    const infoHash = randomInfoHash();
    await register(infoHash);
    const port = client.localPort;
    const id = await client.connect();
    const good = (fields: Partial<Parameters<typeof announcePacket>[0]> = {}) =>
      announcePacket({ connectionId: id, transactionId: 4242, infoHash, ip: "10.6.6.1", port: 7401, ...fields });
    const withCounter = (offset: number, value: bigint) => {
      const b = good();
      b.writeBigInt64BE(value, offset);
      return b;
    };
    const withAction = (action: number) => {
      const b = good();
      b.writeInt32BE(action, 8);
      return b;
    };
    const hashes = (n: number) => Array.from({ length: n }, () => randomBytes(20));
    const cases: Array<[string, Buffer, RegExp | "dropped"]> = [
      ["an empty packet", Buffer.alloc(0), "dropped"],
      ["15 bytes: no whole transaction id", good().subarray(0, 15), "dropped"],
      ["action 4", withAction(4), /unknown action 4/],
      ["action 3 (error) from a client", withAction(3), /unknown action 3/],
      ["action -1", withAction(-1), /unknown action -1/],
      ["a connect without the protocol id", connectPacket(4242, 0x41727101981n), /protocol id/],
      ["a connection id never issued", good({ connectionId: randomBytes(8) }), /connection id unknown or expired/],
      [
        "an expired connection id (two buckets old)",
        good({ connectionId: designedConnectionId(SECRET, currentBucket() - 2, LOOPBACK4, port) }),
        /connection id unknown or expired/,
      ],
      [
        "the connection id of another port",
        good({ connectionId: designedConnectionId(SECRET, currentBucket(), LOOPBACK4, port + 1) }),
        /connection id unknown or expired/,
      ],
      [
        "the connection id of another address",
        good({ connectionId: designedConnectionId(SECRET, currentBucket(), Uint8Array.from([127, 0, 0, 2]), port) }),
        /connection id unknown or expired/,
      ],
      [
        "a connection id signed with another secret",
        good({ connectionId: designedConnectionId("another-secret-0123456789", currentBucket(), LOOPBACK4, port) }),
        /connection id unknown or expired/,
      ],
      ["an announce cut at 97 bytes", good().subarray(0, 97), /at least 98 bytes, got 97/],
      ["an announce cut inside its info_hash", good().subarray(0, 30), /at least 98 bytes, got 30/],
      ["an announce of its header alone", good().subarray(0, 16), /at least 98 bytes, got 16/],
      [
        "an oversized announce (1,497 bytes)",
        Buffer.concat([good(), Buffer.alloc(1497 - 98)]),
        /too large: at most 1496 bytes, got 1497/,
      ],
      ["an oversized scrape (75 hashes)", scrapePacket(id, 4242, hashes(75)), /too large/],
      ["port 0", good({ port: 0 }), /port must be an integer from 1 to 65535/],
      ["num_want -2", good({ numwant: -2 }), /num_want must be -1 .* got -2/],
      ["num_want -2^31", good({ numwant: -(2 ** 31) }), /num_want/],
      ["negative left", withCounter(64, -1n), /left must be a non-negative integer/],
      ["negative uploaded", withCounter(72, -5n), /uploaded must be a non-negative integer/],
      ["negative downloaded", withCounter(56, -(2n ** 63n)), /downloaded must be a non-negative integer/],
      ["event 5", good({ event: 5 }), /event must be 0 .*got 5/],
      ["event 2^32-1", good({ event: 2 ** 32 - 1 }), /event must be/],
      ["a scrape without info_hash", scrapePacket(id, 4242, []), /at least one info_hash/],
      [
        "a scrape with a 19-byte info_hash",
        scrapePacket(id, 4242, [randomBytes(19)]),
        /whole 20-byte info hashes, got 19/,
      ],
      ["a scrape with 1.95 info hashes", scrapePacket(id, 4242, [randomBytes(20), randomBytes(19)]), /got 39 bytes/],
    ];
    const before = await stateOf(infoHash);
    for (const [name, packet, expected] of cases) {
      if (expected === "dropped") {
        assert.equal(await client.raw(packet, 300), undefined, `${name}: no reply`);
        continue;
      }
      const reply = await client.ask(packet, 4242).catch((error: Error) => assert.fail(`${name}: ${error.message}`));
      assert.equal(reply.action, 3, `${name}: an error packet, got ${JSON.stringify(reply)}`);
      assert.match((reply as { message: string }).message, expected, name);
    }
    assert.deepEqual(await stateOf(infoHash), before, "nothing was stored");
    // The ids of the design's window are taken: this bucket's and the one before.
    for (const bucket of [currentBucket(), currentBucket() - 1]) {
      const connectionId = designedConnectionId(SECRET, bucket, LOOPBACK4, port);
      const reply = await client.ask(good({ connectionId }));
      assert.equal(reply.action, 1, `bucket ${currentBucket() - bucket} back: ${JSON.stringify(reply)}`);
    }
    assert.equal((await stateOf(infoHash)).info.leechers, "1", "the good announce is stored");
  });

  it("answers 600 random packets (random lengths, actions and fields, half with a valid connection id) without failing", async () => {
    const id = await client.connect();
    for (let i = 0; i < 600; i++) {
      const length = [16, 98, 36, 1496, 1497][i % 5]! + (i % 3) - 1;
      const packet = randomBytes(Math.max(0, length));
      if (packet.length >= 16) {
        packet.writeInt32BE(i % 7 === 6 ? packet.readInt32BE(8) : i % 4, 8);
        if (i % 2 === 0) id.copy(packet, 0);
      }
      const raw = await client.raw(packet, 1000);
      if (packet.length < 16) {
        assert.equal(raw, undefined, `a ${packet.length}-byte packet is dropped`);
        continue;
      }
      assert.ok(raw !== undefined, `packet ${i} (${packet.length} bytes) got a reply`);
      assert.equal(raw.readUInt32BE(4), packet.readUInt32BE(12), `packet ${i}: its transaction id echoed`);
      assert.ok([0, 1, 2, 3].includes(raw.readUInt32BE(0)), `packet ${i}: a BEP 15 action`);
    }
    assert.equal((await client.ask(connectPacket(99))).action, 0, "still serving");
  });

  it("counts UDP packets by action and reply, and UDP announces by front end", async () => {
    const metrics = await scrapeMetrics(f.tracker.url);
    assert.ok(metrics.value("p2ptracker_udp_packets_total", { action: "connect", reply: "answered" }) > 0);
    assert.ok(metrics.value("p2ptracker_udp_packets_total", { action: "announce", reply: "error" }) > 0);
    assert.ok(metrics.value("p2ptracker_udp_packets_total", { action: "unknown", reply: "dropped" }) >= 2);
    assert.ok(metrics.value("p2ptracker_frontend_announces_total", { frontend: "udp", outcome: "ok" }) > 0);
    assert.ok(metrics.value("p2ptracker_frontend_announces_total", { frontend: "udp", outcome: "unregistered" }) > 0);
    assert.ok(metrics.value("p2ptracker_frontend_announces_total", { frontend: "udp", outcome: "failed" }) > 0);
    assert.ok(metrics.value("p2ptracker_frontend_announces_total", { frontend: "http", outcome: "ok" }) > 0);
  });

  it(
    "IPv6: a request over ::1 gets 18-byte peers, one over IPv4 6-byte peers",
    { skip: !HAS_IPV6 && "no IPv6 on this machine" },
    async () => {
      const infoHash = randomInfoHash();
      await register(infoHash);
      const [a, b] = [await UdpClient.open("::1", f.tracker.udpPort!), await UdpClient.open("::1", f.tracker.udpPort!)];
      try {
        expectAction(await a.announce({ infoHash, port: 7501, event: 2 }), 1);
        const second = expectAction(await b.announce({ infoHash, port: 7502, event: 2 }), 1);
        assert.deepEqual(second.peers, ["::1:7501"]);
        assert.equal(second.peerBytes, 18);
        const v4 = expectAction(await client.announce({ infoHash, ip: "10.7.7.1", port: 7503, event: 2 }), 1);
        assert.equal(v4.peerBytes % 6, 0);
        assert.ok(
          v4.peers.every((p) => !p.includes("::")),
          "no IPv6 peer in an IPv4 reply",
        );
        // An id is bound to the address it was issued to: an IPv4 id is refused over IPv6.
        const v4Id = await client.connect();
        const refused = await a.ask(announcePacket({ connectionId: v4Id, transactionId: 9, infoHash, port: 7501 }));
        assert.equal(refused.action, 3);
      } finally {
        a.close();
        b.close();
      }
    },
  );
});

describe("UDP replicas on one Redis", () => {
  let redis: TestRedis;
  const trackers: TestTracker[] = [];
  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await Promise.allSettled(trackers.map((t) => t.close()));
    await redis.close();
  });

  it("accept each other's connection ids through the secret they share in Redis; another secret refuses them", async () => {
    // Started together: SET NX gives both the one secret.
    const [a, b] = await Promise.all([
      startTestTracker(redis, { UDP_PORT: "0", AUTO_ACTIVATE: "true" }),
      startTestTracker(redis, { UDP_PORT: "0", AUTO_ACTIVATE: "true" }),
    ]);
    trackers.push(a, b);
    const other = await startTestTracker(redis, { UDP_PORT: "0", AUTO_ACTIVATE: "true", UDP_SECRET: SECRET });
    trackers.push(other);
    assert.match(String(await redis.client.get("udp:secret")), /^[0-9a-f]{64}$/);
    const toA = await UdpClient.open("127.0.0.1", a.udpPort!);
    const toB = await UdpClient.open("127.0.0.1", b.udpPort!);
    const toOther = await UdpClient.open("127.0.0.1", other.udpPort!);
    try {
      // One client socket, so one source address and port, whichever replica it sends to.
      const sendFrom = (target: UdpClient, packet: Buffer) =>
        new Promise<Buffer>((done) => {
          toA.socket.once("message", done);
          toA.socket.send(packet, target.port, "127.0.0.1");
        });
      const id = await toA.connect();
      const infoHash = randomInfoHash();
      const viaB = await sendFrom(
        toB,
        announcePacket({ connectionId: id, transactionId: 11, infoHash, port: 7601, event: 2 }),
      );
      assert.equal(viaB.readUInt32BE(0), 1, `replica B took A's id: ${viaB.subarray(8).toString()}`);
      const viaOther = await sendFrom(
        toOther,
        announcePacket({ connectionId: id, transactionId: 12, infoHash, port: 7601 }),
      );
      assert.equal(viaOther.readUInt32BE(0), 3, "a replica with another secret refuses it");
      // Without ACCEPT_IP_PARAM the peer is the packet's source address, whatever its ip field says.
      const spoofed = await sendFrom(
        toB,
        announcePacket({ connectionId: id, transactionId: 13, infoHash, port: 7602, ip: "10.9.9.9" }),
      );
      assert.equal(spoofed.readUInt32BE(0), 1);
      const stored = (await redis.client.hKeys(`{${hexOf(infoHash)}}:peers`)).map((k) =>
        Buffer.from(k, "latin1").subarray(0, 4).join("."),
      );
      assert.deepEqual([...new Set(stored)], ["127.0.0.1"]);
    } finally {
      toA.close();
      toB.close();
      toOther.close();
    }
  });

  it("while Redis is down an announce gets the storage error packet; it works again once Redis is back", async () => {
    const tracker = await startTestTracker(redis, { UDP_PORT: "0", AUTO_ACTIVATE: "true", REDIS_TIMEOUT_MS: "300" });
    trackers.push(tracker);
    const udp = await UdpClient.open("127.0.0.1", tracker.udpPort!);
    try {
      const connectionId = await udp.connect();
      const infoHash = randomInfoHash();
      const packet = (transactionId: number) =>
        announcePacket({ connectionId, transactionId, infoHash, port: 7701, event: 2 });
      await redis.stopServer();
      const down = await udp.ask(packet(21));
      assert.equal(down.action, 3);
      assert.equal((down as { message: string }).message, "tracker storage unavailable, retry later");
      await redis.startServer();
      let reply: Reply = down;
      for (let i = 0; i < 50 && reply.action !== 1; i++) {
        await new Promise((r) => setTimeout(r, 200));
        reply = await udp.ask(packet(22 + i));
      }
      assert.equal(reply.action, 1, `answered again: ${JSON.stringify(reply)}`);
    } finally {
      udp.close();
    }
  });

  it("close() closes the UDP socket: no more answers, and the port is free again", async () => {
    const tracker = await startTestTracker(redis, { UDP_PORT: "0" });
    const port = tracker.udpPort!;
    const probe = await UdpClient.open("127.0.0.1", port);
    try {
      await probe.connect();
      await tracker.close();
      assert.equal(await probe.raw(connectPacket(1), 300), undefined, "a closed tracker does not answer");
      const again = createSocket("udp4");
      await new Promise<void>((done, fail) => {
        again.once("error", fail);
        again.bind(port, "127.0.0.1", () => done());
      });
      again.close();
    } finally {
      probe.close();
    }
  });
});
