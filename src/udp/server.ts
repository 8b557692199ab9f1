/**
 * The UDP front end (BEP 15): one socket per listen address, each packet decoded, its
 * connection id checked, and its announce or scrape run through the same tracker path as
 * HTTP's. Every request gets its reply or an error packet; a packet too short to carry a
 * transaction id gets nothing. Nothing here keeps state per client.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { Config } from "../config/config.js";
import { log } from "../log.js";
import { parseIp, type IpBytes } from "../net/ip.js";
import { throttledLog } from "../observe/logThrottle.js";
import type { TrackerMetrics, UdpAction, UdpReply } from "../observe/metrics.js";
import { isStorageError } from "../store/storageErrors.js";
import type { Arrival, Tracker } from "../tracker.js";
import { ClientError } from "../wire/bittorrent.js";
import {
  PacketError,
  decodeRequest,
  encodeAnnounceReply,
  encodeConnect,
  encodeError,
  encodeScrapeReply,
  type UdpRequest,
} from "./codec.js";
import { connectionIds } from "./connectionId.js";
import { sourceCache } from "./sources.js";

/** What the UDP front end needs from the rest of the tracker. */
export interface UdpDeps {
  readonly tracker: Tracker;
  readonly config: Config;
  readonly metrics: TrackerMetrics;
  /** The connection-id secret every replica shares (store/udpSecret.ts). */
  readonly secret: Uint8Array;
}

/** The running UDP front end. */
export interface UdpServer {
  /** The port every socket listens on. */
  readonly port: number;
  /** Stops taking packets; requests in flight get up to `graceMs` to be answered, then the sockets close. */
  close(graceMs: number): Promise<void>;
}

const BAD_CONNECTION_ID = "connection id unknown or expired: connect again";
/** The kernel's receive queue per socket: room for a burst while the event loop is busy. */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/** dgram's `lookup` for addresses that are IP literals already: answers at once. */
function literalAddress(
  address: string,
  family: unknown,
  callback: (error: Error | null, address: string, family: number) => void,
): void {
  callback(null, address, family === 6 ? 6 : 4);
}

/** Binds a socket on each of `hosts` (UDP_HOSTS), all on one port, and serves them. */
export async function startUdp(deps: UdpDeps, hosts: readonly string[], port: number): Promise<UdpServer> {
  const { tracker, config, metrics } = deps;
  const ids = connectionIds(deps.secret);
  const sources = sourceCache(ids);
  const logFailure = throttledLog((message) => log.error(message), 10_000);
  const sockets: Socket[] = [];
  let inFlight = 0;
  let closing = false;
  let closed = false;
  let settled: (() => void) | undefined;

  const count = (action: UdpAction, reply: UdpReply) => metrics.udpPackets[action][reply].inc();
  const send = (socket: Socket, packet: Buffer, to: RemoteInfo) => {
    if (closed) return;
    try {
      socket.send(packet, to.port, to.address);
    } catch (error) {
      // A source no reply can go to (port 0, in a forged packet) must not take the process down.
      logFailure(`udp reply to ${to.address}:${to.port}: ${(error as Error).message}`);
    }
  };
  /** The address an announce is stored under: the packet's source, or its `ip` field where ACCEPT_IP_PARAM allows. */
  const clientIp = (source: IpBytes, claimed: string | undefined): IpBytes => {
    if (!config.ACCEPT_IP_PARAM || claimed === undefined) return source;
    return parseIp(claimed)!;
  };
  /** The error text a client may see: its own mistake verbatim, ours without detail (logged). */
  const errorText = (error: unknown, what: string) => {
    if (error instanceof ClientError) return error.message;
    logFailure(`udp ${what}: ${(error as Error)?.message ?? String(error)}`);
    return isStorageError(error) ? "tracker storage unavailable, retry later" : "internal server error";
  };

  function onMessage(socket: Socket, packet: Buffer, from: RemoteInfo): void {
    if (closing) return;
    const arrival: Arrival = { frontEnd: "udp", started: performance.now() };
    let request: UdpRequest | undefined;
    try {
      request = decodeRequest(packet);
    } catch (error) {
      if (!(error instanceof PacketError)) {
        logFailure(`udp packet of ${packet.length} bytes: ${(error as Error).message}`);
        return count("unknown", "dropped");
      }
      const e = error;
      if (e.action === "announce" || e.action === "scrape") tracker.rejected(e.action, e, arrival);
      count(e.action, "error");
      send(socket, encodeError(e.transactionId, e.message), from);
      return;
    }
    if (request === undefined) return count("unknown", "dropped");
    const source = sources.ip(from.address, from.port);
    if (source === undefined) return count(request.action, "dropped");
    if (request.action === "connect") {
      count("connect", "answered");
      return send(socket, encodeConnect(request.transactionId, ids.issue(source, from.port)), from);
    }
    if (!sources.accepts(request.connectionId, from.address, from.port)) {
      const event = request.action === "announce" ? request.params.event : undefined;
      tracker.rejected(request.action, new ClientError(BAD_CONNECTION_ID), arrival, event);
      count(request.action, "error");
      return send(socket, encodeError(request.transactionId, BAD_CONNECTION_ID), from);
    }
    inFlight++;
    const done = () => {
      if (--inFlight === 0) settled?.();
    };
    answer(request, source, from, arrival).then(
      (reply) => {
        count(request.action, "answered");
        send(socket, reply, from);
        done();
      },
      (error: unknown) => {
        count(request.action, "error");
        send(socket, encodeError(request.transactionId, errorText(error, request.action)), from);
        done();
      },
    );
  }

  async function answer(
    request: Exclude<UdpRequest, { action: "connect" }>,
    source: IpBytes,
    from: RemoteInfo,
    arrival: Arrival,
  ) {
    if (request.action === "scrape") {
      return encodeScrapeReply(request.transactionId, await tracker.scrape(request.infoHashes, arrival));
    }
    const ip = clientIp(source, request.params.ip);
    const { reply } = await tracker.announce(request.params, ip, arrival);
    return encodeAnnounceReply(request.transactionId, reply, from.family === "IPv6");
  }

  try {
    let boundPort = port;
    for (const host of hosts) {
      const ipv6 = isIPv6(host);
      // IPv6 sockets take IPv6 only: an IPv4 client is served by an IPv4 socket, with 6-byte peers.
      const socket = createSocket({
        type: ipv6 ? "udp6" : "udp4",
        ...(ipv6 ? { ipv6Only: true } : {}),
        recvBufferSize: RECEIVE_BUFFER_BYTES,
        // Replies go to the address a request came from, always an IP literal: no DNS
        // look-up (dgram's default defers every send by a tick to ask it).
        lookup: literalAddress,
      });
      sockets.push(socket);
      await new Promise<void>((done, fail) => {
        socket.once("error", fail);
        socket.bind({ address: host, port: boundPort, exclusive: true }, () => {
          socket.off("error", fail);
          done();
        });
      });
      // A send that fails (the client's address unreachable) is the client's loss, not ours to crash on.
      socket.on("error", (error) => logFailure(`udp socket on ${host}: ${error.message}`));
      socket.on("message", (packet, from) => onMessage(socket, packet, from));
      boundPort = socket.address().port;
    }
    for (const host of hosts)
      log.info(`p2ptracker listening on udp://${host.includes(":") ? `[${host}]` : host}:${boundPort}`);
    return {
      port: boundPort,
      async close(graceMs) {
        closing = true;
        if (inFlight > 0) {
          await new Promise<void>((done) => {
            const timer = setTimeout(done, graceMs);
            settled = () => {
              clearTimeout(timer);
              done();
            };
          });
        }
        closed = true;
        await Promise.all(sockets.map((s) => new Promise<void>((done) => s.close(() => done()))));
      },
    };
  } catch (error) {
    for (const socket of sockets) socket.close();
    throw error;
  }
}
