import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { MiddlewareHandler } from "hono";
import { ConfigError, type Config } from "../../config/config.js";
import { ApiError } from "./errors.js";

/**
 * The admin token: ADMIN_TOKEN, or the first line of ADMIN_TOKEN_FILE (a secret mount).
 * Read once at startup; undefined when neither is set (changes are then refused).
 */
export function loadAdminToken(config: Config): string | undefined {
  if (config.ADMIN_TOKEN !== undefined && config.ADMIN_TOKEN_FILE !== undefined) {
    throw new ConfigError("ADMIN_TOKEN and ADMIN_TOKEN_FILE are both set: keep one");
  }
  if (config.ADMIN_TOKEN_FILE === undefined) return config.ADMIN_TOKEN;
  let text: string;
  try {
    text = readFileSync(config.ADMIN_TOKEN_FILE, "utf8");
  } catch (error) {
    throw new ConfigError(`ADMIN_TOKEN_FILE = "${config.ADMIN_TOKEN_FILE}": ${(error as Error).message}`);
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (token.length < 16) {
    throw new ConfigError(
      `ADMIN_TOKEN_FILE = "${config.ADMIN_TOKEN_FILE}": expected a token of at least 16 characters`,
    );
  }
  return token;
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Query parameters a token must never travel in: URLs end up in logs. */
const TOKEN_PARAMS = ["token", "access_token", "auth", "authorization"];

/**
 * Requires `Authorization: Bearer <token>`, compared in constant time (both sides hashed to
 * the same length first). With no token configured every request is refused with 403,
 * saying how to set one.
 */
export function requireToken(token: string | undefined): MiddlewareHandler {
  const expected = token === undefined ? undefined : digest(token);
  return async (c, next) => {
    const query = new URL(c.req.url).searchParams;
    if (TOKEN_PARAMS.some((name) => query.has(name))) {
      throw new ApiError(400, "send the token in the Authorization header (Bearer), never in the URL");
    }
    if (expected === undefined) {
      throw new ApiError(
        403,
        "no admin token is configured on this tracker: set ADMIN_TOKEN (or ADMIN_TOKEN_FILE) to allow this",
      );
    }
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const challenge = { "WWW-Authenticate": 'Bearer realm="p2ptracker"' };
    if (!match) throw new ApiError(401, "this needs Authorization: Bearer <token>", challenge);
    if (!timingSafeEqual(digest(match[1]!), expected)) throw new ApiError(401, "the token is not valid", challenge);
    await next();
  };
}
