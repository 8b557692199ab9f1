import { Agent, request } from "node:http";
import bencode from "bencode";
import { createClient } from "redis";
import { networkOf, parseIp } from "../../src/net/ip.js";
import { rackKey, transferKeys } from "../../src/store/keys.js";
import { mixInfoHash } from "./wrk.js";

/** Violations of the two-tier rules seen while the checker ran. */
export interface InvariantCounts {
  readonly announces: number;
  readonly crossRackToMember: number;
  readonly seederGotSeeder: number;
  readonly racksOverMaxRepr: number;
  readonly samples: number;
}

const RACKS = 10;
const HOSTS_PER_RACK = 12;
const TRANSFERS = [100, 101];
const IN_FLIGHT = 16;
/** Steps of a host's cycle: started, 2 periodic, completed, 1 periodic seeding, stopped. */
const CYCLE = ["started", "", "", "completed", "", "stopped"] as const;

interface Host {
  readonly ip: string;
  /** The rack the tracker's subnet resolver files it under, e.g. 10.200.3.0/24. */
  readonly rack: string;
  readonly port: number;
  readonly peerId: Buffer;
  step: number;
  /** When its last announce was sent, and when a reply confirmed it seeding (0: not seeding). */
  lastSentAt: number;
  seedingSince: number;
}

const connect = (url: string) => createClient({ url }).connect();
const pct = (bytes: Uint8Array) => Array.from(bytes, (b) => `%${b.toString(16).padStart(2, "0")}`).join("");

/**
 * Workload 4: announces as its own hosts into two transfers of the tracker under load and
 * checks every reply and the tracker's Redis against the two-tier rules. It drives each of its
 * hosts itself, one announce at a time, so it knows their states exactly:
 *  - a reply with a peer of another rack must go to a representative or an origin: right
 *    after it, the requester must be in its rack's R set or the transfer's O set (only its
 *    own announces, a rack mate's in the same transfer (a newer lease on its slot fences it
 *    out) or expiry could change that, and none is sent in between);
 *  - a seeder's reply must hold no peer that was seeding for the whole request (confirmed
 *    seeding before the request was sent, and silent since);
 *  - no rack of any transfer has more than maxRepr live representatives (Redis, sampled).
 */
export class InvariantChecker {
  #counts = { announces: 0, crossRackToMember: 0, seederGotSeeder: 0, racksOverMaxRepr: 0, samples: 0 };
  #running = false;
  #done: Promise<void> | undefined;
  readonly #hosts: Host[][] = [];
  /** Transfer and rack of every announce in flight. */
  readonly #busy = new Set<string>();
  readonly #agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });

  constructor(
    private readonly trackerUrl: string,
    private readonly redisUrl: string,
    private readonly maxRepr: number,
    private readonly peerTtl: number,
    private readonly watchedTransfers: readonly number[],
    /** The tracker's SUBNET_PREFIX_V4, which names the checker's racks (at 16 or less its 10 racks are one). */
    subnetPrefixV4: number,
  ) {
    for (const t of TRANSFERS) {
      const hosts: Host[] = [];
      for (let r = 0; r < RACKS; r++) {
        for (let h = 0; h < HOSTS_PER_RACK; h++) {
          const index = r * HOSTS_PER_RACK + h;
          const ip = `10.200.${r}.${h + 1}`;
          hosts.push({
            ip,
            rack: networkOf(parseIp(ip)!, subnetPrefixV4),
            port: 20000 + index,
            peerId: Buffer.from(`-IC0001-${String(t * 10000 + index).padStart(12, "0")}`),
            step: index % CYCLE.length,
            lastSentAt: 0,
            seedingSince: 0,
          });
        }
      }
      this.#hosts.push(hosts);
    }
  }

  async start(): Promise<void> {
    this.#redis = await connect(this.redisUrl);
    this.#running = true;
    const lanes = new Set(this.#hosts.flatMap((hosts, t) => hosts.map((h) => `${t} ${h.rack}`))).size;
    const workers = Array.from({ length: Math.min(IN_FLIGHT, lanes) }, () => this.#work());
    this.#done = Promise.all([...workers, this.#sampleRedis()]).then(() => undefined);
  }

  async stop(): Promise<InvariantCounts> {
    this.#running = false;
    await this.#done;
    this.#agent.destroy();
    await this.#redis?.quit();
    return { ...this.#counts };
  }

  async #work(): Promise<void> {
    while (this.#running) {
      const t = Math.floor(Math.random() * TRANSFERS.length);
      const hosts = this.#hosts[t]!;
      const host = hosts[Math.floor(Math.random() * hosts.length)]!;
      // One announce at a time per transfer and rack, its check included: a rack mate's
      // announce in the same transfer may fence a representative out of R (a newer lease
      // on its slot) between a reply that rightly gave it other racks' peers and the check.
      const lane = `${t} ${host.rack}`;
      // There are no more workers than lanes, so this worker's pick finds a free one soon.
      if (this.#busy.has(lane)) continue;
      this.#busy.add(lane);
      try {
        await this.#announce(t, hosts, host);
      } finally {
        this.#busy.delete(lane);
      }
    }
  }

  async #announce(t: number, hosts: Host[], host: Host): Promise<void> {
    const event = CYCLE[host.step]!;
    const seeding = host.step >= 3 && event !== "stopped";
    const left = seeding || event === "stopped" ? 0 : 1000;
    const query =
      `info_hash=${pct(mixInfoHash(TRANSFERS[t]!))}&peer_id=${pct(host.peerId)}&port=${host.port}` +
      `&uploaded=0&downloaded=0&left=${left}&numwant=50&compact=1${event ? `&event=${event}` : ""}`;
    const sentAt = performance.now();
    host.lastSentAt = sentAt;
    if (event === "stopped" || event === "started") host.seedingSince = 0;
    const body = await this.#get(`${this.trackerUrl}?${query}`, host.ip);
    const answeredAt = performance.now();
    this.#counts.announces++;
    host.step = (host.step + 1) % CYCLE.length;
    if (seeding) host.seedingSince = host.seedingSince || answeredAt;
    const reply = bencode.decode(body) as { peers?: Uint8Array; "failure reason"?: Uint8Array };
    if (reply["failure reason"]) throw new Error(`checker announce failed: ${Buffer.from(reply["failure reason"])}`);
    const peers = reply.peers ?? new Uint8Array(0);
    const byAddress = new Map(hosts.map((h) => [`${h.ip}:${h.port}`, h]));
    let crossRack = false;
    for (let i = 0; i + 6 <= peers.length; i += 6) {
      const ip = `${peers[i]}.${peers[i + 1]}.${peers[i + 2]}.${peers[i + 3]}`;
      const peer = byAddress.get(`${ip}:${(peers[i + 4]! << 8) | peers[i + 5]!}`);
      if (!peer) continue;
      if (peer.rack !== host.rack) crossRack = true;
      // Seeding throughout the request: confirmed before it was sent, and silent since.
      if (seeding && peer.seedingSince > 0 && peer.seedingSince < sentAt && peer.lastSentAt < sentAt) {
        this.#counts.seederGotSeeder++;
      }
    }
    if (crossRack && event !== "stopped") {
      const hex = mixInfoHash(TRANSFERS[t]!).toString("hex").toUpperCase();
      const member = Buffer.from([...host.ip.split(".").map(Number), host.port >> 8, host.port & 0xff]);
      if (!(await this.#mayCrossRacks(hex, host.rack, member))) this.#counts.crossRackToMember++;
    }
  }

  #redis: Awaited<ReturnType<typeof connect>> | undefined;

  /** Whether the member holds a slot that may see other racks: representative or origin. */
  async #mayCrossRacks(hex: string, rack: string, member: Buffer): Promise<boolean> {
    const [rep, origin] = await Promise.all([
      this.#redis!.sendCommand(["ZSCORE", rackKey(hex, rack, "R"), member]),
      this.#redis!.sendCommand(["ZSCORE", transferKeys(hex).origins, member]),
    ]);
    return rep !== null || origin !== null;
  }

  /** Samples every rack of the checker's and the watched transfers: live representatives ≤ maxRepr. */
  async #sampleRedis(): Promise<void> {
    const redis = this.#redis!;
    while (this.#running) {
      const [seconds] = await redis.time();
      const cutoff = Number(seconds) - this.peerTtl;
      for (const t of [...TRANSFERS, ...this.watchedTransfers]) {
        const hex = mixInfoHash(t).toString("hex").toUpperCase();
        for await (const keys of redis.scanIterator({ MATCH: rackKey(hex, "*", "R"), COUNT: 1000 })) {
          for (const key of keys) {
            if ((await redis.zCount(key, `(${cutoff}`, "+inf")) > this.maxRepr) this.#counts.racksOverMaxRepr++;
          }
        }
      }
      this.#counts.samples++;
      await new Promise((done) => setTimeout(done, 250));
    }
  }

  #get(url: string, ip: string): Promise<Uint8Array> {
    return new Promise((done, fail) => {
      const req = request(url, { agent: this.#agent, headers: { "X-Forwarded-For": ip } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => done(Buffer.concat(chunks)));
        res.on("error", fail);
      });
      req.on("error", fail);
      req.end();
    });
  }
}
