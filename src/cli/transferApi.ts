/**
 * The operators' API as the transfer and rack commands read it: answers typed by the API's
 * own schemas (so a change of the JSON fails the build here), listings followed to their
 * last page, and which failures are worth a retry.
 */

import type { z } from "@hono/zod-openapi";
import type {
  ArchivedBody,
  PeerBody,
  RackBody,
  RegisteredBody,
  ResolvedBody,
  TransferBody,
  TransferListBody,
} from "../http/api/schemas.js";
import { apiRequest, ApiError, type ApiTarget } from "./apiClient.js";
import { CommandError } from "./errors.js";

export type Transfer = z.infer<typeof TransferBody>;
export type Rack = z.infer<typeof RackBody>;
export type Peer = z.infer<typeof PeerBody>;
export type TransferListItem = z.infer<typeof TransferListBody>["items"][number];
export type Registered = z.infer<typeof RegisteredBody>;
export type Archived = z.infer<typeof ArchivedBody>;
export type Resolved = z.infer<typeof ResolvedBody>;

/** Which transfers a listing holds. */
export type ListState = "active" | "archived" | "seen";

/** Which peers a peer listing holds. */
export type PeerList = "peers" | "seeders" | "leechers" | "representatives" | "origins";

/** The largest page the API serves; fewer round trips for long listings. */
const PAGE_LIMIT = 1000;

function expectObject<T>(json: unknown, field: string, what: string, target: ApiTarget): T {
  if (typeof json !== "object" || json === null || !(field in json)) {
    throw new CommandError(`${target.url} answered with something that is not ${what}: is it a p2ptracker?`);
  }
  return json as T;
}

/** A transfer's state (per rack with `racks`); `timeoutMs` bounds the request. */
export async function getTransfer(
  target: ApiTarget,
  infoHashHex: string,
  racks: boolean,
  timeoutMs?: number,
): Promise<Transfer> {
  const path = `/transfers/${infoHashHex}${racks ? "?racks=1" : ""}`;
  const { json } = await apiRequest(target, "GET", path, undefined, timeoutMs);
  return expectObject<Transfer>(json, "completed", "a transfer", target);
}

/** Every row of a paginated listing at `path`, following next_cursor until it is null. */
async function allPages<T>(target: ApiTarget, path: string): Promise<T[]> {
  const items: T[] = [];
  const cursors = new Set<string>();
  let cursor: string | null = null;
  do {
    const separator = path.includes("?") ? "&" : "?";
    const page = `${path}${separator}limit=${PAGE_LIMIT}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
    const { json } = await apiRequest(target, "GET", page);
    const body = expectObject<{ items: T[]; next_cursor: string | null }>(json, "items", "a listing", target);
    items.push(...body.items);
    cursor = body.next_cursor;
    if (cursor !== null && cursors.has(cursor)) throw new CommandError(`GET ${path}: the listing's cursor loops`);
    if (cursor !== null) cursors.add(cursor);
  } while (cursor !== null);
  return items;
}

/** Every transfer of a listing, newest first, each once (rows can shift while pages are read). */
export async function listAllTransfers(target: ApiTarget, state: ListState): Promise<TransferListItem[]> {
  const items = await allPages<TransferListItem>(target, `/transfers?state=${state}`);
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = `${item.archive ?? ""}:${item.info_hash}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Every peer of a transfer's list, each once (a Redis scan may return a peer twice). */
export async function listAllPeers(target: ApiTarget, infoHashHex: string, list: PeerList): Promise<Peer[]> {
  const items = await allPages<Peer>(target, `/transfers/${infoHashHex}/${list}`);
  const byAddress = new Map(items.map((peer) => [peer.address, peer]));
  return [...byAddress.values()];
}

/**
 * Whether a failed request may succeed if tried again: the tracker out of reach or slow,
 * its storage unavailable, a proxy in front of it failing. A refusal (4xx) is final.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof ApiError) return error.status >= 500;
  if (error instanceof CommandError) return true;
  // A deadline that strikes while the body is read surfaces as the abort itself.
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === "TimeoutError" || name === "AbortError";
}
