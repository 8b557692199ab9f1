import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, ratio, scratchDir, startServer, type BenchContext, type Table, type Workload } from "./bench.js";
import { freePort } from "../../src/net/ports.js";
import { FLAT_LOCATION } from "../../src/racks/location.js";
import { announceWithBudget } from "../../src/store/rackBudget.js";
import { flatShape, rackShape, shapeSwarm, type Shape } from "./shapes.js";
import {
  benchInfoHash,
  connectBenchRedis,
  loadSwarm,
  preloadPolicy,
  seededRandom,
  type BenchRedis,
  type LoadedPeer,
} from "./swarmLoad.js";

/**
 * Shapes counted: every rack size and flat mode of the shapes workload up to 10,000 peers
 * (larger swarms take minutes to load under valgrind and add nothing the 10,000-peer rows
 * do not show).
 */
const FULL_SHAPES: Shape[] = [
  rackShape(10, 10_000),
  rackShape(40, 10_000),
  rackShape(100, 10_000),
  rackShape(250, 10_000),
  rackShape(1000, 10_000),
  rackShape(5000, 10_000),
  flatShape(1000),
  flatShape(10_000),
];
const QUICK_SHAPES: Shape[] = [rackShape(40, 10_000), rackShape(1000, 10_000), flatShape(10_000)];
const REFERENCE = "40 per rack";
const PEER_TTL = 3600;

/** Instructions one dump of callgrind counted: the scripts, and the commands they called. */
interface Counted {
  /** Inclusive count of EVALSHA (every script call). */
  readonly scripts: number;
  /** Inclusive count of the Redis commands the scripts called. */
  readonly commands: number;
}

/** Reads the inclusive counts of two of redis-server's functions from a complete callgrind dump. */
function readDump(file: string): Counted {
  const text = execFileSync("callgrind_annotate", ["--inclusive=yes", "--threshold=100", file], {
    maxBuffer: 64 << 20,
  }).toString();
  const count = (pattern: RegExp, what: string) => {
    const found = pattern.exec(text)?.[1];
    if (found === undefined) throw new Error(`${file}: no ${what} (a redis-server without its symbols?)`);
    return Number(found.replaceAll(",", ""));
  };
  // A dump being written has no totals yet.
  count(/^\s*([\d,]+) .*PROGRAM TOTALS/m, "totals");
  return {
    scripts: count(/^\s*([\d,]+) \([^)]*\)\s+\S*:evalShaCommand /m, "evalShaCommand"),
    commands: count(/^\s*([\d,]+) \([^)]*\)\s+\S*:scriptCall /m, "scriptCall"),
  };
}

/**
 * Workload: the instructions redis-server executes per announce at each swarm shape,
 * counted by valgrind's callgrind. A count does not depend on what else the machine is
 * doing, so the ratios between shapes hold on a shared, noisy VM where Redis µs do not.
 */
export const instructions: Workload = {
  name: "instructions",
  description: "instructions redis-server executes per announce at each swarm shape (callgrind; only with --only)",
  explicitOnly: true,
  async run(context: BenchContext): Promise<Table[]> {
    const shapeList = context.quick ? QUICK_SHAPES : FULL_SHAPES;
    const perPhase = context.quick ? 100 : 400;
    const dir = scratchDir(context, "callgrind");
    const port = await freePort();
    // Instrumentation starts off, so the load runs at valgrind's plain speed; it is on
    // only while the measured announces run.
    const redis = await startServer(
      "redis-server (callgrind)",
      "valgrind",
      [
        "--tool=callgrind",
        "--instr-atstart=no",
        `--callgrind-out-file=${join(dir, "callgrind.out")}`,
        "redis-server",
        join(REPO_ROOT, "redis.conf"),
        "--port",
        String(port),
        "--dir",
        dir,
        "--appendonly",
        "no",
        "--save",
        "",
      ],
      port,
    );
    const pid = String(redis.child.pid);
    const control = (...args: string[]) => execFileSync("callgrind_control", [...args, pid], { stdio: "ignore" });
    let dumps = 0;
    /** Counts what `work` makes redis-server do, from a dump of its own. */
    const counted = async (client: BenchRedis, work: () => Promise<void>): Promise<Counted> => {
      control("--zero");
      control("--instr=on");
      await work();
      control("--instr=off");
      control("--dump");
      const file = join(dir, `callgrind.out.${++dumps}`);
      // The dump is written when redis-server next runs: give it something to do.
      for (let i = 0; i < 600 && !existsSync(file); i++) await client.admin.ping();
      if (!existsSync(file)) throw new Error(`callgrind wrote no ${file}`);
      // callgrind writes the file before it fills it: wait until it ends with its totals.
      for (let i = 0; i < 100; i++) {
        try {
          return readDump(file);
        } catch {
          await client.admin.ping();
        }
      }
      return readDump(file);
    };
    const rows: Array<Array<string | number>> = [];
    const problems: string[] = [];
    const perAnnounce = new Map<string, { member: number; rep: number | undefined }>();
    let client: BenchRedis | undefined;
    try {
      client = await connectBenchRedis(port);
      for (const [i, shape] of shapeList.entries()) {
        context.progress(`instructions: loading ${shape.name} (${shape.peers} peers) under valgrind`);
        const spec = shapeSwarm(shape, benchInfoHash(2000 + i), i + 1);
        const policy = preloadPolicy(PEER_TTL, !spec.flat);
        const { peers } = await loadSwarm(client.runner, spec, policy, { keep: true });
        const random = seededRandom(1000 + i);
        const announce = (pool: readonly LoadedPeer[]) => async () => {
          for (let k = 0; k < perPhase; k++) {
            const peer = pool[Math.floor(random() * pool.length)]!;
            const { result } = await announceWithBudget(
              client!.runner,
              spec.infoHash.toString("hex"),
              {
                address: peer.host.compact,
                rack: spec.flat ? FLAT_LOCATION : peer.host.rack,
                peerId: peer.host.peerId,
                event: "",
                left: peer.left,
                uploaded: 0n,
                downloaded: peer.downloaded,
                numwant: 50,
                withPeerIds: false,
              },
              policy,
            );
            if (result.role !== peer.role) problems.push(`${shape.name}: a ${peer.role} announced as ${result.role}`);
          }
        };
        context.progress(`instructions: ${perPhase} announces each of members and representatives of ${shape.name}`);
        const members = peers.filter((p) => p.role === "member");
        const reps = peers.filter((p) => p.role === "rep");
        const member = await counted(client, announce(members));
        const rep = reps.length > 0 ? await counted(client, announce(reps)) : undefined;
        perAnnounce.set(shape.name, { member: member.scripts / perPhase, rep: rep && rep.scripts / perPhase });
        // The swarm is done with: the next shape's load runs in a smaller Redis.
        await client.admin.flushAll();
        rows.push([
          shape.name,
          shape.peers,
          (member.scripts / perPhase).toFixed(0),
          ((100 * member.commands) / member.scripts).toFixed(0),
          rep ? (rep.scripts / perPhase).toFixed(0) : "-",
          rep ? ((100 * rep.commands) / rep.scripts).toFixed(0) : "-",
        ]);
      }
    } catch (error) {
      problems.push((error as Error).message);
    } finally {
      await client?.close();
      await redis.stop();
    }
    const reference = perAnnounce.get(REFERENCE);
    for (const row of rows) {
      const counts = perAnnounce.get(String(row[0]))!;
      row.push(reference ? ratio(counts.member, reference.member) : "-");
      row.push(reference?.rep && counts.rep ? ratio(counts.rep, reference.rep) : "-");
    }
    return [
      {
        title: "Redis instructions per announce at every swarm shape",
        columns: [
          "shape",
          "peers",
          "member instructions",
          "member in commands %",
          "rep instructions",
          "rep in commands %",
          "member / 40 per rack",
          "rep / 40 per rack",
        ],
        rows,
        notes: [
          `The shapes workload's swarms (one transfer each, 30% seeders, 2 origins), loaded into a redis-server run under valgrind's callgrind; then ${perPhase} periodic announces (no event, numwant 50) of its members and as many of its representatives (each also renews its rack lease: a second script), straight through the scripts (no HTTP), instrumentation on only meanwhile.`,
          "instructions: callgrind's inclusive count of EVALSHA per announce (every script call, the Redis commands inside included); in commands %: the share of it inside the Redis commands the scripts call (scriptCall), the rest being Lua: the interpreter, its tables and strings, and turning arguments and replies between Lua and Redis. A count, not a time: it holds whatever else the machine runs.",
        ],
        ...(problems.length > 0 ? { failed: problems.join("; ") } : {}),
      },
    ];
  },
};
