import { rackCacheKey, GLOBAL_KEYS } from "../store/keys.js";
import { log } from "../log.js";
import { FLAT_LOCATION, sanitizeLocation, type Resolver } from "./location.js";

/** A link of the chain; external links are slow, so their answers are cached. */
export interface ChainLink {
  readonly name: string;
  readonly resolve: Resolver;
  readonly external: boolean;
}

/** The small part of a Redis client the cache uses (text replies). */
export interface RackCacheStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: string, options: { EX: number }): Promise<unknown>;
  sAdd(key: string, member: string): Promise<unknown>;
}

/** What one look-up of one resolver came to: an answer, none, a failure, a timeout. */
export type LookupResult = "hit" | "miss" | "error" | "timeout";

/** Told of every look-up, cached answers included (metrics). */
export type LookupCounter = (resolver: string, result: LookupResult) => void;

const failed = (error: unknown): LookupResult =>
  (error as { name?: string } | null)?.name === "TimeoutError" ? "timeout" : "error";

interface Cached {
  readonly location: string;
  readonly expires: number;
}

const MAX_PROCESS_CACHE = 100_000;

/** How long a failed look-up is not retried: an outage must not add a timeout to every announce. */
const FAILURE_BACKOFF_MS = 5_000;

/**
 * Resolves a client address to its location: the links in order, first answer wins, the
 * subnet fallback last. External answers (including "no answer") are cached in-process and
 * in Redis with a TTL, so replicas share look-ups and a slow CMDB is asked once per TTL.
 * A failed look-up (error, timeout) passes to the next link and is not cached beyond a
 * short in-process backoff: a CMDB outage must not pin clients to a fallback rack for a TTL.
 */
export class RackChain {
  readonly #processCache = new Map<string, Cached>();
  readonly #inFlight = new Map<string, Promise<string | undefined>>();
  readonly #announcedRacks = new Set<string>();

  constructor(
    private readonly links: readonly ChainLink[],
    private readonly fallback: Resolver,
    private readonly store: RackCacheStore | undefined,
    private readonly ttlSeconds: number,
    private readonly rackAware: boolean,
    private readonly count: LookupCounter = () => undefined,
  ) {}

  /** The location of `ip` (text form); FLAT_LOCATION for everyone when not rack-aware. */
  async resolve(ip: string): Promise<string> {
    if (!this.rackAware) return FLAT_LOCATION;
    for (const link of this.links) {
      const location = link.external ? await this.#cached(link, ip) : await this.#direct(link, ip);
      if (location !== undefined) return this.#remember(location);
    }
    this.count("subnet", "hit");
    return this.#remember(sanitizeLocation(await this.fallback(ip)) ?? "unknown");
  }

  /**
   * Which link answers for `ip` and with what, as resolve() would decide it (cached answers
   * included), without recording the location as one that clients announced from.
   */
  async explain(ip: string): Promise<{ location: string; resolver: string }> {
    if (!this.rackAware) return { location: FLAT_LOCATION, resolver: "flat (RACK_AWARE is off)" };
    for (const link of this.links) {
      const location = link.external ? await this.#cached(link, ip) : await this.#direct(link, ip);
      if (location !== undefined) return { location, resolver: link.name };
    }
    return { location: sanitizeLocation(await this.fallback(ip)) ?? "unknown", resolver: "subnet" };
  }

  async #direct(link: ChainLink, ip: string): Promise<string | undefined> {
    try {
      const location = sanitizeLocation(await link.resolve(ip));
      this.count(link.name, location === undefined ? "miss" : "hit");
      return location;
    } catch (error) {
      this.count(link.name, failed(error));
      log.debug(`rack resolver ${link.name} for ${ip}: ${(error as Error).message}`);
      return undefined;
    }
  }

  async #cached(link: ChainLink, ip: string): Promise<string | undefined> {
    const key = `${link.name}:${ip}`;
    const hit = this.#processCache.get(key);
    if (hit && hit.expires > Date.now()) {
      this.count(link.name, hit.location === "" ? "miss" : "hit");
      return hit.location === "" ? undefined : hit.location;
    }
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#lookUp(link, ip, key).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    } else {
      // Joins a look-up under way, which counts its own result once.
      void pending.then((location) => this.count(link.name, location === undefined ? "miss" : "hit"));
    }
    return pending;
  }

  async #lookUp(link: ChainLink, ip: string, key: string): Promise<string | undefined> {
    const redisKey = rackCacheKey(key);
    let location: string | undefined;
    let shared: unknown;
    try {
      shared = await this.store?.get(redisKey);
    } catch (error) {
      log.debug(`rack cache read ${redisKey}: ${(error as Error).message}`);
    }
    let ttlMs = this.ttlSeconds * 1000;
    if (shared !== undefined && shared !== null) {
      location = String(shared);
      this.count(link.name, location === "" ? "miss" : "hit");
    } else {
      try {
        location = sanitizeLocation(await link.resolve(ip)) ?? "";
        this.count(link.name, location === "" ? "miss" : "hit");
        this.store?.set(redisKey, location, { EX: this.ttlSeconds }).catch(() => undefined);
      } catch (error) {
        this.count(link.name, failed(error));
        log.debug(`rack resolver ${link.name} for ${ip}: ${(error as Error).message}`);
        location = "";
        ttlMs = FAILURE_BACKOFF_MS;
      }
    }
    if (this.#processCache.size >= MAX_PROCESS_CACHE) this.#processCache.clear();
    this.#processCache.set(key, { location, expires: Date.now() + ttlMs });
    return location === "" ? undefined : location;
  }

  #remember(location: string): string {
    if (!this.#announcedRacks.has(location) && this.#announcedRacks.size < MAX_PROCESS_CACHE) {
      this.#announcedRacks.add(location);
      this.store?.sAdd(GLOBAL_KEYS.racks, location).catch(() => this.#announcedRacks.delete(location));
    }
    return location;
  }
}
