/** The API's request and response shapes: validation and the OpenAPI document in one. */

import { z } from "@hono/zod-openapi";
import { PRIORITIES } from "../../store/scripts.js";

export const InfoHashParam = z.object({
  infohash: z
    .string()
    .regex(/^[0-9a-fA-F]{40}$/, "expected an info hash of 40 hex digits")
    .transform((v) => v.toUpperCase())
    .openapi({ param: { name: "infohash", in: "path" }, example: "5F2C0B6E4D3A29180F7E6D5C4B3A291807F6E5D4" }),
});

export const TorrentFileParam = z.object({
  file: z
    .string()
    .regex(/^[0-9a-fA-F]{40}\.torrent$/, "expected <infohash>.torrent")
    .openapi({ param: { name: "file", in: "path" }, example: "5F2C0B6E4D3A29180F7E6D5C4B3A291807F6E5D4.torrent" }),
});

const Stamp = z
  .string()
  .regex(/^\d{8}T\d{6}Z$/, "expected an archive stamp such as 20261128T053000Z")
  .openapi({ example: "20261128T053000Z" });

const pageLimit = z
  .string()
  .regex(/^\d+$/, "expected a number from 1 to 1000")
  .transform(Number)
  .refine((n) => n >= 1 && n <= 1000, "expected a number from 1 to 1000")
  .optional()
  .openapi({ description: "rows per page, 1-1000 (default 100)" });

const flag = z
  .enum(["0", "1", "true", "false"], { message: "expected 1 or 0" })
  .transform((v) => v === "1" || v === "true")
  .optional();

export const ListQuery = z.object({
  state: z.enum(["active", "archived", "seen"]).optional().openapi({ description: "which transfers (default active)" }),
  cursor: z
    .string()
    .regex(/^\d{1,15}:[0-9A-Za-z:]{1,80}$/, "expected the next_cursor of an earlier page")
    .optional(),
  limit: pageLimit,
});

export const TransferQuery = z.object({
  racks: flag.openapi({ description: "1: add per-rack detail" }),
  archive: Stamp.optional().openapi({ description: "an archive of the transfer (default: live, else latest archive)" }),
});

export const PeerListParam = InfoHashParam.extend({
  list: z
    .enum(["peers", "seeders", "leechers", "representatives", "origins", "racks"])
    .openapi({ param: { name: "list", in: "path" } }),
});

export const PeerListQuery = z.object({
  // A Redis SCAN cursor (64 bits), or an offset into the racks.
  cursor: z
    .string()
    .regex(/^\d{1,19}$/, "expected the next_cursor of an earlier page")
    .optional(),
  limit: pageLimit,
  archive: Stamp.optional(),
});

export const RegisterQuery = z.object({
  priority: z.enum(PRIORITIES).optional().openapi({
    description:
      "who gets a rack's uplink slot first when transfers compete (README: rack uplink budget); absent: an active transfer keeps its priority, a new one is normal",
  }),
});

export const ResolveQuery = z.object({ ip: z.string().openapi({ example: "10.1.1.11" }) });

export const ErrorBody = z.object({ error: z.string() }).openapi("Error");

const time = z.number().int().nullable().openapi({ description: "Unix seconds" });

export const RackBody = z
  .object({
    rack: z.string(),
    peers: z.number().int(),
    seeders: z.number().int(),
    leechers: z.number().int(),
    representatives: z.array(z.string()).openapi({ description: "ip:port of the rack's live representatives" }),
    waiting_since: time.openapi({
      description: "while the transfer waits for one of the rack's uplink slots: since when (Unix s); else null",
    }),
    progress: z.number().nullable().openapi({ description: "mean progress of the rack's hosts, 0-1" }),
    done: z.number().int().openapi({ description: "hosts of the rack that completed" }),
  })
  .openapi("Rack");

export const TransferBody = z
  .object({
    info_hash: z.string(),
    active: z.boolean(),
    archive: z.string().nullable(),
    name: z.string().nullable(),
    size: z.number().int().nullable(),
    piece_length: z.number().int().nullable(),
    files: z.number().int().nullable(),
    torrent: z.boolean().openapi({ description: "whether the .torrent is stored" }),
    registered: time,
    deregistered: time,
    peers: z.number().int(),
    seeders: z.number().int(),
    leechers: z.number().int(),
    origins: z.number().int(),
    completed: z.number().int(),
    first_started: time,
    last_started: time,
    first_completed: time,
    last_completed: time,
    progress: z.number().nullable(),
    priority: z.enum(PRIORITIES),
    racks: z.array(RackBody).optional(),
  })
  .openapi("Transfer");

export const RegisteredBody = z
  .object({
    info_hash: z.string(),
    status: z.enum(["registered", "torrent-added", "unchanged"]),
    transfer: TransferBody,
  })
  .openapi("Registered");

export const ArchivedBody = z
  .object({ info_hash: z.string(), archive: z.string(), peers: z.number().int(), deregistered: z.number().int() })
  .openapi("Archived");

export const TransferListBody = z
  .object({
    items: z.array(
      z.object({
        info_hash: z.string(),
        archive: z.string().optional(),
        name: z.string().nullable().optional(),
        size: z.number().int().nullable().optional(),
        registered: time.optional(),
        deregistered: time.optional(),
        seeders: z.number().int().optional(),
        leechers: z.number().int().optional(),
        completed: z.number().int().optional(),
        last_seen: z.number().int().optional(),
      }),
    ),
    total: z.number().int(),
    next_cursor: z.string().nullable(),
  })
  .openapi("TransferList");

export const PeerBody = z
  .object({
    address: z.string(),
    ip: z.string(),
    port: z.number().int(),
    rack: z.string(),
    role: z.enum(["origin", "representative", "member"]),
    state: z.enum(["leecher", "seeder", "origin"]),
    left: z.number(),
    uploaded: z.number(),
    downloaded: z.number(),
    last_event: z.enum(["started", "completed", "paused", "none"]),
    last_event_time: z.number().int(),
    last_seen: time,
    live: z.boolean(),
  })
  .openapi("Peer");

export const PeerListBody = z
  .object({
    items: z.array(z.union([PeerBody, RackBody])),
    next_cursor: z.string().nullable().openapi({ description: "pass as cursor for the next page; null at the end" }),
  })
  .openapi("PeerList");

export const ResolvedBody = z
  .object({ ip: z.string(), location: z.string(), resolver: z.string() })
  .openapi("Resolved");
