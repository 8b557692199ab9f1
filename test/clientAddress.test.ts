import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RESP_TYPES } from "redis";
import { formatIp } from "../src/net/ip.js";
import { decode, httpRequest, text } from "./helpers/http.js";
import { startTestRedis, type TestRedis } from "./helpers/redisServer.js";
import { announceQuery, hexOf, peer, randomInfoHash, startTestTracker, type TestTracker } from "./helpers/tracker.js";

/** Where the tracker takes a client's address from, seen through the peer it stores. */
describe("client address", () => {
  let redis: TestRedis;
  const trackers: TestTracker[] = [];
  const start = async (overrides: Record<string, string>) => {
    const tracker = await startTestTracker(redis, { AUTO_ACTIVATE: "true", PROXYPASS: "false", ...overrides });
    trackers.push(tracker);
    return tracker;
  };

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    for (const tracker of trackers) await tracker.close();
    await redis.close();
  });

  /** Announces from loopback with `headers` and `extra` query text; returns the one stored "ip:port". */
  async function storedAddress(tracker: TestTracker, headers: Record<string, string>, extra = ""): Promise<string> {
    const infoHash = randomInfoHash();
    const client = peer("127.0.0.1");
    const response = await httpRequest(`${tracker.url}/announce?${announceQuery(infoHash, client, { extra })}`, {
      headers,
    });
    assert.equal(decode(response.body)["failure reason"], undefined);
    const fields = await redis.client.sendCommand<Buffer[]>(["HKEYS", `{${hexOf(infoHash)}}:peers`], {
      typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer },
    });
    assert.equal(fields.length, 1);
    const compact = fields[0]!;
    return `${formatIp(compact.subarray(0, compact.length - 2))}:${compact.readUInt16BE(compact.length - 2)}`;
  }
  const ipOf = (address: string) => address.slice(0, address.lastIndexOf(":"));

  it("uses the socket address and ignores forwarding headers when PROXYPASS is off", async () => {
    const tracker = await start({});
    assert.equal(
      ipOf(await storedAddress(tracker, { "X-Forwarded-For": "10.1.2.3", "X-Real-IP": "10.1.2.4" })),
      "127.0.0.1",
    );
  });

  it("ignores forwarding headers from a proxy that is not trusted", async () => {
    const tracker = await start({ PROXYPASS: "true", TRUSTED_PROXIES: "10.0.0.0/8" });
    assert.equal(ipOf(await storedAddress(tracker, { "X-Forwarded-For": "10.1.2.3" })), "127.0.0.1");
  });

  it("takes the nearest untrusted hop of X-Forwarded-For, else X-Real-IP, from a trusted proxy", async () => {
    const tracker = await start({ PROXYPASS: "true" });
    const chain = { "X-Forwarded-For": "198.51.100.7, 203.0.113.9, 127.0.0.5" };
    assert.equal(ipOf(await storedAddress(tracker, chain)), "203.0.113.9", "a client cannot claim by prepending");
    assert.equal(ipOf(await storedAddress(tracker, { "X-Real-IP": "10.7.7.7" })), "10.7.7.7");
    assert.equal(ipOf(await storedAddress(tracker, { "X-Forwarded-For": "::ffff:10.9.8.7" })), "10.9.8.7");
    assert.equal(ipOf(await storedAddress(tracker, { "X-Forwarded-For": "2001:db8::5" })), "2001:db8::5");
  });

  it("honours the ip parameter only with ACCEPT_IP_PARAM", async () => {
    const strict = await start({});
    assert.equal(ipOf(await storedAddress(strict, {}, "ip=10.5.5.5")), "127.0.0.1");
    const lenient = await start({ ACCEPT_IP_PARAM: "true" });
    assert.equal(ipOf(await storedAddress(lenient, {}, "ip=10.5.5.5")), "10.5.5.5");
    const reply = decode(
      (
        await httpRequest(
          `${lenient.url}/announce?${announceQuery(randomInfoHash(), peer("127.0.0.1"), { extra: "ip=nope" })}`,
        )
      ).body,
    );
    assert.match(text(reply["failure reason"]), /ip must be an IPv4 or IPv6 address/);
  });
});
