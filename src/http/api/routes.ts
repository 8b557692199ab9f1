/**
 * The operators' API under /api/v1: register, inspect, list and archive transfers, fetch
 * their .torrent files, ask how an address resolves to a rack. JSON in and out (but the
 * .torrent bytes), errors as {"error": "..."}; every replica serves it, statelessly.
 */

import { createRoute, OpenAPIHono, type z } from "@hono/zod-openapi";
import type { ServerResponse } from "node:http";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Config } from "../../config/config.js";
import { log } from "../../log.js";
import { parseIp, formatIp } from "../../net/ip.js";
import type { RackChain } from "../../racks/chain.js";
import type { TrackerRedis } from "../../store/redis.js";
import { archiveTransfer, forgetExpiredArchives, registerTransfer, type TransferStore } from "../../store/transfers.js";
import {
  listTransfers,
  parseListCursor,
  locateTransfer,
  peerPage,
  transferView,
  type TransferLocation,
} from "../../store/transferViews.js";
import type { Registration } from "../../store/scripts.js";
import { readTorrent, TorrentError } from "../../wire/torrentFile.js";
import { requireToken } from "./auth.js";
import { ApiError } from "./errors.js";
import { isStorageError } from "../../store/storageErrors.js";
import {
  ArchivedBody,
  ErrorBody,
  InfoHashParam,
  ListQuery,
  PeerListBody,
  PeerListParam,
  PeerListQuery,
  RegisterQuery,
  RegisteredBody,
  ResolvedBody,
  ResolveQuery,
  TorrentFileParam,
  TransferBody,
  TransferListBody,
  TransferQuery,
} from "./schemas.js";

/** What the API needs: settings, its own Redis connection, the rack chain, the admin token. */
export interface ApiDeps {
  readonly config: Config;
  readonly redis: TrackerRedis;
  readonly racks: RackChain;
  readonly token: string | undefined;
}

/** Where the API lives, and the path of its OpenAPI document. */
export const API_BASE = "/api/v1";
export const OPENAPI_PATH = `${API_BASE}/openapi.json`;

const DEFAULT_PAGE = 100;

const json = (schema: z.ZodType, description: string) => ({
  content: { "application/json": { schema } },
  description,
});
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, json(ErrorBody, ERROR_TEXT[status] ?? "error")]));
const ERROR_TEXT: Record<number, string> = {
  400: "bad input",
  401: "no or wrong token",
  403: "no token configured on the tracker",
  404: "unknown transfer",
  409: "conflict",
  413: "too large",
  503: "storage unavailable",
};
const secured = [{ bearer: [] }];

/** Builds the API app. Reads are open unless ADMIN_READS_NEED_TOKEN; changes need the token. */
export function createApi({ config, redis, racks, token }: ApiDeps): OpenAPIHono {
  const api = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issue = result.error.issues[0]!;
        const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
        return c.json({ error: `${where}${issue.message}` }, 400);
      }
      return undefined;
    },
  });
  const store = redis as unknown as TransferStore;
  const auth = requireToken(token);
  const readAuth = config.ADMIN_READS_NEED_TOKEN ? auth : undefined;

  api.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  api.use(`${API_BASE}/*`, async (c, next) => {
    if (c.req.path === OPENAPI_PATH) return next();
    const mutating = c.req.method !== "GET" && c.req.method !== "HEAD";
    if (mutating) return auth(c, next);
    return readAuth ? readAuth(c, next) : next();
  });

  const locate = async (infoHashHex: string, archive?: string): Promise<TransferLocation> => {
    const location = await locateTransfer(redis, infoHashHex, archive);
    if (!location) {
      throw new ApiError(
        404,
        archive === undefined
          ? `no transfer ${infoHashHex}: register it with POST ${API_BASE}/torrents or ${API_BASE}/transfers/${infoHashHex}`
          : `no archive ${archive} of transfer ${infoHashHex}`,
      );
    }
    return location;
  };
  const view = async (infoHashHex: string, withRacks = false) =>
    transferView(redis, await locate(infoHashHex), config.PEER_TTL, withRacks);

  const register = async (infoHashHex: string, registration: Registration) => {
    const result = await registerTransfer(store, infoHashHex, registration);
    if (result.status === "conflict") {
      throw new ApiError(409, `a different .torrent with info hash ${infoHashHex} is registered; archive it first`);
    }
    return result.status as "registered" | "torrent-added" | "unchanged";
  };

  api.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/torrents`,
      summary: "Register a transfer by uploading its .torrent",
      security: secured,
      middleware: [
        bodyLimit({
          maxSize: config.TORRENT_MAX_BYTES,
          onError: () => {
            throw new ApiError(
              413,
              `the .torrent is larger than ${config.TORRENT_MAX_BYTES} bytes (TORRENT_MAX_BYTES)`,
            );
          },
        }),
      ] as const,
      request: {
        query: RegisterQuery,
        body: {
          content: { "application/x-bittorrent": { schema: { type: "string", format: "binary" } } },
          required: true,
        },
      },
      responses: {
        201: json(RegisteredBody, "registered (or its .torrent added to a transfer registered by hash)"),
        200: json(RegisteredBody, "the same .torrent was registered already; nothing changed"),
        ...errors(400, 401, 403, 409, 413, 503),
      },
    }),
    async (c) => {
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      let torrent;
      try {
        torrent = readTorrent(bytes, config.TORRENT_MAX_BYTES);
      } catch (error) {
        if (error instanceof TorrentError) throw new ApiError(error.tooLarge ? 413 : 400, error.message);
        throw error;
      }
      const { priority } = c.req.valid("query");
      const status = await register(torrent.infoHashHex, { ...torrent.registration, ...(priority && { priority }) });
      const body = { info_hash: torrent.infoHashHex, status, transfer: await view(torrent.infoHashHex) };
      return status === "unchanged" ? c.json(body, 200) : c.json(body, 201);
    },
  );

  api.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/torrents/{file}`,
      summary: "Download a registered .torrent",
      request: { params: TorrentFileParam },
      responses: {
        200: {
          content: { "application/x-bittorrent": { schema: { type: "string", format: "binary" } } },
          description: "the .torrent as uploaded",
        },
        ...errors(400, 401, 404, 503),
      },
    }),
    async (c) => {
      const infoHashHex = c.req.valid("param").file.slice(0, 40).toUpperCase();
      const location = await locate(infoHashHex);
      const bytes = await redis.get(location.keys.torrent);
      if (bytes == null) throw new ApiError(404, `transfer ${infoHashHex} was registered by hash: it has no .torrent`);
      return c.body(new Uint8Array(bytes as Buffer), 200, {
        "Content-Type": "application/x-bittorrent",
        "Content-Disposition": `attachment; filename="${infoHashHex}.torrent"`,
      });
    },
  );

  api.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/transfers`,
      summary: "List active, archived or seen-but-unregistered transfers, newest first",
      request: { query: ListQuery },
      responses: { 200: json(TransferListBody, "a page of transfers"), ...errors(400, 401, 503) },
    }),
    async (c) => {
      const { state = "active", cursor, limit = DEFAULT_PAGE } = c.req.valid("query");
      if (state === "archived") await forgetExpiredArchives(store, config.ARCHIVE_TTL);
      const page = await listTransfers(redis, state, cursor === undefined ? undefined : parseListCursor(cursor), limit);
      return c.json({ items: page.items, total: page.total, next_cursor: page.next }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "post",
      path: `${API_BASE}/transfers/{infohash}`,
      summary: "Register (activate) a transfer by its bare info hash",
      security: secured,
      request: { params: InfoHashParam, query: RegisterQuery },
      responses: {
        201: json(RegisteredBody, "registered"),
        200: json(RegisteredBody, "already active; nothing changed"),
        ...errors(400, 401, 403, 503),
      },
    }),
    async (c) => {
      const { infohash } = c.req.valid("param");
      const { priority } = c.req.valid("query");
      const status = await register(infohash, priority ? { priority } : {});
      const body = { info_hash: infohash, status, transfer: await view(infohash) };
      return status === "registered" ? c.json(body, 201) : c.json(body, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/transfers/{infohash}`,
      summary: "A transfer's state, counters and progress (per rack with racks=1)",
      request: { params: InfoHashParam, query: TransferQuery },
      responses: { 200: json(TransferBody, "the transfer"), ...errors(400, 401, 404, 503) },
    }),
    async (c) => {
      const { infohash } = c.req.valid("param");
      const { racks: withRacks = false, archive } = c.req.valid("query");
      const location = await locate(infohash, archive);
      return c.json(await transferView(redis, location, config.PEER_TTL, withRacks), 200);
    },
  );

  api.openapi(
    createRoute({
      method: "delete",
      path: `${API_BASE}/transfers/{infohash}`,
      summary: "Deactivate a transfer and archive it (keys renamed, kept for ARCHIVE_TTL)",
      security: secured,
      request: { params: InfoHashParam },
      responses: { 200: json(ArchivedBody, "archived"), ...errors(400, 401, 403, 404, 409, 503) },
    }),
    async (c) => {
      const { infohash } = c.req.valid("param");
      const result = await archiveTransfer(store, infohash, config.ARCHIVE_TTL);
      if (result.status !== "archived") {
        throw result.status === "unknown"
          ? new ApiError(404, `no active transfer ${infohash}`)
          : new ApiError(409, `transfer ${infohash} was archived less than a second ago; try again`);
      }
      const { stamp, peers, deregistered } = result;
      return c.json({ info_hash: infohash, archive: stamp, peers, deregistered }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/transfers/{infohash}/{list}`,
      summary: "A transfer's peers (or seeders, leechers, representatives, origins, racks), paginated",
      request: { params: PeerListParam, query: PeerListQuery },
      responses: { 200: json(PeerListBody, "a page; follow next_cursor until null"), ...errors(400, 401, 404, 503) },
    }),
    async (c) => {
      const { infohash, list } = c.req.valid("param");
      const { cursor, limit = DEFAULT_PAGE, archive } = c.req.valid("query");
      const location = await locate(infohash, archive);
      if (list === "racks") {
        const racks = (await transferView(redis, location, config.PEER_TTL, true)).racks ?? [];
        const offset = Number(cursor ?? 0);
        const next = offset + limit < racks.length ? String(offset + limit) : null;
        return c.json({ items: racks.slice(offset, offset + limit), next_cursor: next }, 200);
      }
      const page = await peerPage(redis, location, list, config.PEER_TTL, cursor ?? "0", limit);
      return c.json({ items: page.items, next_cursor: page.next }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: "get",
      path: `${API_BASE}/racks/resolve`,
      summary: "Which rack resolver answers for an address, and with what location",
      request: { query: ResolveQuery },
      responses: { 200: json(ResolvedBody, "the location"), ...errors(400, 401, 503) },
    }),
    async (c) => {
      const bytes = parseIp(c.req.valid("query").ip);
      if (bytes === undefined) throw new ApiError(400, "ip: expected an IPv4 or IPv6 address");
      const ip = formatIp(bytes);
      return c.json({ ip, ...(await racks.explain(ip)) }, 200);
    },
  );

  api.doc31(OPENAPI_PATH, {
    openapi: "3.1.0",
    info: {
      title: "p2ptracker operators' API",
      version: "1",
      description: "Register, watch and archive transfers. Changes need Authorization: Bearer <ADMIN_TOKEN>.",
    },
  });

  api.notFound((c) => c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}` }, 404));
  api.onError((error, c) => apiFailure(c, error));
  return api;
}

function closeAfterResponse(c: Context): void {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (outgoing) outgoing.shouldKeepAlive = false;
}

/** The JSON answer for an error: its own status for ApiError, 503 for storage, else 500. */
export function apiFailure(c: Context, error: unknown) {
  if (error instanceof ApiError) {
    for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
    // The rest of a refused body stays unread: that connection cannot carry another request.
    if (error.status === 413) closeAfterResponse(c);
    return c.json({ error: error.message }, error.status);
  }
  if (isStorageError(error)) return c.json({ error: "tracker storage unavailable, retry later" }, 503);
  log.error(`${c.req.method} ${c.req.path}: ${(error as Error)?.message ?? String(error)}`);
  return c.json({ error: "internal server error" }, 500);
}
