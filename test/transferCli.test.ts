import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startTracker, type RunningTracker } from "../src/server.js";
import { api, TEST_TOKEN } from "./helpers/api.js";
import { MAIN, runCli, type CliResult } from "./helpers/cli.js";
import { startCli } from "./helpers/cliProcess.js";
import { freePort } from "./helpers/redisServer.js";
import { TmuxSession } from "./helpers/tmux.js";
import { makeTorrent } from "./helpers/torrent.js";
import { announce, hexOf, peer, randomInfoHash, testConfig, trackerFixture } from "./helpers/tracker.js";
import { eventually } from "./helpers/wait.js";

const SIZE = 50_000;
const TIME = "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ";

function torrentOf(name: string) {
  return makeTorrent(randomBytes(SIZE), { name, announce: "http://tracker.test/announce", pieceLength: 16_384 });
}

/** A CLI result must be a clean failure: the code, the message on stderr, no stack trace. */
function assertFailed(result: CliResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
}

describe("transfer and rack commands against a tracker", () => {
  const f = trackerFixture({ ADMIN_TOKEN: TEST_TOKEN });
  const dir = mkdtempSync(join(tmpdir(), "p2ptracker-cli-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** `p2ptracker ARGS --tracker <the tracker>`, the token in the environment unless `env` says otherwise. */
  const cli = (args: string[], env: Record<string, string> = { P2PTRACKER_TOKEN: TEST_TOKEN }) =>
    runCli([...args, "--tracker", f.tracker.url], env);

  const register = async (torrent: ReturnType<typeof torrentOf>) => {
    const answer = await api(f.tracker.url, "POST", "/torrents", { token: TEST_TOKEN, body: torrent.bytes });
    assert.equal(answer.status, 201);
  };

  describe("register, activate, deactivate", () => {
    it("registers a .torrent file, and says so again without changing anything", async () => {
      const torrent = torrentOf("register-1.tar");
      const hex = hexOf(torrent.infoHash);
      const file = join(dir, "register-1.torrent");
      writeFileSync(file, torrent.bytes);
      const first = await cli(["transfer", "register", file]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, `${hex} (register-1.tar, 48.8 KiB): registered\n`);
      assert.equal(await f.redis.client.hGet(`{${hex}}:info`, "name"), "register-1.tar");

      const again = await cli(["transfer", "register", file]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, `${hex} (register-1.tar, 48.8 KiB): already registered\n`);

      const json = await cli(["transfer", "register", file, "--json"]);
      assert.equal(json.code, 0, json.stderr);
      const body = JSON.parse(json.stdout);
      assert.deepEqual(
        { info_hash: body.info_hash, status: body.status, name: body.transfer.name, size: body.transfer.size },
        { info_hash: hex, status: "unchanged", name: "register-1.tar", size: SIZE },
      );
    });

    it("fails with the API's reason for a file that is not a .torrent, and for a missing file", async () => {
      const file = join(dir, "text.torrent");
      writeFileSync(file, "just some text\n");
      assertFailed(await cli(["transfer", "register", file]), 1, /^p2ptracker: POST \/torrents: not a valid \.torrent/);
      assertFailed(
        await cli(["transfer", "register", join(dir, "missing.torrent")]),
        1,
        /^p2ptracker: cannot read .*missing\.torrent: no such file or directory\n$/,
      );
    });

    it("activates and deactivates by info hash (any case)", async () => {
      const hex = hexOf(randomInfoHash());
      const activated = await cli(["transfer", "activate", hex.toLowerCase()]);
      assert.equal(activated.code, 0, activated.stderr);
      assert.equal(activated.stdout, `${hex}: activated\n`);
      assert.notEqual(await f.redis.client.zScore("transfers:active", hex), null);
      const again = await cli(["transfer", "activate", hex]);
      assert.equal(again.stdout, `${hex}: already active\n`);

      await announce(f.tracker, Buffer.from(hex, "hex"), peer("10.60.0.1"));
      const deactivated = await cli(["transfer", "deactivate", hex]);
      assert.equal(deactivated.code, 0, deactivated.stderr);
      assert.match(deactivated.stdout, new RegExp(`^${hex}: deactivated, archived as \\d{8}T\\d{6}Z with 1 peer\\n$`));
      assert.equal(await f.redis.client.zScore("transfers:active", hex), null);

      assertFailed(await cli(["transfer", "deactivate", hex]), 1, new RegExp(`no active transfer ${hex}`));
    });
  });

  describe("authentication", () => {
    it("without a token a change fails with the API's message and a hint", async () => {
      const hex = hexOf(randomInfoHash());
      const result = await cli(["transfer", "activate", hex], {});
      assertFailed(
        result,
        1,
        /^p2ptracker: POST \/transfers\/[0-9A-F]{40}: this needs Authorization: Bearer <token> \(pass --token or set P2PTRACKER_TOKEN\)\n$/,
      );
      assert.equal(await f.redis.client.exists(`{${hex}}:info`), 0);
    });

    it("a wrong token fails with the API's message", async () => {
      const result = await cli(["transfer", "activate", hexOf(randomInfoHash()), "--token", `${TEST_TOKEN}x`], {});
      assertFailed(result, 1, /: the token is not valid\n$/);
    });

    it("takes the token from P2PTRACKER_TOKEN or from --token, the flag first", async () => {
      const viaEnv = await cli(["transfer", "activate", hexOf(randomInfoHash())], { P2PTRACKER_TOKEN: TEST_TOKEN });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      const viaFlag = await cli(["transfer", "activate", hexOf(randomInfoHash()), "--token", TEST_TOKEN], {
        P2PTRACKER_TOKEN: "wrong-token-from-the-environment",
      });
      assert.equal(viaFlag.code, 0, viaFlag.stderr);
    });

    it("takes the tracker from P2PTRACKER_URL", async () => {
      const hex = hexOf(randomInfoHash());
      const result = await runCli(["transfer", "activate", hex], {
        P2PTRACKER_URL: f.tracker.url,
        P2PTRACKER_TOKEN: TEST_TOKEN,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${hex}: activated\n`);
    });
  });

  describe("list", () => {
    it("lists active transfers as a table and as JSON", async () => {
      const torrent = torrentOf("list-1.tar");
      const hex = hexOf(torrent.infoHash);
      await register(torrent);
      await announce(f.tracker, torrent.infoHash, peer("10.61.1.1"), { left: 0, event: "completed" });
      await announce(f.tracker, torrent.infoHash, peer("10.61.1.2"), { left: SIZE, event: "started" });
      const human = await cli(["transfer", "list"]);
      assert.equal(human.code, 0, human.stderr);
      const lines = human.stdout.trimEnd().split("\n");
      assert.match(lines[0]!, /^INFO HASH +NAME +SIZE +PEERS +SEEDERS +LEECHERS +COMPLETED +REGISTERED \(UTC\)$/);
      const row = lines.find((line) => line.startsWith(hex));
      assert.match(row ?? "", new RegExp(`^${hex} +list-1\\.tar +48\\.8 KiB +2 +1 +1 +1 +${TIME}$`));

      const json = await cli(["transfer", "list", "--json"]);
      const body = JSON.parse(json.stdout);
      assert.equal(body.total, body.items.length);
      const { registered, ...item } = body.items.find((i: { info_hash: string }) => i.info_hash === hex);
      assert.deepEqual(item, { info_hash: hex, name: "list-1.tar", size: SIZE, seeders: 1, leechers: 1, completed: 1 });
      assert.equal(typeof registered, "number");
    });

    it("lists archived transfers after a deactivation (--archived)", async () => {
      const torrent = torrentOf("list-2.tar");
      const hex = hexOf(torrent.infoHash);
      await register(torrent);
      assert.equal((await cli(["transfer", "deactivate", hex])).code, 0);
      const human = await cli(["transfer", "list", "--archived"]);
      assert.equal(human.code, 0, human.stderr);
      const lines = human.stdout.trimEnd().split("\n");
      assert.match(lines[0]!, /^ARCHIVE +INFO HASH +NAME +SIZE .* DEREGISTERED \(UTC\)$/);
      assert.ok(
        lines.some((line) => new RegExp(`^\\d{8}T\\d{6}Z  ${hex}  list-2\\.tar +48\\.8 KiB .* ${TIME}$`).test(line)),
        human.stdout,
      );
      const active = await cli(["transfer", "list"]);
      assert.doesNotMatch(active.stdout, new RegExp(hex), "no longer active");
      const json = JSON.parse((await cli(["transfer", "list", "--archived", "--json"])).stdout);
      assert.ok(
        json.items.some((item: { info_hash: string; archive: string }) => item.info_hash === hex && item.archive),
      );
    });

    it("lists hashes announced but not registered (--seen)", async () => {
      const stray = randomInfoHash();
      await announce(f.tracker, stray, peer("10.62.0.1"));
      const human = await cli(["transfer", "list", "--seen"]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /^INFO HASH +LAST ANNOUNCED \(UTC\)\n/);
      assert.match(human.stdout, new RegExp(`^${hexOf(stray)}  ${TIME}$`, "m"));
      const json = JSON.parse((await cli(["transfer", "list", "--seen", "--json"])).stdout);
      assert.ok(json.items.some((item: { info_hash: string }) => item.info_hash === hexOf(stray)));
    });

    it("--archived and --seen exclude each other", async () => {
      assertFailed(
        await cli(["transfer", "list", "--archived", "--seen"]),
        2,
        /--archived and --seen exclude each other/,
      );
    });
  });

  describe("show and peers", () => {
    const torrent = torrentOf("show-1.tar");
    const hex = hexOf(torrent.infoHash);

    before(async () => {
      await register(torrent);
      await announce(f.tracker, torrent.infoHash, peer("10.70.9.1", 7000), { left: 0, event: "started" });
      await announce(f.tracker, torrent.infoHash, peer("10.70.1.1", 7001), { left: 0, event: "completed" });
      await announce(f.tracker, torrent.infoHash, peer("10.70.1.2", 7002), { left: 0, event: "completed" });
      await announce(f.tracker, torrent.infoHash, peer("10.70.1.3", 7003), { left: SIZE / 2, event: "started" });
      await announce(f.tracker, torrent.infoHash, peer("10.70.1.4", 7004), { left: SIZE / 2, event: "started" });
      for (let h = 1; h <= 3; h++) {
        await announce(f.tracker, torrent.infoHash, peer(`10.70.2.${h}`, 7010 + h), { left: SIZE, event: "started" });
      }
    });

    it("shows the transfer's fields and counters", async () => {
      const result = await cli(["transfer", "show", hex]);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.split("\n");
      assert.deepEqual(lines.slice(0, 4), [
        `info hash   ${hex}`,
        "state       active",
        "name        show-1.tar",
        "size        48.8 KiB (50000 bytes, 1 file, 16.0 KiB pieces)",
      ]);
      assert.match(lines[4]!, new RegExp(`^registered  ${TIME}$`));
      assert.equal(lines[5], "peers       8 (3 seeders, 5 leechers; 1 origin)");
      assert.match(lines[6]!, new RegExp(`^completed   2 hosts \\(first ${TIME}, last ${TIME}\\)$`));
      // 7 hosts: two complete, two half-way, three at nothing: 3/7.
      assert.equal(lines[7], "progress    [#############-----------------]  42.9%");
      assert.equal(lines.length, 9, "no racks without --racks");
    });

    it("shows a table of racks with --racks", async () => {
      const result = await cli(["transfer", "show", hex, "--racks"]);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.trimEnd().split("\n");
      assert.deepEqual(lines.slice(8), [
        "",
        "RACK          PEERS  SEEDERS  LEECHERS  DONE  PROGRESS                       REPRESENTATIVES",
        // Clients complete at their first announce need no uplink: the leechers hold the slots.
        "10.70.1.0/24      4        2         2     2  [###############-----]  75.0%  10.70.1.3:7003 10.70.1.4:7004",
        "10.70.2.0/24      3        0         3     0  [--------------------]   0.0%  10.70.2.1:7011 10.70.2.2:7012",
        "10.70.9.0/24      1        1         0     0  --                             -",
      ]);
      const json = JSON.parse((await cli(["transfer", "show", hex, "--racks", "--json"])).stdout);
      assert.deepEqual(
        json.racks.map((r: { rack: string; done: number; progress: number | null }) => [r.rack, r.done, r.progress]),
        [
          ["10.70.1.0/24", 2, 0.75],
          ["10.70.2.0/24", 0, 0],
          ["10.70.9.0/24", 0, null],
        ],
      );
      assert.equal(json.completed, 2);
    });

    it("lists the peers, by rack, and only some with a filter", async () => {
      const result = await cli(["transfer", "peers", hex]);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.trimEnd().split("\n");
      assert.match(
        lines[0]!,
        /^ADDRESS +RACK +ROLE +STATE +LEFT +DOWNLOADED +UPLOADED +LAST EVENT +LAST SEEN \(UTC\) +LIVE$/,
      );
      assert.deepEqual(
        lines.slice(1).map((line) => line.split(/ +/).slice(0, 5).join(" ")),
        [
          "10.70.1.3:7003 10.70.1.0/24 representative leecher 24.4",
          "10.70.1.4:7004 10.70.1.0/24 representative leecher 24.4",
          "10.70.1.1:7001 10.70.1.0/24 member seeder 0",
          "10.70.1.2:7002 10.70.1.0/24 member seeder 0",
          "10.70.2.1:7011 10.70.2.0/24 representative leecher 48.8",
          "10.70.2.2:7012 10.70.2.0/24 representative leecher 48.8",
          "10.70.2.3:7013 10.70.2.0/24 member leecher 48.8",
          "10.70.9.1:7000 10.70.9.0/24 origin origin 0",
        ],
      );
      const origins = JSON.parse((await cli(["transfer", "peers", hex, "--origins", "--json"])).stdout);
      assert.deepEqual(
        origins.items.map((p: { address: string }) => p.address),
        ["10.70.9.1:7000"],
      );
    });

    it("fails with the API's message for a transfer that does not exist", async () => {
      const hex = hexOf(randomInfoHash());
      assertFailed(
        await cli(["transfer", "show", hex]),
        1,
        new RegExp(`^p2ptracker: GET /transfers/${hex}: no transfer ${hex}`),
      );
      assertFailed(await cli(["transfer", "peers", hex]), 1, new RegExp(`no transfer ${hex}`));
    });
  });

  describe("peers of a large swarm", () => {
    const PEERS = 1100;
    const torrent = torrentOf("peers-1.tar");
    const hex = hexOf(torrent.infoHash);

    before(async () => {
      await register(torrent);
      for (let i = 0; i < PEERS; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, PEERS - i) }, (_, j) => {
            const n = i + j;
            return announce(f.tracker, torrent.infoHash, peer(`10.80.${n % 5}.${Math.floor(n / 5) + 1}`, 7000), {
              left: SIZE,
              event: "started",
            });
          }),
        );
      }
    });

    it("follows the cursor to the last page: every peer once", async () => {
      const firstPage = await api(f.tracker.url, "GET", `/transfers/${hex}/peers?limit=1000`);
      assert.notEqual(firstPage.json.next_cursor, null, "the API needs more than one page of 1000");
      const human = await cli(["transfer", "peers", hex]);
      assert.equal(human.code, 0, human.stderr);
      const rows = human.stdout.trimEnd().split("\n").slice(1);
      assert.equal(rows.length, PEERS);
      assert.equal(new Set(rows.map((row) => row.split(" ")[0])).size, PEERS);
      const json = JSON.parse((await cli(["transfer", "peers", hex, "--json"])).stdout);
      assert.equal(new Set(json.items.map((p: { address: string }) => p.address)).size, PEERS);
      assert.equal(json.items.length, PEERS);
    });
  });

  describe("rack resolve", () => {
    it("says which resolver answered: the subnet fallback here", async () => {
      const result = await cli(["rack", "resolve", "10.50.3.4"]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "ip        10.50.3.4\nlocation  10.50.3.0/24\nresolver  subnet\n");
      const json = JSON.parse((await cli(["rack", "resolve", "10.50.3.4", "--json"])).stdout);
      assert.deepEqual(json, { ip: "10.50.3.4", location: "10.50.3.0/24", resolver: "subnet" });
    });
  });

  describe("bad command lines exit 2 with the command's usage", () => {
    const hex = "0123456789ABCDEF0123456789ABCDEF01234567";
    const cases: Array<[string[], string, RegExp]> = [
      [["transfer"], "transfer needs a command", /^usage: p2ptracker transfer <command>/m],
      [["transfer", "remove", hex], 'unknown transfer command "remove"', /^usage: p2ptracker transfer <command>/m],
      [["transfer", "show", hex, "--bogus"], 'unknown option "--bogus"', /^usage: p2ptracker transfer show /m],
      [["transfer", "show"], "transfer show needs an INFOHASH", /^usage: p2ptracker transfer show /m],
      [["transfer", "show", hex.slice(1)], `"${hex.slice(1)}" is not an info hash (40 hex digits)`, /transfer show/],
      [["transfer", "show", hex, hex], `unexpected argument "${hex}"`, /transfer show/],
      [["transfer", "show", hex, "--interval", "1"], "--interval goes with --watch", /transfer show/],
      [["transfer", "register"], "transfer register needs a .torrent file", /transfer register/],
      [
        ["transfer", "activate", "x.torrent"],
        '"x.torrent" is a file: use transfer register to upload a .torrent',
        /activate/,
      ],
      [["transfer", "wait", hex], "transfer wait needs --hosts N", /^usage: p2ptracker transfer wait /m],
      [["transfer", "wait", hex, "--hosts", "0"], '--hosts "0": expected a whole number of at least 1', /wait/],
      [
        ["transfer", "wait", hex, "--hosts", "3", "--timeout", "soon"],
        '--timeout "soon": expected a duration such as 90s, 5m, 1h30m or 300',
        /wait/,
      ],
      [["transfer", "list", "--tracker"], '"--tracker" needs a value', /transfer list/],
      [
        ["transfer", "list", "--tracker", "tracker:6969"],
        '--tracker "tracker:6969": expected a URL such as http://tracker.example:6969',
        /list/,
      ],
      [["rack"], "rack needs a command", /^usage: p2ptracker rack resolve/m],
      [["rack", "resolve", "10.50.3"], '"10.50.3" is not an IPv4 or IPv6 address', /^usage: p2ptracker rack resolve/m],
    ];
    for (const [args, message, usage] of cases) {
      it(`${args.join(" ")}`, async () => {
        const result = await runCli(args);
        assert.equal(result.code, 2, result.stderr);
        assert.equal(result.stderr.split("\n")[0], `p2ptracker: ${message}`);
        assert.match(result.stderr, usage);
        assert.equal(result.stdout, "");
      });
    }

    it("--help prints a command's help on stdout and exits 0", async () => {
      for (const [args, text] of [
        [["transfer", "--help"], /^usage: p2ptracker transfer <command>/],
        [["transfer", "wait", "-h"], /--stall D +give up when nothing moved/],
        [["transfer", "show", "--help"], /--watch/],
        [["rack", "resolve", "--help"], /which rack resolver/],
      ] as const) {
        const result = await runCli([...args]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, text);
      }
      const main = await runCli(["--help"]);
      assert.match(main.stdout, /p2ptracker transfer register\|activate\|deactivate\|list\|show\|peers\|wait/);
      assert.match(main.stdout, /p2ptracker rack resolve <IP>/);
    });
  });

  it("fails at once with exit 1 when the tracker cannot be reached", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    for (const args of [
      ["transfer", "list"],
      ["transfer", "show", hexOf(randomInfoHash())],
      ["rack", "resolve", "10.0.0.1"],
    ]) {
      const started = Date.now();
      const result = await runCli([...args, "--tracker", closed]);
      assertFailed(result, 1, new RegExp(`^p2ptracker: cannot reach the tracker at ${closed}: `));
      assert.ok(Date.now() - started < 5_000, "did not retry");
    }
  });

  describe("transfer wait", () => {
    /** A registered transfer with `leechers` hosts downloading on each of the given racks. */
    async function swarm(name: string, racks: Record<string, number>) {
      const torrent = torrentOf(name);
      await register(torrent);
      const hosts: Record<string, ReturnType<typeof peer>[]> = {};
      for (const [prefix, count] of Object.entries(racks)) {
        hosts[prefix] = [];
        for (let h = 1; h <= count; h++) {
          const p = peer(`${prefix}.${h}`);
          hosts[prefix].push(p);
          await announce(f.tracker, torrent.infoHash, p, { left: SIZE, event: "started" });
        }
      }
      return { infoHash: torrent.infoHash, hex: hexOf(torrent.infoHash), hosts };
    }
    const complete = (infoHash: Uint8Array, p: ReturnType<typeof peer>) =>
      announce(f.tracker, infoHash, p, { left: 0, event: "completed" });

    it("returns 0 once N hosts have completed, printing only the result with --json", async () => {
      const s = await swarm("wait-1.tar", { "10.90.1": 2, "10.90.2": 2 });
      const wait = startCli(
        ["transfer", "wait", s.hex, "--hosts", "3", "--interval", "0.3", "--json", "--tracker", f.tracker.url],
        {},
      );
      await sleep(1200);
      assert.ok(wait.running(), `still waiting with no host complete: ${wait.stdout()} ${wait.stderr()}`);
      await complete(s.infoHash, s.hosts["10.90.1"]![0]!);
      await complete(s.infoHash, s.hosts["10.90.2"]![0]!);
      await sleep(900);
      assert.ok(wait.running(), "still waiting with 2 of 3");
      await complete(s.infoHash, s.hosts["10.90.2"]![1]!);
      const result = await wait.exited;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, "", "nothing but the result");
      const body = JSON.parse(result.stdout);
      assert.deepEqual(
        { ...body, elapsed_s: typeof body.elapsed_s },
        {
          result: "completed",
          completed: 3,
          hosts: 3,
          elapsed_s: "number",
        },
      );
    });

    it("says so on stdout without --json", async () => {
      const s = await swarm("wait-2.tar", { "10.91.1": 1 });
      await complete(s.infoHash, s.hosts["10.91.1"]![0]!);
      const result = await cli(["transfer", "wait", s.hex, "--hosts", "1"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^${s.hex}: 1 host completed \\(waited for 1\\) in \\ds\\n$`));
    });

    it("returns 1 naming the racks that stalled when nothing moves for --stall", async () => {
      const s = await swarm("wait-3.tar", { "10.92.1": 2, "10.92.2": 2, "10.92.3": 1 });
      await complete(s.infoHash, s.hosts["10.92.2"]![0]!);
      await complete(s.infoHash, s.hosts["10.92.2"]![1]!);
      const started = Date.now();
      const result = await cli(["transfer", "wait", s.hex, "--hosts", "5", "--stall", "2s", "--interval", "0.3"]);
      assertFailed(
        result,
        1,
        new RegExp(
          `^p2ptracker: ${s.hex}: stalled: no host made progress for 2s \\(2 of 5 hosts completed\\); ` +
            "stalled racks: 10\\.92\\.1\\.0/24 \\(0\\.0%, 2 downloading\\), 10\\.92\\.3\\.0/24 \\(0\\.0%, 1 downloading\\)\\n$",
        ),
      );
      assert.doesNotMatch(result.stderr, /10\.92\.2\.0/, "a rack with nobody downloading did not stall");
      assert.ok(Date.now() - started >= 2000, "waited for the stall time");

      const json = await cli([
        "transfer",
        "wait",
        s.hex,
        "--hosts",
        "5",
        "--stall",
        "1s",
        "--interval",
        "0.3",
        "--json",
      ]);
      assert.equal(json.code, 1);
      assert.equal(json.stderr, "");
      const body = JSON.parse(json.stdout);
      assert.equal(body.result, "stalled");
      assert.deepEqual(body.stalled_racks, ["10.92.1.0/24", "10.92.3.0/24"]);
      assert.equal(body.completed, 2);
    });

    it("returns 124 at --timeout while hosts still make progress", async () => {
      const s = await swarm("wait-4.tar", { "10.93.1": 12 });
      const wait = startCli(
        [
          ...["transfer", "wait", s.hex, "--hosts", "12", "--timeout", "3s", "--stall", "1.5s", "--interval", "0.2"],
          ...["--tracker", f.tracker.url],
        ],
        {},
      );
      // A host completes every 0.4 s: no stall, and not all 12 before the timeout.
      let done = 0;
      while (wait.running() && done < 12) {
        await sleep(400);
        await complete(s.infoHash, s.hosts["10.93.1"]![done++]!);
      }
      const result = await wait.exited;
      assertFailed(
        result,
        124,
        new RegExp(`^p2ptracker: ${s.hex}: timed out after 3s with \\d+ of 12 hosts completed\\n$`),
      );
      assert.ok(done < 12, "the hosts were still completing");

      const json = await cli(["transfer", "wait", s.hex, "--hosts", "20", "--timeout", "2s", "--json"]);
      assert.equal(json.code, 124);
      assert.equal(json.stderr, "");
      assert.deepEqual(JSON.parse(json.stdout), { result: "timeout", completed: done, hosts: 20, elapsed_s: 2 });
      assert.equal(json.stdout.trim().split("\n").length, 1, "exactly one JSON object");
    });

    it("fails at once with the API's message for a transfer that does not exist", async () => {
      const hex = hexOf(randomInfoHash());
      const started = Date.now();
      assertFailed(await cli(["transfer", "wait", hex, "--hosts", "1"]), 1, new RegExp(`no transfer ${hex}`));
      assert.ok(Date.now() - started < 5_000);
    });

    it("counts an unreachable tracker toward the timeout", async () => {
      const closed = `http://127.0.0.1:${await freePort()}`;
      const result = await runCli([
        "transfer",
        "wait",
        hexOf(randomInfoHash()),
        "--hosts",
        "1",
        "--timeout",
        "2s",
        "--json",
        "--tracker",
        closed,
      ]);
      assert.equal(result.code, 124, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { result: "timeout", completed: null, hosts: 1, elapsed_s: 2 });
    });

    it("survives a tracker restart", async () => {
      const s = await swarm("wait-5.tar", { "10.94.1": 2 });
      const port = await freePort();
      const config = testConfig(f.redis, port, { ADMIN_TOKEN: TEST_TOKEN });
      let replica: RunningTracker = await startTracker(config);
      const wait = startCli(
        [
          "transfer",
          "wait",
          s.hex,
          "--hosts",
          "2",
          "--interval",
          "0.3",
          "--json",
          "--tracker",
          `http://127.0.0.1:${port}`,
        ],
        {},
      );
      try {
        await sleep(1000);
        await replica.close();
        await complete(s.infoHash, s.hosts["10.94.1"]![0]!);
        await complete(s.infoHash, s.hosts["10.94.1"]![1]!);
        await sleep(1000);
        assert.ok(wait.running(), `waits through the outage: ${wait.stdout()} ${wait.stderr()}`);
        replica = await startTracker(config);
        const result = await wait.exited;
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stderr, "");
        assert.equal(JSON.parse(result.stdout).result, "completed");
      } finally {
        wait.child.kill();
        await replica.close().catch(() => undefined);
      }
    });
  });

  describe("transfer show --watch", () => {
    it("without a terminal: a snapshot per interval (JSON lines with --json), ends when the transfer is archived", async () => {
      const torrent = torrentOf("watch-1.tar");
      const hex = hexOf(torrent.infoHash);
      await register(torrent);
      const json = startCli([
        "transfer",
        "show",
        hex,
        "--watch",
        "--interval",
        "0.3",
        "--json",
        "--tracker",
        f.tracker.url,
      ]);
      const human = startCli(["transfer", "show", hex, "--watch", "--interval", "0.3", "--tracker", f.tracker.url]);
      await eventually(
        "two snapshots each",
        async () => json.stdout().split("\n").length > 2 && human.stdout().split("info hash").length > 2,
      );
      assert.equal((await api(f.tracker.url, "DELETE", `/transfers/${hex}`, { token: TEST_TOKEN })).status, 200);
      const [jsonResult, humanResult] = await Promise.all([json.exited, human.exited]);
      assert.equal(jsonResult.code, 0, jsonResult.stderr);
      const snapshots = jsonResult.stdout
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line));
      assert.equal(snapshots.at(0).active, true);
      assert.equal(snapshots.at(-1).active, false, "the last one shows the archive");
      assert.equal(humanResult.code, 0, humanResult.stderr);
      assert.doesNotMatch(humanResult.stdout, /\x1b\[/, "no escape sequences without a terminal");
      assert.match(humanResult.stdout, new RegExp(`${hex}: archived as \\d{8}T\\d{6}Z; stopped watching\\n$`));
    });

    describe("in a real terminal (tmux)", () => {
      let session: TmuxSession | undefined;
      after(async () => {
        await session?.close();
      });

      it("redraws the view in place with per-rack bars; Ctrl-C stops it with exit 0", async () => {
        const torrent = torrentOf("watch-2.tar");
        const hex = hexOf(torrent.infoHash);
        await register(torrent);
        await announce(f.tracker, torrent.infoHash, peer("10.95.9.1", 7000), { left: 0, event: "started" });
        const hosts = [1, 2, 3, 4].map((h) => peer(`10.95.1.${h}`, 7000 + h));
        for (const p of hosts) await announce(f.tracker, torrent.infoHash, p, { left: SIZE / 2, event: "started" });
        await announce(f.tracker, torrent.infoHash, hosts[0]!, { left: 0, event: "completed" });

        const command = [
          process.execPath,
          MAIN,
          "transfer",
          "show",
          hex,
          "--racks",
          "--watch",
          "--interval",
          "1",
          "--tracker",
          f.tracker.url,
        ];
        // The pane's shell records how the CLI exited: tmux's own record of a pane's end can
        // lag or go missing under load. The shell's trap keeps Ctrl-C from ending the shell
        // itself; the CLI, being another program, gets the default SIGINT and its own handler.
        const statusFile = join(mkdtempSync(join(tmpdir(), "p2ptracker-watch-")), "status");
        const line = command.map((word) => `'${word}'`).join(" ");
        session = await TmuxSession.start(`trap true INT; ${line}; echo $? > '${statusFile}'`, 140, 40);
        let pane = "";
        await eventually(
          "the first view",
          async () => /^completed +1 host /m.test((pane = await session!.capture())),
          15_000,
        );
        assert.match(
          pane,
          /^10\.95\.1\.0\/24 +4 +1 +3 +1 +\[#{13}-{7}\] +62\.5% +10\.95\.1\.1:7001 10\.95\.1\.2:7002$/m,
        );
        assert.match(pane, /^10\.95\.9\.0\/24 +1 +1 +0 +0 +-- +-$/m);
        assert.match(pane, /^progress +\[#+-+\] +62\.5%$/m);

        await announce(f.tracker, torrent.infoHash, hosts[1]!, { left: 0, event: "completed" });
        await announce(f.tracker, torrent.infoHash, hosts[2]!, { left: 0, event: "completed" });
        await eventually(
          "the view redrawn with 3 completed",
          async () => /^completed +3 hosts /m.test((pane = await session!.capture())),
          15_000,
        );
        assert.match(pane, /^10\.95\.1\.0\/24 +4 +3 +1 +3 +\[#{18}-{2}\] +87\.5% /m);
        assert.match(pane, /^rate +\d+\.\d hosts\/min$/m);
        assert.match(pane, /^ETA +(\d+s|\d+m\d\ds)$/m);
        const count = (pattern: RegExp) => pane.split("\n").filter((line) => pattern.test(line)).length;
        assert.equal(count(/^every 1s: p2ptracker transfer show /), 1, `one title, not a scrolled copy:\n${pane}`);
        assert.equal(count(/^RACK +PEERS +SEEDERS/), 1, "one rack heading");
        assert.equal(count(/^completed +/), 1, "one completed line");

        await session.sendKeys("C-c");
        await eventually("the view to exit", async () => existsSync(statusFile), 10_000);
        assert.equal(readFileSync(statusFile, "utf8"), "0\n", "Ctrl-C exits 0");
      });
    });
  });
});

describe("rack resolve with a static RACK_MAP", () => {
  const dir = mkdtempSync(join(tmpdir(), "p2ptracker-rackmap-"));
  const map = join(dir, "racks.map");
  writeFileSync(map, "# CIDR location\n10.20.0.0/16 dc1/row2/rack7\n");
  const f = trackerFixture({ RACK_MAP: map });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("shows the static resolver's location, and the subnet fallback outside the map", async () => {
    const mapped = await runCli(["rack", "resolve", "10.20.3.4", "--tracker", f.tracker.url]);
    assert.equal(mapped.code, 0, mapped.stderr);
    assert.equal(mapped.stdout, "ip        10.20.3.4\nlocation  dc1/row2/rack7\nresolver  static\n");
    const other = await runCli(["rack", "resolve", "10.21.3.4", "--tracker", f.tracker.url, "--json"]);
    assert.deepEqual(JSON.parse(other.stdout), { ip: "10.21.3.4", location: "10.21.3.0/24", resolver: "subnet" });
  });
});
