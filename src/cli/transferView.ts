/**
 * What the transfer and rack commands print for people: pure functions from the API's
 * JSON to lines of text. Times are shown in UTC (`2026-05-01 12:34:56Z`), the zone the
 * tracker's archive stamps use, so output from hosts in different zones compares.
 */

import { formatBytes, formatDuration, renderBar } from "./progressBar.js";
import { alignColumns, alignFields, type Column } from "./table.js";
import type {
  Archived,
  ListState,
  Peer,
  Rack,
  Registered,
  Resolved,
  Transfer,
  TransferListItem,
} from "./transferApi.js";

/** Bar widths: a rack's row has room for less than the transfer's own line. */
const RACK_BAR = 20;
const TRANSFER_BAR = 30;

/** Unix seconds as `2026-05-01 12:34:56Z`; `-` when unknown. */
export function formatTime(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "-";
  return new Date(seconds * 1000)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

/** A fraction as `42.5%`; `--` when unknown. */
export function formatPercent(fraction: number | null): string {
  return fraction === null ? "--" : `${(fraction * 100).toFixed(1)}%`;
}

const size = (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? "-" : formatBytes(bytes));
const count = (n: number | undefined) => String(n ?? 0);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A bar and its percentage, e.g. `[#####---------------]  25.0%`; `--` without a value. */
function progressCell(fraction: number | null, width: number): string {
  return fraction === null ? "--" : `${renderBar(fraction, width)} ${formatPercent(fraction).padStart(6)}`;
}

/** A listing of transfers as a table (or a line saying there are none). */
export function transferListLines(state: ListState, items: readonly TransferListItem[]): string[] {
  if (items.length === 0) return [`no ${state === "seen" ? "unregistered announced" : state} transfers`];
  if (state === "seen") {
    return alignColumns(
      [{ heading: "INFO HASH" }, { heading: "LAST ANNOUNCED (UTC)" }],
      items.map((item) => [item.info_hash, formatTime(item.last_seen)]),
    );
  }
  const archived = state === "archived";
  const columns: Column[] = [
    ...(archived ? [{ heading: "ARCHIVE" }] : []),
    { heading: "INFO HASH" },
    { heading: "NAME" },
    { heading: "SIZE", right: true },
    { heading: "PEERS", right: true },
    { heading: "SEEDERS", right: true },
    { heading: "LEECHERS", right: true },
    { heading: "COMPLETED", right: true },
    { heading: archived ? "DEREGISTERED (UTC)" : "REGISTERED (UTC)" },
  ];
  return alignColumns(
    columns,
    items.map((item) => [
      ...(archived ? [item.archive ?? "-"] : []),
      item.info_hash,
      item.name ?? "-",
      size(item.size),
      String((item.seeders ?? 0) + (item.leechers ?? 0)),
      count(item.seeders),
      count(item.leechers),
      count(item.completed),
      formatTime(archived ? item.deregistered : item.registered),
    ]),
  );
}

/** A transfer's fields, counters and overall progress (then `extra`), one `label  value` line each. */
export function transferLines(t: Transfer, extra: ReadonlyArray<readonly [string, string]> = []): string[] {
  const fields: Array<[string, string]> = [["info hash", t.info_hash]];
  fields.push([
    "state",
    t.active ? "active" : `archived as ${t.archive ?? "-"} (deactivated ${formatTime(t.deregistered)})`,
  ]);
  if (t.name === null && t.size === null) {
    fields.push(["name", "- (registered by info hash, no .torrent)"]);
  } else {
    fields.push(["name", t.name ?? "-"]);
    const details = [
      t.size === null ? undefined : `${t.size} bytes`,
      t.files === null ? undefined : plural(t.files, "file"),
      t.piece_length === null ? undefined : `${formatBytes(t.piece_length)} pieces`,
    ].filter((part) => part !== undefined);
    fields.push(["size", `${size(t.size)}${details.length > 0 ? ` (${details.join(", ")})` : ""}`]);
  }
  fields.push(["registered", formatTime(t.registered)]);
  // Shown when it is not the default: it decides who gets a rack's uplink slot first.
  if (t.priority !== "normal") fields.push(["priority", t.priority]);
  fields.push([
    "peers",
    `${t.peers} (${plural(t.seeders, "seeder")}, ${plural(t.leechers, "leecher")}; ${plural(t.origins, "origin")})`,
  ]);
  const completedTimes =
    t.first_completed === null ? "" : ` (first ${formatTime(t.first_completed)}, last ${formatTime(t.last_completed)})`;
  fields.push(["completed", `${plural(t.completed, "host")}${completedTimes}`]);
  fields.push(["progress", progressCell(t.progress, TRANSFER_BAR)]);
  return alignFields([...fields, ...extra]);
}

/**
 * Per rack: peers, seeders, leechers, completed hosts, a progress bar, representatives (or
 * since when the transfer waits for one of the rack's uplink slots).
 */
export function rackLines(racks: readonly Rack[]): string[] {
  if (racks.length === 0) return ["no racks: no peer has announced"];
  return alignColumns(
    [
      { heading: "RACK" },
      { heading: "PEERS", right: true },
      { heading: "SEEDERS", right: true },
      { heading: "LEECHERS", right: true },
      { heading: "DONE", right: true },
      { heading: "PROGRESS" },
      { heading: "REPRESENTATIVES" },
    ],
    racks.map((rack) => [
      rack.rack,
      String(rack.peers),
      String(rack.seeders),
      String(rack.leechers),
      String(rack.done),
      progressCell(rack.progress, RACK_BAR),
      rack.representatives.length > 0
        ? [...rack.representatives].sort().join(" ")
        : rack.waiting_since !== null
          ? `- (waiting for an uplink slot since ${formatTime(rack.waiting_since)})`
          : "-",
    ]),
  );
}

const ROLE_ORDER = { origin: 0, representative: 1, member: 2 } as const;

/** Orders 10.0.0.9 before 10.0.0.10. */
const NUMERIC = new Intl.Collator("en", { numeric: true });

/** A transfer's peers as a table, by rack, then role (origins first), then address. */
export function peerLines(peers: readonly Peer[]): string[] {
  if (peers.length === 0) return ["no peers"];
  const sorted = [...peers].sort(
    (a, b) =>
      NUMERIC.compare(a.rack, b.rack) ||
      ROLE_ORDER[a.role] - ROLE_ORDER[b.role] ||
      NUMERIC.compare(a.address, b.address),
  );
  return alignColumns(
    [
      { heading: "ADDRESS" },
      { heading: "RACK" },
      { heading: "ROLE" },
      { heading: "STATE" },
      { heading: "LEFT", right: true },
      { heading: "DOWNLOADED", right: true },
      { heading: "UPLOADED", right: true },
      { heading: "LAST EVENT" },
      { heading: "LAST SEEN (UTC)" },
      { heading: "LIVE" },
    ],
    sorted.map((peer) => [
      peer.address,
      peer.rack,
      peer.role,
      peer.state,
      formatBytes(peer.left),
      formatBytes(peer.downloaded),
      formatBytes(peer.uploaded),
      peer.last_event,
      formatTime(peer.last_seen),
      peer.live ? "yes" : "no",
    ]),
  );
}

/** What a live view adds to a transfer's lines: how fast it goes and how long it has left. */
export interface WatchStatus {
  readonly intervalSeconds: number;
  /** Wall-clock time of the view, in milliseconds. */
  readonly now: number;
  readonly completionsPerSecond: number | undefined;
  /** Seconds left; NaN when unknown. */
  readonly etaSeconds: number;
  /** A line about the last refresh, when it failed. */
  readonly notice?: string;
}

/** The whole live view of a transfer: a title, its lines, rate and ETA, the racks when known. */
export function watchLines(t: Transfer, status: WatchStatus): string[] {
  const rate = status.completionsPerSecond;
  const lines = [
    `every ${formatDuration(status.intervalSeconds)}: p2ptracker transfer show ${t.info_hash}  ${formatTime(status.now / 1000)}  (Ctrl-C to stop)`,
    "",
    ...transferLines(t, [
      ["rate", rate === undefined ? "--" : `${(rate * 60).toFixed(1)} hosts/min`],
      ["ETA", formatDuration(status.etaSeconds)],
    ]),
  ];
  if (status.notice !== undefined) lines.push(status.notice);
  if (t.racks !== undefined) lines.push("", ...rackLines(t.racks));
  return lines;
}

/** The answer to registering a .torrent, e.g. `<H> (build.tar, 48.8 KiB): registered`. */
export function registeredLine(answer: Registered): string {
  const { transfer } = answer;
  const label = transfer.name === null ? "" : ` (${transfer.name}, ${size(transfer.size)})`;
  const outcome = {
    registered: "registered",
    "torrent-added": ".torrent added to the transfer registered by info hash",
    unchanged: "already registered",
  }[answer.status];
  return `${answer.info_hash}${label}: ${outcome}`;
}

/** The answer to activating an info hash. */
export function activatedLine(answer: Registered): string {
  return `${answer.info_hash}: ${answer.status === "registered" ? "activated" : "already active"}`;
}

/** The answer to deactivating a transfer. */
export function archivedLine(answer: Archived): string {
  return `${answer.info_hash}: deactivated, archived as ${answer.archive} with ${plural(answer.peers, "peer")}`;
}

/** Which resolver answered for an address, and with what location. */
export function resolvedLines(answer: Resolved): string[] {
  return alignFields([
    ["ip", answer.ip],
    ["location", answer.location],
    ["resolver", answer.resolver],
  ]);
}
