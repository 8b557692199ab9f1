/**
 * A BEP 15 client for tests, written from the spec apart from src/udp/ so that a mistake in
 * the tracker's codec fails the tests instead of being mirrored by them.
 */
import { createHmac, randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { formatIp } from "../../src/net/ip.js";

export const MAGIC = 0x41727101980n;

export interface AnnounceFields {
  connectionId: Uint8Array;
  transactionId?: number;
  infoHash: Uint8Array;
  peerId?: Uint8Array;
  downloaded?: bigint;
  left?: bigint;
  uploaded?: bigint;
  /** 0 none, 1 completed, 2 started, 3 stopped, 4 paused */
  event?: number;
  /** dotted IPv4, or 0 for the source address */
  ip?: string;
  key?: number;
  numwant?: number;
  port: number;
}

/** The 16-byte connect request. */
export function connectPacket(transactionId: number, protocolId = MAGIC): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(protocolId, 0);
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(transactionId, 12);
  return b;
}

/** The 98-byte announce request. */
export function announcePacket(f: AnnounceFields): Buffer {
  const b = Buffer.alloc(98);
  Buffer.from(f.connectionId).copy(b, 0, 0, 8);
  b.writeUInt32BE(1, 8);
  b.writeUInt32BE(f.transactionId ?? 1, 12);
  Buffer.from(f.infoHash).copy(b, 16);
  Buffer.from(f.peerId ?? randomBytes(20)).copy(b, 36);
  b.writeBigInt64BE(f.downloaded ?? 0n, 56);
  b.writeBigInt64BE(f.left ?? 1000n, 64);
  b.writeBigInt64BE(f.uploaded ?? 0n, 72);
  b.writeUInt32BE(f.event ?? 0, 80);
  if (f.ip) f.ip.split(".").forEach((part, i) => (b[84 + i] = Number(part)));
  b.writeUInt32BE(f.key ?? 0x01020304, 88);
  b.writeInt32BE(f.numwant ?? -1, 92);
  b.writeUInt16BE(f.port, 96);
  return b;
}

/** A scrape request for the given hashes (raw bytes). */
export function scrapePacket(connectionId: Uint8Array, transactionId: number, hashes: Uint8Array[]): Buffer {
  const head = Buffer.alloc(16);
  Buffer.from(connectionId).copy(head, 0, 0, 8);
  head.writeUInt32BE(2, 8);
  head.writeUInt32BE(transactionId, 12);
  return Buffer.concat([head, ...hashes.map((h) => Buffer.from(h))]);
}

/** A decoded reply: the action, the echoed transaction id and the action's fields. */
export type Reply =
  | { action: 0; transactionId: number; connectionId: Buffer }
  | {
      action: 1;
      transactionId: number;
      interval: number;
      leechers: number;
      seeders: number;
      peers: string[];
      peerBytes: number;
    }
  | { action: 2; transactionId: number; files: Array<{ seeders: number; completed: number; leechers: number }> }
  | { action: 3; transactionId: number; message: string };

/** Decodes a reply; peers as "ip:port" (6-byte entries over IPv4, 18-byte over IPv6). */
export function decodeReply(b: Buffer, ipv6 = false): Reply {
  if (b.length < 8) throw new Error(`reply of ${b.length} bytes`);
  const action = b.readUInt32BE(0);
  const transactionId = b.readUInt32BE(4);
  if (action === 0) {
    if (b.length !== 16) throw new Error(`connect reply of ${b.length} bytes`);
    return { action, transactionId, connectionId: b.subarray(8, 16) };
  }
  if (action === 1) {
    const size = ipv6 ? 18 : 6;
    const peerBytes = b.length - 20;
    if (peerBytes % size !== 0)
      throw new Error(`announce reply with ${peerBytes} peer bytes, not a multiple of ${size}`);
    const peers: string[] = [];
    for (let at = 20; at < b.length; at += size) {
      peers.push(`${formatIp(b.subarray(at, at + size - 2))}:${b.readUInt16BE(at + size - 2)}`);
    }
    return {
      action,
      transactionId,
      interval: b.readUInt32BE(8),
      leechers: b.readUInt32BE(12),
      seeders: b.readUInt32BE(16),
      peers,
      peerBytes,
    };
  }
  if (action === 2) {
    const files = [];
    for (let at = 8; at + 12 <= b.length; at += 12) {
      files.push({ seeders: b.readUInt32BE(at), completed: b.readUInt32BE(at + 4), leechers: b.readUInt32BE(at + 8) });
    }
    return { action, transactionId, files };
  }
  if (action === 3) return { action, transactionId, message: b.subarray(8).toString("utf8") };
  throw new Error(`reply with action ${action}`);
}

/** One client socket talking to one tracker address. */
export class UdpClient {
  readonly socket: Socket;
  #queue: Buffer[] = [];
  #waiting: ((b: Buffer) => void) | undefined;

  private constructor(
    readonly host: string,
    readonly port: number,
    readonly ipv6: boolean,
  ) {
    this.socket = createSocket(ipv6 ? "udp6" : "udp4");
    this.socket.on("message", (b) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting(b);
      else this.#queue.push(b);
    });
  }

  /** A client bound to an ephemeral port on the loopback address of its family. */
  static async open(host: string, port: number): Promise<UdpClient> {
    const client = new UdpClient(host, port, host.includes(":"));
    await new Promise<void>((done) => client.socket.bind(0, client.ipv6 ? "::1" : "127.0.0.1", done));
    return client;
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  /** Sends one packet; resolves with the raw reply, or undefined when none came within `timeoutMs`. */
  async raw(packet: Buffer, timeoutMs = 2000): Promise<Buffer | undefined> {
    this.#queue = [];
    return new Promise((done) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        done(undefined);
      }, timeoutMs);
      this.#waiting = (b) => {
        clearTimeout(timer);
        done(b);
      };
      this.socket.send(packet, this.port, this.host);
    });
  }

  /** Sends a packet and decodes the reply; fails if none came or its transaction id is not `transactionId`. */
  async ask(packet: Buffer, transactionId = packet.length >= 16 ? packet.readUInt32BE(12) : -1): Promise<Reply> {
    const b = await this.raw(packet);
    if (b === undefined) throw new Error(`no reply to a ${packet.length}-byte packet`);
    const reply = decodeReply(b, this.ipv6);
    if (reply.transactionId !== transactionId) {
      throw new Error(`reply echoes transaction id ${reply.transactionId}, not ${transactionId}`);
    }
    return reply;
  }

  /** A fresh connection id from the tracker. */
  async connect(): Promise<Buffer> {
    const transactionId = randomBytes(4).readUInt32BE(0);
    const reply = await this.ask(connectPacket(transactionId));
    if (reply.action !== 0) throw new Error(`connect answered with action ${reply.action}: ${JSON.stringify(reply)}`);
    return reply.connectionId;
  }

  /** Connects, then announces with `fields`; the decoded reply. */
  async announce(fields: Omit<AnnounceFields, "connectionId">): Promise<Reply> {
    const connectionId = await this.connect();
    return this.ask(
      announcePacket({
        ...fields,
        connectionId,
        transactionId: fields.transactionId ?? randomBytes(4).readUInt32BE(0),
      }),
    );
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * The connection id the README's design gives for a secret, a time bucket (120 s since the
 * epoch), and a client address and port: the first 8 bytes of HMAC-SHA256(secret,
 * bucket ‖ port ‖ address). Written here from the README, so a test shows the design holds.
 */
export function designedConnectionId(secret: string, bucket: number, ip: Uint8Array, port: number): Buffer {
  const input = Buffer.alloc(6 + ip.length);
  input.writeUInt32BE(bucket, 0);
  input.writeUInt16BE(port, 4);
  Buffer.from(ip).copy(input, 6);
  return createHmac("sha256", secret).update(input).digest().subarray(0, 8);
}

export const currentBucket = () => Math.floor(Date.now() / 1000 / 120);
