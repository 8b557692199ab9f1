import { parseAnnounce, parseScrape } from "./wire/announceParams.js";
import {
  ClientError,
  encodeAnnounce,
  encodeScrape,
  splitCompact,
  compactAddress,
  type PeerEntry,
  type ScrapeCounts,
} from "./wire/bittorrent.js";
import { clientAddressResolver, type AddressSources } from "./http/clientAddress.js";
import type { Config } from "./config/config.js";
import { formatIp } from "./net/ip.js";
import { GLOBAL_KEYS, rackKey, transferKeys } from "./store/keys.js";
import { decodeQuery } from "./wire/query.js";
import type { RackChain } from "./racks/chain.js";
import { runSeen, type AnnounceResult, type ScriptRunner } from "./store/scripts.js";
import { announceWithBudget } from "./store/rackBudget.js";
import { failureReason, type AnnounceEventLabel, type TrackerMetrics } from "./observe/metrics.js";
import { log } from "./log.js";

/** The part of a Redis client the tracker uses besides its scripts. */
export interface TrackerStore extends Pick<ScriptRunner, "announce" | "lease" | "seen"> {
  zAdd(key: string, members: { score: number; value: string }): Promise<unknown>;
  zRange(key: string, start: number, stop: number): Promise<unknown>;
  hmGet(key: string, fields: string[]): Promise<unknown>;
}

const MAX_SCRAPE_HASHES = 200;
const PRUNE_LIMIT = 16;

/** Dependencies of the announce and scrape handlers. */
export interface TrackerDeps {
  readonly config: Config;
  readonly redis: TrackerStore;
  readonly racks: RackChain;
  readonly metrics: TrackerMetrics;
}

/** The tracker's two protocol operations, from raw query to bencoded body. */
export interface Tracker {
  announce(rawQuery: string, sources: Omit<AddressSources, "ipParam">): Promise<Uint8Array>;
  scrape(rawQuery: string): Promise<Uint8Array>;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

/** Builds the tracker once: lookup tables and policies are fixed, requests run small closures. */
export function createTracker({ config, redis, racks, metrics }: TrackerDeps): Tracker {
  const clientAddress = clientAddressResolver({
    proxyPass: config.PROXYPASS,
    trustedProxies: config.TRUSTED_PROXIES,
    acceptIpParam: config.ACCEPT_IP_PARAM,
  });
  const policy = {
    maxRepr: config.MAX_REPR_RACK,
    peerTtl: config.PEER_TTL,
    autoActivate: config.AUTO_ACTIVATE,
    rackAware: config.RACK_AWARE,
    pruneLimit: PRUNE_LIMIT,
    slots: config.RACK_UPLINK_SLOTS,
    leaseTtl: config.LEASE_TTL,
    headStart: config.PRIORITY_HEAD_START,
    // A transfer stops waiting for a rack's slot once no client of it asked for as long as
    // a peer lives without announcing.
    waitTtl: config.PEER_TTL,
  };
  // Index updates outside the transfer's slot: an announce never waits for them.
  const noteSeen = (infoHashHex: string) =>
    void runSeen(redis, GLOBAL_KEYS.seenTransfers, infoHashHex, config.SEEN_MAX).catch(() => undefined);
  const noteActivated = (infoHashHex: string) =>
    void redis
      .zAdd(GLOBAL_KEYS.activeTransfers, { score: Math.floor(Date.now() / 1000), value: infoHashHex })
      .catch(() => undefined);

  // Counted here, where the event and the script's reply are known; the HTTP layer only
  // counts what never reaches the tracker (a wrong method).
  async function announce(rawQuery: string, sources: Omit<AddressSources, "ipParam">): Promise<Uint8Array> {
    const started = performance.now();
    const progress = { event: "unknown" as AnnounceEventLabel };
    try {
      return await answerAnnounce(rawQuery, sources, progress);
    } catch (error) {
      metrics.announces[progress.event].failed.inc();
      metrics.failures.announce[failureReason(error)].inc();
      throw error;
    } finally {
      metrics.announceSeconds.observe((performance.now() - started) / 1000);
    }
  }

  async function answerAnnounce(
    rawQuery: string,
    sources: Omit<AddressSources, "ipParam">,
    progress: { event: AnnounceEventLabel },
  ): Promise<Uint8Array> {
    const params = parseAnnounce(decodeQuery(rawQuery));
    progress.event = params.event === "" ? "none" : params.event;
    const ip = clientAddress({ ...sources, ipParam: params.ip });
    const rack = await racks.resolve(formatIp(ip));
    const infoHashHex = hex(params.infoHash).toUpperCase();
    const withPeerIds = !params.compact && !params.noPeerId;
    const { result, lease } = await announceWithBudget(
      redis,
      infoHashHex,
      {
        address: compactAddress(ip, params.port),
        rack,
        peerId: params.peerId,
        keyHex: params.keyHex,
        event: params.event,
        left: params.left,
        uploaded: params.uploaded,
        downloaded: params.downloaded,
        numwant: Math.min(params.numwant ?? config.MAXPEERS, config.MAXPEERS),
        withPeerIds,
      },
      policy,
    );
    if (log.debugEnabled) void debugAnnounce(infoHashHex, `${formatIp(ip)}:${params.port}`, rack, result);
    if (!result.active) {
      metrics.announces[progress.event].unregistered.inc();
      noteSeen(infoHashHex);
      return encodeAnnounce({
        interval: config.PASSIVE_INTERVAL,
        minInterval: config.PASSIVE_INTERVAL,
        complete: 0,
        incomplete: 0,
        peers4: new Uint8Array(0),
        peers6: new Uint8Array(0),
        warning: `transfer ${infoHashHex} is not registered with this tracker`,
      });
    }
    if (result.activated) noteActivated(infoHashHex);
    metrics.announces[progress.event].ok.inc();
    metrics.peersReturned.observe(result.peers4.length / 6 + result.peers6.length / 18);
    if (result.elected) metrics.representativesElected.inc();
    if (result.failover) metrics.representativeFailovers.inc();
    if (lease !== undefined) metrics.leases[lease.verdict].inc();
    if (lease?.displaced)
      log.info("rack slot taken", { rack, infoHash: infoHashHex, from: lease.displaced, to: formatIp(ip) });
    // Representatives renew their lease at REP_INTERVAL, so a dead one is replaced soon.
    // Clients of a transfer that waits for a rack slot keep the usual interval: a rack of
    // them asking every few seconds would cost more than the wait.
    const short = result.role === "rep";
    const reply = {
      interval: short ? config.REP_INTERVAL : config.ACTIVE_INTERVAL,
      minInterval: short ? config.REP_INTERVAL : config.MIN_INTERVAL,
      complete: result.seeders,
      incomplete: result.leechers,
      peers4: result.peers4,
      peers6: result.peers6,
    };
    return encodeAnnounce(reply, params.compact ? undefined : peerList(result, withPeerIds));
  }

  /**
   * DEBUG: where an announce landed (rack, tier, role) and who represents its rack now. The
   * representatives cost one more read, made only with DEBUG on; the reply does not wait for it.
   */
  async function debugAnnounce(infoHash: string, client: string, rack: string, result: AnnounceResult): Promise<void> {
    const fields = {
      infoHash,
      client,
      // As resolved now; a client keeps the rack of its first announce while its record lives.
      rack,
      role: result.role,
      tier: tierOf(result.role, config.RACK_AWARE),
      elected: result.elected,
      failover: result.failover,
      peers: result.peers4.length / 6 + result.peers6.length / 18,
    };
    let representatives: string[] | string = [];
    if (result.active && config.RACK_AWARE) {
      try {
        const reps = (await redis.zRange(rackKey(infoHash, rack, "R"), 0, -1)) as Buffer[];
        representatives = reps.map((address) => {
          const peer = splitCompact(address);
          return `${formatIp(peer.ip)}:${peer.port}`;
        });
      } catch (error) {
        representatives = `unknown: ${(error as Error).message}`;
      }
    }
    log.debug("announce", { ...fields, representatives });
  }

  async function scrape(rawQuery: string): Promise<Uint8Array> {
    const started = performance.now();
    try {
      const body = await answerScrape(rawQuery);
      metrics.scrapes.ok.inc();
      return body;
    } catch (error) {
      metrics.scrapes.failed.inc();
      metrics.failures.scrape[failureReason(error)].inc();
      throw error;
    } finally {
      metrics.scrapeSeconds.observe((performance.now() - started) / 1000);
    }
  }

  async function answerScrape(rawQuery: string): Promise<Uint8Array> {
    let hashes = parseScrape(decodeQuery(rawQuery), MAX_SCRAPE_HASHES).map((h) => hex(h).toUpperCase());
    if (hashes.length === 0) {
      if (!config.FULL_SCRAPE) throw new ClientError("full scrape is disabled: give one or more info_hash");
      hashes = ((await redis.zRange(GLOBAL_KEYS.activeTransfers, 0, -1)) as Buffer[]).map((h) => h.toString());
    }
    const files = await Promise.all(
      hashes.map(async (infoHashHex): Promise<ScrapeCounts | undefined> => {
        if (!/^[0-9A-F]{40}$/.test(infoHashHex)) return undefined;
        const fields = (await redis.hmGet(transferKeys(infoHashHex).info, [
          "seeders",
          "leechers",
          "completed",
        ])) as Array<Buffer | null>;
        const count = (v: Buffer | null | undefined) => Math.max(0, Number(v?.toString() ?? 0) || 0);
        return {
          infoHash: Buffer.from(infoHashHex, "hex"),
          complete: count(fields[0]),
          incomplete: count(fields[1]),
          downloaded: count(fields[2]),
        };
      }),
    );
    return encodeScrape(files.filter((f): f is ScrapeCounts => f !== undefined));
  }

  return { announce, scrape };
}

/** Which swarm a client trades in: members inside their rack; representatives and origins also across racks. */
function tierOf(role: AnnounceResult["role"], rackAware: boolean): string {
  if (!rackAware) return "flat";
  if (role === "") return "none";
  return role === "member" ? "rack" : "rack+outside";
}

/** The selected peers as non-compact entries (BEP 3 dictionary model). */
function peerList(result: AnnounceResult, withPeerIds: boolean): PeerEntry[] {
  const ids = new Map(result.peerIds.map((p) => [hex(p.address), p.peerId]));
  const entries: PeerEntry[] = [];
  for (const [packed, size] of [
    [result.peers4, 6],
    [result.peers6, 18],
  ] as const) {
    for (let i = 0; i + size <= packed.length; i += size) {
      const compact = packed.subarray(i, i + size);
      const { ip, port } = splitCompact(compact);
      const id = withPeerIds ? ids.get(hex(compact)) : undefined;
      entries.push({ ip: formatIp(ip), port, peerId: id?.length === 20 ? id : undefined });
    }
  }
  return entries;
}
