import { CommandError } from "./errors.js";

/** Where the CLI finds the tracker's API and how it proves it may change things. */
export interface ApiTarget {
  /** Base URL of a tracker, e.g. http://tracker.example:6969 (the API is under /api/v1). */
  readonly url: string;
  /** Bearer token for mutating requests (P2PTRACKER_TOKEN or --token). */
  readonly token: string | undefined;
}

/** Default --tracker when neither the flag nor P2PTRACKER_URL is set. */
export const DEFAULT_TRACKER_URL = "http://127.0.0.1:6969";

/** How long one API request may take before the CLI gives up on it. */
const REQUEST_TIMEOUT_MS = 30_000;

/** An answer of the API that is not a success: its status and its `error` text. */
export class ApiError extends CommandError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A request to the tracker's API under /api/v1; bodies are JSON or raw bytes. */
export async function apiRequest(
  target: ApiTarget,
  method: "GET" | "POST" | "DELETE",
  path: string,
  body?: Uint8Array,
  timeoutMs: number = REQUEST_TIMEOUT_MS,
): Promise<{ status: number; json: unknown; bytes: Uint8Array }> {
  const url = `${target.url.replace(/\/+$/, "")}/api/v1${path}`;
  const headers: Record<string, string> = {};
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  if (body !== undefined) headers["content-type"] = "application/x-bittorrent";
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: (body ?? null) as BodyInit | null,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    throw new CommandError(`cannot reach the tracker at ${target.url}: ${cause}`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const isJson = (response.headers.get("content-type") ?? "").includes("json");
  let json: unknown;
  if (isJson) {
    try {
      json = JSON.parse(Buffer.from(bytes).toString("utf8"));
    } catch {
      json = undefined;
    }
  }
  if (!response.ok) {
    const reason = (json as { error?: unknown } | undefined)?.error;
    const text = typeof reason === "string" ? reason : `HTTP ${response.status} ${response.statusText}`;
    throw new ApiError(response.status, `${method} ${path}: ${text}`);
  }
  return { status: response.status, json, bytes };
}

/** Uploads a .torrent; resolves to the API's answer (201 registered, 200 already there). */
export async function registerTorrent(
  target: ApiTarget,
  torrent: Uint8Array,
  query = "",
): Promise<{ status: number; transfer: Record<string, unknown> }> {
  const { status, json } = await apiRequest(target, "POST", `/torrents${query}`, torrent);
  return { status, transfer: json as Record<string, unknown> };
}
