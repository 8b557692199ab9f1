/**
 * The tracker's Prometheus metrics. Every label value comes from a fixed set named here,
 * never from a request (an info hash or an address as a label would grow without bound).
 * Counters are tallies bound once per label set at startup, so counting an announce is an
 * addition (see talliedCounter). One registry per tracker: tests run several in a process.
 */

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { LeaseVerdict } from "../store/scripts.js";
import { ErrorReply } from "redis";
import { ClientError } from "../wire/bittorrent.js";
import { QueryError } from "../wire/query.js";
import { StorageTimeoutError } from "../store/deadline.js";
import { isStorageError } from "../store/storageErrors.js";
import type { LookupResult } from "../racks/chain.js";

/** The announce's event as labelled: `none` for a periodic announce, `unknown` when it failed before the event was read. */
export const ANNOUNCE_EVENTS = ["started", "completed", "stopped", "paused", "none", "unknown"] as const;
export type AnnounceEventLabel = (typeof ANNOUNCE_EVENTS)[number];

/** ok: an active transfer answered; unregistered: the passive answer; failed: a failure reason. */
export const ANNOUNCE_OUTCOMES = ["ok", "unregistered", "failed"] as const;
export type AnnounceOutcome = (typeof ANNOUNCE_OUTCOMES)[number];

/** Why a request got a failure: a fixed set, never the message (it may quote the request). */
export const FAILURE_REASONS = [
  "wrong_method",
  "malformed_query",
  "invalid_request",
  "storage_timeout",
  "storage_unavailable",
  "storage_error",
  "internal",
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export const OPERATIONS = ["announce", "scrape"] as const;

/** The front ends a request can arrive through. */
export const FRONT_ENDS = ["http", "udp"] as const;
export type FrontEnd = (typeof FRONT_ENDS)[number];

/** BEP 15 actions as labelled: `unknown` for a packet whose action is none of them. */
export const UDP_ACTIONS = ["connect", "announce", "scrape", "unknown"] as const;
export type UdpAction = (typeof UDP_ACTIONS)[number];
/** answered: a reply of the action; error: an error packet; dropped: no reply (BEP 15: too short to carry a transaction id). */
export const UDP_REPLIES = ["answered", "error", "dropped"] as const;
export type UdpReply = (typeof UDP_REPLIES)[number];
export type Operation = (typeof OPERATIONS)[number];

export const RESOLVERS = ["static", "http", "module", "subnet"] as const;
export type ResolverName = (typeof RESOLVERS)[number];

/** hit: the resolver knew the address; miss: it did not (the next one asks); error, timeout: it failed. */
export const LOOKUP_RESULTS = ["hit", "miss", "error", "timeout"] as const satisfies readonly LookupResult[];

/** timeout: no answer within REDIS_TIMEOUT_MS; refused: too many calls overdue, not sent; error: Redis or the connection failed it. */
export const REDIS_ERROR_KINDS = ["error", "timeout", "refused"] as const;
export type RedisErrorKind = (typeof REDIS_ERROR_KINDS)[number];
/** The HTTP limits (see http/serverLimits.ts) a connection or request can be refused by. */
export const HTTP_LIMITS = [
  "headers_timeout",
  "request_size",
  "header_count",
  "malformed",
  "max_connections",
  "max_connections_per_address",
] as const;
export type HttpLimit = (typeof HTTP_LIMITS)[number];

/** The failure reason of an error an announce or scrape ended with. */
export function failureReason(error: unknown): FailureReason {
  if (error instanceof QueryError) return "malformed_query";
  if (error instanceof ClientError) return "invalid_request";
  if (error instanceof StorageTimeoutError) return "storage_timeout";
  if (isStorageError(error)) return "storage_unavailable";
  if (error instanceof ErrorReply) return "storage_error";
  return "internal";
}

type Observer = { observe(value: number): void };

/** A count the announce path bumps with one addition; its counter reads it at scrape time. */
export class Tally {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

/**
 * A counter whose label sets are all known up front, one Tally each. prom-client looks a
 * label set up by hashing it on every inc (hundreds of ns); a Tally is one addition, and
 * the counter copies the tallies in only when /metrics is scraped. Every set is exported
 * from the start at 0: a rate over a series that appears with its first event would read
 * "no data" instead of 0.
 */
function talliedCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  labelSets: ReadonlyArray<readonly string[]>,
): Tally[] {
  const tallies = labelSets.map(() => new Tally());
  const labels = labelSets.map((set) => Object.fromEntries(labelNames.map((label, i) => [label, set[i]!])));
  new Counter({
    name,
    help,
    labelNames: [...labelNames],
    registers: [registry],
    collect() {
      this.reset();
      tallies.forEach((tally, i) => this.inc(labels[i]!, tally.value));
    },
  });
  return tallies;
}

/** An unlabelled tallied counter. */
function counter(registry: Registry, name: string, help: string): Tally {
  return talliedCounter(registry, name, help, [], [[]])[0]!;
}

/** A tallied counter with one label: a Tally per value. */
function counterBy<B extends string>(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  values: readonly B[],
): Record<B, Tally> {
  const tallies = talliedCounter(
    registry,
    name,
    help,
    [label],
    values.map((v) => [v]),
  );
  return Object.fromEntries(values.map((v, i) => [v, tallies[i]!])) as Record<B, Tally>;
}

/** A tallied counter with two labels: a Tally per pair of values. */
function counterBy2<A extends string, B extends string>(
  registry: Registry,
  name: string,
  help: string,
  labels: readonly [string, string],
  first: readonly A[],
  second: readonly B[],
): Record<A, Record<B, Tally>> {
  const pairs = first.flatMap((a) => second.map((b) => [a, b] as const));
  const tallies = talliedCounter(registry, name, help, labels, pairs);
  const table = {} as Record<A, Record<B, Tally>>;
  pairs.forEach(([a, b], i) => ((table[a] ??= {} as Record<B, Tally>)[b] = tallies[i]!));
  return table;
}

export const LEASE_VERDICTS = [
  "granted",
  "held",
  "waiting",
  "denied",
  "revoked",
  "released",
] as const satisfies readonly LeaseVerdict[];

/** Seconds: an announce is well under a millisecond of Redis work; the top buckets catch trouble. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Peers per announce reply: numwant is at most MAXPEERS (default 50, at most 1000). */
const PEER_BUCKETS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/** Announces sent to Redis in one write (see store/batching.ts). */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** The metrics of one tracker and the registry /metrics renders. */
export class TrackerMetrics {
  readonly registry = new Registry();
  readonly announces: Record<AnnounceEventLabel, Record<AnnounceOutcome, Tally>>;
  readonly frontEndAnnounces: Record<FrontEnd, Record<AnnounceOutcome, Tally>>;
  readonly udpPackets: Record<UdpAction, Record<UdpReply, Tally>>;
  readonly failures: Record<Operation, Record<FailureReason, Tally>>;
  readonly scrapes: Record<"ok" | "failed", Tally>;
  readonly announceSeconds: Observer;
  readonly scrapeSeconds: Observer;
  readonly peersReturned: Observer;
  readonly representativesElected: Tally;
  readonly representativeFailovers: Tally;
  readonly leases: Record<LeaseVerdict, Tally>;
  readonly rackLookups: Record<ResolverName, Record<LookupResult, Tally>>;
  readonly redisErrors: Record<RedisErrorKind, Tally>;
  readonly redisReconnects: Tally;
  readonly noscriptReloads: Tally;
  readonly batchSize: Observer;
  readonly httpRefused: Record<HttpLimit, Tally>;

  constructor(version: string) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: "p2ptracker_build_info",
      help: "Always 1; the version label says which tracker runs.",
      labelNames: ["version"],
      registers,
    }).set({ version }, 1);
    const registry = this.registry;
    this.announces = counterBy2(
      registry,
      "p2ptracker_announces_total",
      "Announces answered, by event and outcome (ok: active transfer; unregistered: passive answer; failed: see p2ptracker_failures_total).",
      ["event", "outcome"],
      ANNOUNCE_EVENTS,
      ANNOUNCE_OUTCOMES,
    );
    this.frontEndAnnounces = counterBy2(
      registry,
      "p2ptracker_frontend_announces_total",
      "Announces answered, by the front end they came through (http, udp) and outcome.",
      ["frontend", "outcome"],
      FRONT_ENDS,
      ANNOUNCE_OUTCOMES,
    );
    this.udpPackets = counterBy2(
      registry,
      "p2ptracker_udp_packets_total",
      "UDP tracker packets (BEP 15), by action and what they got: their reply, an error packet, or nothing (dropped).",
      ["action", "reply"],
      UDP_ACTIONS,
      UDP_REPLIES,
    );
    this.failures = counterBy2(
      registry,
      "p2ptracker_failures_total",
      "Announces and scrapes answered with a failure reason, by operation and reason.",
      ["operation", "reason"],
      OPERATIONS,
      FAILURE_REASONS,
    );
    this.scrapes = counterBy(registry, "p2ptracker_scrapes_total", "Scrapes answered, by outcome.", "outcome", [
      "ok",
      "failed",
    ] as const);
    this.announceSeconds = new Histogram({
      name: "p2ptracker_announce_duration_seconds",
      help: "Time from an announce reaching the tracker to its reply being ready, failures included.",
      buckets: LATENCY_BUCKETS,
      registers,
    }).labels();
    this.scrapeSeconds = new Histogram({
      name: "p2ptracker_scrape_duration_seconds",
      help: "Time from a scrape reaching the tracker to its reply being ready, failures included.",
      buckets: LATENCY_BUCKETS,
      registers,
    }).labels();
    this.peersReturned = new Histogram({
      name: "p2ptracker_announce_peers_returned",
      help: "Peers in each announce reply of an active transfer.",
      buckets: PEER_BUCKETS,
      registers,
    }).labels();
    this.representativesElected = counter(
      registry,
      "p2ptracker_representatives_elected_total",
      "Announces that made their client a representative of its rack.",
    );
    this.representativeFailovers = counter(
      registry,
      "p2ptracker_representative_failovers_total",
      "Elections that took the slot of a representative that had gone silent (expired).",
    );
    this.leases = counterBy(
      registry,
      "p2ptracker_rack_leases_total",
      "Answers of the racks' uplink budget to announces that asked (claims, renewals, releases), by verdict.",
      "verdict",
      LEASE_VERDICTS,
    );
    this.rackLookups = counterBy2(
      registry,
      "p2ptracker_rack_lookups_total",
      "Rack resolver look-ups (cached answers included), by resolver and result.",
      ["resolver", "result"],
      RESOLVERS,
      LOOKUP_RESULTS,
    );
    this.redisErrors = counterBy(
      registry,
      "p2ptracker_redis_errors_total",
      "Redis calls of the announce path that failed, by kind (error, timeout, refused).",
      "kind",
      REDIS_ERROR_KINDS,
    );
    this.redisReconnects = counter(
      registry,
      "p2ptracker_redis_reconnects_total",
      "Times the announce connection to Redis came back after it was lost.",
    );
    this.noscriptReloads = counter(
      registry,
      "p2ptracker_redis_noscript_reloads_total",
      "Scripts Redis no longer had cached (NOSCRIPT), sent again in full with EVAL.",
    );
    this.batchSize = new Histogram({
      name: "p2ptracker_redis_batch_size",
      help: "Announce scripts sent to Redis in one write (batches form while Redis is busy).",
      buckets: BATCH_BUCKETS,
      registers,
    }).labels();
    this.httpRefused = counterBy(
      registry,
      "p2ptracker_http_refused_total",
      "Connections and requests cut off by a limit (slow headers, oversized or malformed requests, connection caps), by limit.",
      "limit",
      HTTP_LIMITS,
    );
  }

  /** The hooks the store and the rack chain report through, bound to these metrics. */
  readonly countBatch = (size: number): void => this.batchSize.observe(size);
  readonly countRefused = (limit: HttpLimit): void => this.httpRefused[limit].inc();
  readonly countRedisFailure = (kind: RedisErrorKind): void => this.redisErrors[kind].inc();
  readonly countLookup = (resolver: string, result: LookupResult): void =>
    this.rackLookups[resolver as ResolverName]?.[result].inc();
  readonly redisEvents = {
    reconnected: (): void => this.redisReconnects.inc(),
    scriptReloaded: (): void => this.noscriptReloads.inc(),
  };

  /**
   * Gauges read at each scrape: readiness, and the active transfers (counted in Redis; the
   * last count stays while Redis does not answer).
   */
  observeState(ready: () => boolean, activeTransfers: () => Promise<number>): void {
    const registers = [this.registry];
    new Gauge({
      name: "p2ptracker_ready",
      help: "1 while /readyz answers 200 (Redis up, scripts loaded, not draining), else 0.",
      registers,
      collect() {
        this.set(ready() ? 1 : 0);
      },
    });
    new Gauge({
      name: "p2ptracker_active_transfers",
      help: "Registered (active) transfers, counted in Redis at each scrape.",
      registers,
      async collect() {
        const count = await activeTransfers().catch(() => undefined);
        if (count !== undefined) this.set(count);
      },
    });
  }

  /** The text /metrics answers with, and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
