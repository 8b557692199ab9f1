/**
 * The announce and scrape every front end shares (HTTP in http/, UDP in udp/): a front end
 * parses its request into typed parameters and the client's address, and from there one
 * path resolves the rack, runs the transfer's scripts through the rack budget and counts
 * the outcome. The front end then writes the reply in its own wire format.
 */
import type { AnnounceParams } from "./wire/announceParams.js";
import {
  ClientError,
  splitCompact,
  compactAddress,
  type AnnounceReply,
  type PeerEntry,
  type ScrapeCounts,
} from "./wire/bittorrent.js";
import type { Config } from "./config/config.js";
import { formatIp, type IpBytes } from "./net/ip.js";
import { GLOBAL_KEYS, rackKey, transferKeys } from "./store/keys.js";
import type { RackChain } from "./racks/chain.js";
import { runSeen, type AnnounceResult, type ScriptRunner } from "./store/scripts.js";
import { announceWithBudget } from "./store/rackBudget.js";
import {
  failureReason,
  type AnnounceEventLabel,
  type FrontEnd,
  type Operation,
  type TrackerMetrics,
} from "./observe/metrics.js";
import { log } from "./log.js";

/** The part of a Redis client the tracker uses besides its scripts. */
export interface TrackerStore extends Pick<ScriptRunner, "announce" | "lease" | "seen"> {
  zAdd(key: string, members: { score: number; value: string }): Promise<unknown>;
  zRange(key: string, start: number, stop: number): Promise<unknown>;
  hmGet(key: string, fields: string[]): Promise<unknown>;
}

const PRUNE_LIMIT = 16;

/** Dependencies of the announce and scrape handlers. */
export interface TrackerDeps {
  readonly config: Config;
  readonly redis: TrackerStore;
  readonly racks: RackChain;
  readonly metrics: TrackerMetrics;
}

/** What an announce decided, for the front end to write in its wire format. */
export interface AnnounceAnswer {
  readonly reply: AnnounceReply;
  /** The selected peers as entries, when the client asked for the non-compact (dictionary) model. */
  readonly peerList?: readonly PeerEntry[];
}

/** When and where a request arrived: its duration is counted from `started` (performance.now()). */
export interface Arrival {
  readonly frontEnd: FrontEnd;
  readonly started: number;
}

/** The tracker's two protocol operations, typed, as every front end calls them once it has parsed a request. */
export interface Tracker {
  /** One validated announce from the client at `ip`: the rack, the scripts, the counts. */
  announce(params: AnnounceParams, ip: IpBytes, arrival: Arrival): Promise<AnnounceAnswer>;
  /** Counts of the given transfers; none given: every active transfer (FULL_SCRAPE). */
  scrape(infoHashes: readonly Uint8Array[], arrival: Arrival): Promise<ScrapeCounts[]>;
  /**
   * Counts a request the front end refused before it reached announce() or scrape(): a
   * malformed query or packet, an address it cannot trust. `event` when it was read.
   */
  rejected(operation: Operation, error: unknown, arrival: Arrival, event?: AnnounceParams["event"]): void;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
const eventLabel = (event: AnnounceParams["event"] | undefined): AnnounceEventLabel =>
  event === undefined ? "unknown" : event === "" ? "none" : event;

/** Builds the tracker once: lookup tables and policies are fixed, requests run small closures. */
export function createTracker({ config, redis, racks, metrics }: TrackerDeps): Tracker {
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
  const elapsed = (arrival: Arrival) => (performance.now() - arrival.started) / 1000;

  function rejected(operation: Operation, error: unknown, arrival: Arrival, event?: AnnounceParams["event"]): void {
    metrics.failures[operation][failureReason(error)].inc();
    if (operation === "announce") {
      metrics.announces[eventLabel(event)].failed.inc();
      metrics.frontEndAnnounces[arrival.frontEnd].failed.inc();
      metrics.announceSeconds.observe(elapsed(arrival));
    } else {
      metrics.scrapes.failed.inc();
      metrics.scrapeSeconds.observe(elapsed(arrival));
    }
  }

  // Counted here, where the event and the script's reply are known.
  async function announce(params: AnnounceParams, ip: IpBytes, arrival: Arrival): Promise<AnnounceAnswer> {
    try {
      const answer = await answerAnnounce(params, ip);
      metrics.announceSeconds.observe(elapsed(arrival));
      metrics.frontEndAnnounces[arrival.frontEnd][answer.reply.warning === undefined ? "ok" : "unregistered"].inc();
      return answer;
    } catch (error) {
      rejected("announce", error, arrival, params.event);
      throw error;
    }
  }

  async function answerAnnounce(params: AnnounceParams, ip: IpBytes): Promise<AnnounceAnswer> {
    const event = eventLabel(params.event);
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
      metrics.announces[event].unregistered.inc();
      noteSeen(infoHashHex);
      const reply = {
        interval: config.PASSIVE_INTERVAL,
        minInterval: config.PASSIVE_INTERVAL,
        complete: 0,
        incomplete: 0,
        peers4: new Uint8Array(0),
        peers6: new Uint8Array(0),
        warning: `transfer ${infoHashHex} is not registered with this tracker`,
      };
      return { reply };
    }
    if (result.activated) noteActivated(infoHashHex);
    metrics.announces[event].ok.inc();
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
    return params.compact ? { reply } : { reply, peerList: peerList(result, withPeerIds) };
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

  async function scrape(infoHashes: readonly Uint8Array[], arrival: Arrival): Promise<ScrapeCounts[]> {
    try {
      const files = await answerScrape(infoHashes);
      metrics.scrapes.ok.inc();
      metrics.scrapeSeconds.observe(elapsed(arrival));
      return files;
    } catch (error) {
      rejected("scrape", error, arrival);
      throw error;
    }
  }

  async function answerScrape(infoHashes: readonly Uint8Array[]): Promise<ScrapeCounts[]> {
    let hashes = infoHashes.map((h) => hex(h).toUpperCase());
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
    return files.filter((f): f is ScrapeCounts => f !== undefined);
  }

  return { announce, scrape, rejected };
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
