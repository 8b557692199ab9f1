import { parseAnnounce, parseScrape, type AnnounceParams } from "../wire/announceParams.js";
import { encodeAnnounce, encodeScrape } from "../wire/bittorrent.js";
import { decodeQuery } from "../wire/query.js";
import type { Config } from "../config/config.js";
import type { Arrival, Tracker } from "../tracker.js";
import { clientAddressResolver, type AddressSources } from "./clientAddress.js";

const MAX_SCRAPE_HASHES = 200;

/** The HTTP announce and scrape: raw query in, bencoded body out, through the shared tracker. */
export interface HttpTracker {
  announce(rawQuery: string, sources: Omit<AddressSources, "ipParam">): Promise<Uint8Array>;
  scrape(rawQuery: string): Promise<Uint8Array>;
}

/** Builds the HTTP side once (the trusted proxies compiled); each request runs a small closure. */
export function createHttpTracker(tracker: Tracker, config: Config): HttpTracker {
  const clientAddress = clientAddressResolver({
    proxyPass: config.PROXYPASS,
    trustedProxies: config.TRUSTED_PROXIES,
    acceptIpParam: config.ACCEPT_IP_PARAM,
  });
  const arrive = (): Arrival => ({ frontEnd: "http", started: performance.now() });

  async function announce(rawQuery: string, sources: Omit<AddressSources, "ipParam">): Promise<Uint8Array> {
    const arrival = arrive();
    let params: AnnounceParams | undefined;
    let ip;
    try {
      params = parseAnnounce(decodeQuery(rawQuery));
      ip = clientAddress({ ...sources, ipParam: params.ip });
    } catch (error) {
      tracker.rejected("announce", error, arrival, params?.event);
      throw error;
    }
    const { reply, peerList } = await tracker.announce(params, ip, arrival);
    return encodeAnnounce(reply, peerList);
  }

  async function scrape(rawQuery: string): Promise<Uint8Array> {
    const arrival = arrive();
    let hashes;
    try {
      hashes = parseScrape(decodeQuery(rawQuery), MAX_SCRAPE_HASHES);
    } catch (error) {
      tracker.rejected("scrape", error, arrival);
      throw error;
    }
    return encodeScrape(await tracker.scrape(hashes, arrival));
  }

  return { announce, scrape };
}
