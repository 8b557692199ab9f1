/**
 * The UDP tracker protocol (BEP 15) as bytes: requests decoded into the tracker's typed
 * announce parameters, replies encoded from its answers. Knows nothing of sockets. Every
 * integer is big-endian; requests may be longer than their fields (BEP 41 options follow
 * an announce), never shorter.
 */
import type { AnnounceParams } from "../wire/announceParams.js";
import { ClientError, type AnnounceReply, type ScrapeCounts } from "../wire/bittorrent.js";

/** The connect request's magic constant, in the connection id's place. */
export const PROTOCOL_ID = 0x41727101980n;
export const ACTION = { connect: 0, announce: 1, scrape: 2, error: 3 } as const;
/** connection id (8) + action (4) + transaction id (4): less than this carries no transaction id to answer. */
export const HEADER_BYTES = 16;
export const ANNOUNCE_BYTES = 98;
/** Scrape hashes per packet: BEP 15's limit of about 74, which keeps a request (1,496 bytes) within one Ethernet frame. */
export const MAX_SCRAPE_HASHES = 74;
/** The largest request read: a full scrape; an announce with BEP 41 options is well within it. */
export const MAX_PACKET_BYTES = HEADER_BYTES + 20 * MAX_SCRAPE_HASHES;

/** BEP 15's events (0-3) and libtorrent's 4 for BEP 21's paused. */
const EVENTS: ReadonlyArray<AnnounceParams["event"]> = ["", "completed", "started", "stopped", "paused"];
const INT32_MAX = 2 ** 31 - 1;

/** The action a request asks for: `unknown` when it is none of BEP 15's three. */
export type RequestAction = "connect" | "announce" | "scrape" | "unknown";

/** A request the tracker answers with an error packet: the text is safe to show. */
export class PacketError extends ClientError {
  constructor(
    message: string,
    readonly transactionId: number,
    /** Which action the packet asked for, when that much was readable. */
    readonly action: RequestAction,
  ) {
    super(message);
  }
}

/** A decoded request. The announce carries the BEP 15 `ip` field apart: the front end decides whether to believe it. */
export type UdpRequest =
  | { readonly action: "connect"; readonly transactionId: number }
  | {
      readonly action: "announce";
      readonly transactionId: number;
      readonly connectionId: Buffer;
      readonly params: AnnounceParams;
    }
  | {
      readonly action: "scrape";
      readonly transactionId: number;
      readonly connectionId: Buffer;
      readonly infoHashes: Uint8Array[];
    };

/**
 * Decodes one datagram. Undefined for a packet too short to hold a transaction id (BEP 15:
 * nothing to answer it with, so it is dropped); throws PacketError for anything else that
 * is not a valid request.
 */
export function decodeRequest(packet: Buffer): UdpRequest | undefined {
  if (packet.length < HEADER_BYTES) return undefined;
  const actionCode = packet.readInt32BE(8);
  const transactionId = packet.readUInt32BE(12);
  const action: RequestAction =
    actionCode === 0 ? "connect" : actionCode === 1 ? "announce" : actionCode === 2 ? "scrape" : "unknown";
  const fail: (message: string) => never = (message) => {
    throw new PacketError(message, transactionId, action);
  };
  if (packet.length > MAX_PACKET_BYTES)
    fail(`packet too large: at most ${MAX_PACKET_BYTES} bytes, got ${packet.length}`);
  if (action === "unknown") fail(`unknown action ${actionCode}: 0 connect, 1 announce, 2 scrape`);
  if (action === "connect") {
    if (packet.readBigUInt64BE(0) !== PROTOCOL_ID) fail("connect must carry the protocol id 0x41727101980");
    return { action, transactionId };
  }
  const connectionId = packet.subarray(0, 8);
  if (action === "scrape") {
    const bytes = packet.length - HEADER_BYTES;
    if (bytes === 0) fail("scrape must carry at least one info_hash");
    if (bytes % 20 !== 0) fail(`scrape must carry whole 20-byte info hashes, got ${bytes} bytes`);
    const infoHashes: Uint8Array[] = [];
    for (let at = HEADER_BYTES; at < packet.length; at += 20) infoHashes.push(packet.subarray(at, at + 20));
    return { action, transactionId, connectionId, infoHashes };
  }
  if (packet.length < ANNOUNCE_BYTES) fail(`announce must be at least ${ANNOUNCE_BYTES} bytes, got ${packet.length}`);
  return { action, transactionId, connectionId, params: announceParams(packet, fail) };
}

function announceParams(packet: Buffer, fail: (message: string) => never): AnnounceParams {
  const counter = (at: number, name: string) => {
    const value = packet.readBigInt64BE(at);
    if (value < 0n) fail(`${name} must be a non-negative integer`);
    return value;
  };
  const eventCode = packet.readUInt32BE(80);
  const event =
    EVENTS[eventCode] ??
    fail(`event must be 0 (none), 1 (completed), 2 (started), 3 (stopped) or 4 (paused), got ${eventCode}`);
  const ipField = packet.readUInt32BE(84);
  const numwant = packet.readInt32BE(92);
  if (numwant < -1) fail(`num_want must be -1 (the tracker's default) or a non-negative integer, got ${numwant}`);
  const port = packet.readUInt16BE(96);
  if (port === 0) fail("port must be an integer from 1 to 65535");
  return {
    infoHash: packet.subarray(16, 36),
    peerId: packet.subarray(36, 56),
    downloaded: counter(56, "downloaded"),
    left: counter(64, "left"),
    uploaded: counter(72, "uploaded"),
    event,
    // 0 means "the packet's source address"; the front end believes another only with ACCEPT_IP_PARAM.
    ip: ipField === 0 ? undefined : `${packet[84]}.${packet[85]}.${packet[86]}.${packet[87]}`,
    numwant: numwant === -1 ? undefined : numwant,
    port,
    // UDP replies are always compact and never carry peer ids. BEP 41 options after byte
    // 98 (URL data, NOP, end of options) change nothing here and are not read.
    compact: true,
    noPeerId: true,
  };
}

/** The connect reply: the connection id the client then sends with its announces and scrapes. */
export function encodeConnect(transactionId: number, connectionId: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(16);
  out.writeInt32BE(ACTION.connect, 0);
  out.writeUInt32BE(transactionId, 4);
  out.set(connectionId.subarray(0, 8), 8);
  return out;
}

const int32 = (n: number) => Math.max(0, Math.min(INT32_MAX, Math.floor(n)));

/**
 * The announce reply. Peers are of the request's address family, as BEP 15 says: 6-byte
 * IPv4 peers to a request that came over IPv4, 18-byte IPv6 peers to one over IPv6. UDP
 * has no `min interval` and no warning: an unregistered transfer gets its passive interval
 * and no peers, as over HTTP, without the text.
 */
export function encodeAnnounceReply(transactionId: number, reply: AnnounceReply, ipv6: boolean): Buffer {
  const peers = ipv6 ? reply.peers6 : reply.peers4;
  const out = Buffer.allocUnsafe(20 + peers.length);
  out.writeInt32BE(ACTION.announce, 0);
  out.writeUInt32BE(transactionId, 4);
  out.writeInt32BE(int32(reply.interval), 8);
  out.writeInt32BE(int32(reply.incomplete), 12);
  out.writeInt32BE(int32(reply.complete), 16);
  out.set(peers, 20);
  return out;
}

/** The scrape reply: seeders, completed, leechers for each requested hash, in the request's order. */
export function encodeScrapeReply(transactionId: number, files: readonly ScrapeCounts[]): Buffer {
  const out = Buffer.allocUnsafe(8 + 12 * files.length);
  out.writeInt32BE(ACTION.scrape, 0);
  out.writeUInt32BE(transactionId, 4);
  files.forEach((file, i) => {
    out.writeInt32BE(int32(file.complete), 8 + 12 * i);
    out.writeInt32BE(int32(file.downloaded), 12 + 12 * i);
    out.writeInt32BE(int32(file.incomplete), 16 + 12 * i);
  });
  return out;
}

/** The error reply: BEP 15 action 3 with a text message. */
export function encodeError(transactionId: number, message: string): Buffer {
  const text = Buffer.from(message, "utf8");
  const out = Buffer.allocUnsafe(8 + text.length);
  out.writeInt32BE(ACTION.error, 0);
  out.writeUInt32BE(transactionId, 4);
  out.set(text, 8);
  return out;
}
