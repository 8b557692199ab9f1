import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProgressRates } from "../src/cli/progressRates.js";
import { screenFrame } from "../src/cli/screen.js";
import { alignColumns } from "../src/cli/table.js";
import type { Peer, Rack, Transfer } from "../src/cli/transferApi.js";
import {
  formatTime,
  peerLines,
  rackLines,
  registeredLine,
  transferLines,
  transferListLines,
  watchLines,
} from "../src/cli/transferView.js";
import { describeWait, StallClock, stalledRacks } from "../src/cli/transferWait.js";

const H = "5F2C0B6E4D3A29180F7E6D5C4B3A291807F6E5D4";
const T0 = Date.UTC(2026, 4, 1, 12, 34, 56) / 1000;

function rack(name: string, fields: Partial<Rack> = {}): Rack {
  return {
    rack: name,
    peers: 0,
    seeders: 0,
    leechers: 0,
    representatives: [],
    waiting_since: null,
    progress: null,
    done: 0,
    ...fields,
  };
}

function transfer(fields: Partial<Transfer> = {}): Transfer {
  return {
    info_hash: H,
    active: true,
    archive: null,
    name: "build-7.tar",
    size: 50_000,
    piece_length: 16_384,
    files: 1,
    torrent: true,
    registered: T0,
    deregistered: null,
    peers: 8,
    seeders: 3,
    leechers: 5,
    origins: 1,
    completed: 2,
    first_started: T0,
    last_started: T0 + 5,
    first_completed: T0 + 60,
    last_completed: T0 + 61,
    progress: 0.4286,
    priority: "normal",
    ...fields,
  };
}

const RACKS = [
  rack("10.70.1.0/24", {
    peers: 4,
    seeders: 2,
    leechers: 2,
    done: 2,
    progress: 0.75,
    representatives: ["10.70.1.2:7002", "10.70.1.1:7001"],
  }),
  rack("10.70.2.0/24", { peers: 3, leechers: 3, progress: 0, representatives: ["10.70.2.1:7011"] }),
  rack("10.70.9.0/24", { peers: 1, seeders: 1 }),
];

describe("transfer output: tables and fields", () => {
  it("formats times in UTC to the second, `-` when unknown", () => {
    assert.equal(formatTime(T0), "2026-05-01 12:34:56Z");
    assert.equal(formatTime(null), "-");
    assert.equal(formatTime(undefined), "-");
  });

  it("aligns columns: text left, numbers right, no trailing spaces", () => {
    const lines = alignColumns(
      [{ heading: "NAME" }, { heading: "N", right: true }, { heading: "NOTE" }],
      [
        ["a", "1", "x"],
        ["longer", "1000", ""],
      ],
    );
    assert.deepEqual(lines, ["NAME       N  NOTE", "a          1  x", "longer  1000"]);
  });

  it("shows a transfer's fields with its overall bar", () => {
    assert.deepEqual(transferLines(transfer()), [
      `info hash   ${H}`,
      "state       active",
      "name        build-7.tar",
      "size        48.8 KiB (50000 bytes, 1 file, 16.0 KiB pieces)",
      "registered  2026-05-01 12:34:56Z",
      "peers       8 (3 seeders, 5 leechers; 1 origin)",
      "completed   2 hosts (first 2026-05-01 12:35:56Z, last 2026-05-01 12:35:57Z)",
      "progress    [#############-----------------]  42.9%",
    ]);
  });

  it("says when a transfer is archived, or was registered by hash alone", () => {
    const lines = transferLines(
      transfer({
        active: false,
        archive: "20260501T124000Z",
        deregistered: T0 + 304,
        name: null,
        size: null,
        piece_length: null,
        files: null,
        completed: 0,
        first_completed: null,
        progress: null,
      }),
    );
    assert.equal(lines[1], "state       archived as 20260501T124000Z (deactivated 2026-05-01 12:40:00Z)");
    assert.equal(lines[2], "name        - (registered by info hash, no .torrent)");
    assert.equal(lines[3], "registered  2026-05-01 12:34:56Z");
    assert.equal(lines[5], "completed   0 hosts");
    assert.equal(lines[6], "progress    --");
  });

  it("shows racks with a bar each and sorted representatives; `--` for a rack of origins", () => {
    assert.deepEqual(rackLines(RACKS), [
      "RACK          PEERS  SEEDERS  LEECHERS  DONE  PROGRESS                       REPRESENTATIVES",
      "10.70.1.0/24      4        2         2     2  [###############-----]  75.0%  10.70.1.1:7001 10.70.1.2:7002",
      "10.70.2.0/24      3        0         3     0  [--------------------]   0.0%  10.70.2.1:7011",
      "10.70.9.0/24      1        1         0     0  --                             -",
    ]);
    assert.deepEqual(rackLines([]), ["no racks: no peer has announced"]);
  });

  it("lists transfers per state with the columns of that state", () => {
    const item = {
      info_hash: H,
      name: "build-7.tar",
      size: 50_000,
      registered: T0,
      seeders: 3,
      leechers: 5,
      completed: 2,
    };
    assert.deepEqual(transferListLines("active", [item, { info_hash: H.toLowerCase(), name: null, size: null }]), [
      "INFO HASH                                 NAME             SIZE  PEERS  SEEDERS  LEECHERS  COMPLETED  REGISTERED (UTC)",
      `${H}  build-7.tar  48.8 KiB      8        3         5          2  2026-05-01 12:34:56Z`,
      `${H.toLowerCase()}  -                   -      0        0         0          0  -`,
    ]);
    const archived = transferListLines("archived", [{ ...item, archive: "20260501T124000Z", deregistered: T0 + 304 }]);
    assert.match(archived[0]!, /^ARCHIVE +INFO HASH +NAME .* DEREGISTERED \(UTC\)$/);
    assert.match(archived[1]!, new RegExp(`^20260501T124000Z  ${H}  build-7.tar .* 2026-05-01 12:40:00Z$`));
    assert.deepEqual(transferListLines("seen", [{ info_hash: H, last_seen: T0 }]), [
      "INFO HASH                                 LAST ANNOUNCED (UTC)",
      `${H}  2026-05-01 12:34:56Z`,
    ]);
    assert.deepEqual(transferListLines("archived", []), ["no archived transfers"]);
  });

  it("lists peers by rack, origins first, addresses in numeric order", () => {
    const base: Peer = {
      address: "",
      ip: "",
      port: 0,
      rack: "10.1.1.0/24",
      role: "member",
      state: "leecher",
      left: 1024,
      uploaded: 0,
      downloaded: 2048,
      last_event: "started",
      last_event_time: T0,
      last_seen: T0,
      live: true,
    };
    const lines = peerLines([
      { ...base, address: "10.1.1.10:7000" },
      { ...base, address: "10.1.1.9:7000" },
      { ...base, address: "10.1.0.1:7000", rack: "10.1.0.0/24", role: "origin", state: "origin", left: 0 },
      { ...base, address: "10.1.1.2:7000", role: "representative", live: false },
    ]);
    assert.deepEqual(
      lines.map((line) => line.split(/\s+/)[0]),
      ["ADDRESS", "10.1.0.1:7000", "10.1.1.2:7000", "10.1.1.9:7000", "10.1.1.10:7000"],
    );
    assert.equal(
      lines[2],
      "10.1.1.2:7000   10.1.1.0/24  representative  leecher  1.00 KiB    2.00 KiB       0 B  started     2026-05-01 12:34:56Z  no",
    );
  });

  it("words the answer to a registration", () => {
    const answer = { info_hash: H, transfer: transfer() };
    assert.equal(registeredLine({ ...answer, status: "registered" }), `${H} (build-7.tar, 48.8 KiB): registered`);
    assert.equal(
      registeredLine({ ...answer, status: "unchanged" }),
      `${H} (build-7.tar, 48.8 KiB): already registered`,
    );
  });

  it("the live view: a title, the fields, rate and ETA, then the racks", () => {
    const lines = watchLines(transfer({ racks: RACKS }), {
      intervalSeconds: 2,
      now: (T0 + 600) * 1000,
      completionsPerSecond: 0.05,
      etaSeconds: 150,
    });
    assert.equal(lines[0], `every 2s: p2ptracker transfer show ${H}  2026-05-01 12:44:56Z  (Ctrl-C to stop)`);
    assert.ok(lines.includes("rate        3.0 hosts/min"), lines.join("\n"));
    assert.ok(lines.includes("ETA         2m30s"));
    assert.equal(lines.filter((line) => line.startsWith("RACK ")).length, 1);
    const unknown = watchLines(transfer(), {
      intervalSeconds: 2,
      now: 0,
      completionsPerSecond: undefined,
      etaSeconds: NaN,
    });
    assert.ok(unknown.includes("rate        --"));
    assert.ok(unknown.includes("ETA         --"));
  });
});

describe("transfer output: the screen of the live view", () => {
  it("goes home, clears each line's end and what lies below; never more rows than fit", () => {
    assert.equal(screenFrame(["a", "b"], 80, 24), "\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J");
    const tall = screenFrame(
      Array.from({ length: 10 }, (_, i) => `line ${i}`),
      80,
      5,
    );
    assert.equal(
      tall,
      "\x1b[Hline 0\x1b[K\nline 1\x1b[K\nline 2\x1b[K\n... 7 more lines: make the terminal taller\x1b[K\n\x1b[J",
    );
    assert.equal(screenFrame(["0123456789"], 6, 24), "\x1b[H01234\x1b[K\n\x1b[J");
  });
});

describe("transfer output: rates and ETA", () => {
  it("has no rate or ETA from a single sample", () => {
    const rates = new ProgressRates();
    rates.add({ at: 0, completed: 0, progress: 0.2 });
    assert.equal(rates.completionsPerSecond(), undefined);
    assert.ok(Number.isNaN(rates.eta(5)));
  });

  it("estimates from the rise of the mean progress, else from completions", () => {
    const rates = new ProgressRates();
    rates.add({ at: 0, completed: 0, progress: 0.2 });
    rates.add({ at: 10, completed: 2, progress: 0.4 });
    assert.equal(rates.completionsPerSecond(), 0.2);
    assert.equal(rates.eta(5), 30, "0.6 left at 0.02 per second");
    const flat = new ProgressRates();
    flat.add({ at: 0, completed: 0, progress: 0.5 });
    flat.add({ at: 10, completed: 1, progress: 0.5 });
    assert.equal(flat.eta(4), 40, "4 hosts at one per 10 s");
    const still = new ProgressRates();
    still.add({ at: 0, completed: 1, progress: 0.5 });
    still.add({ at: 10, completed: 1, progress: 0.5 });
    assert.ok(Number.isNaN(still.eta(4)), "nothing moves: unknown");
    assert.equal(still.eta(0), 0, "nobody left downloading");
  });

  it("forgets samples older than its window", () => {
    const rates = new ProgressRates(30);
    rates.add({ at: 0, completed: 0, progress: 0 });
    rates.add({ at: 10, completed: 10, progress: 0.1 });
    rates.add({ at: 50, completed: 12, progress: 0.2 });
    assert.equal(rates.completionsPerSecond(), 2 / 40, "measured from the sample at 10 s");
  });
});

describe("transfer wait: what counts as progress", () => {
  it("a rising completed count, rack done count or rack progress, or a new rack, restarts the clock", () => {
    const clock = new StallClock(0);
    const base = transfer({ completed: 1, racks: [rack("a", { progress: 0.5, done: 1, leechers: 1 })] });
    clock.observe(base, 1);
    assert.equal(clock.quietFor(3), 3, "the first look is a baseline, not progress");
    clock.observe(base, 3);
    assert.equal(clock.quietFor(4), 4);
    clock.observe(transfer({ completed: 1, racks: [rack("a", { progress: 0.6, done: 1 })] }), 5);
    assert.equal(clock.quietFor(6), 1, "rack progress rose");
    clock.observe(transfer({ completed: 2, racks: [rack("a", { progress: 0.6, done: 1 })] }), 7);
    assert.equal(clock.quietFor(7), 0, "completed rose");
    clock.observe(transfer({ completed: 2, racks: [rack("a", { progress: 0.6, done: 1 }), rack("b")] }), 8);
    assert.equal(clock.quietFor(8), 0, "a rack appeared");
    clock.observe(transfer({ completed: 2, racks: [rack("a", { progress: 0.4, done: 1 }), rack("b")] }), 9);
    assert.equal(clock.quietFor(10), 2, "progress that drops (a host expired) is not progress");
    clock.pause(5);
    assert.equal(clock.quietFor(10), -3, "time out of reach does not count");
  });

  it("names the racks that still download when it stalls", () => {
    const racks = [
      rack("10.1.1.0/24", { leechers: 2, progress: 0.5 }),
      rack("10.1.2.0/24", { leechers: 0, done: 3, progress: 1 }),
      rack("10.1.3.0/24", { leechers: 1, progress: 0 }),
    ];
    assert.deepEqual(
      stalledRacks(racks).map((r) => r.rack),
      ["10.1.1.0/24", "10.1.3.0/24"],
    );
    const message = describeWait(H, {
      result: { result: "stalled", completed: 3, hosts: 6, elapsed_s: 400, stalled_racks: [] },
      transfer: transfer({ racks }),
      quietSeconds: 300,
    });
    assert.equal(
      message,
      `${H}: stalled: no host made progress for 5m00s (3 of 6 hosts completed); stalled racks: 10.1.1.0/24 (50.0%, 2 downloading), 10.1.3.0/24 (0.0%, 1 downloading)`,
    );
  });
});
