import { isIP } from "node:net";
import { z } from "zod";
import { parseCidr } from "../net/ip.js";
import { log } from "../log.js";
import { COMMAND_ENV_KEYS } from "./commandEnvironment.js";
import { ConfigError, flagName, readConfigFile, readEnvironment, readFlags, type RawSettings } from "./sources.js";

export { ConfigError } from "./sources.js";

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ["1", "0", "true", "false", "yes", "no", "on", "off"].includes(v), "expected true or false")
  .transform((v) => ["1", "true", "yes", "on"].includes(v));

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `expected an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `expected an integer from ${min} to ${max}`);

const text = z.string().trim();
const optionalText = text.transform((v) => (v === "" ? undefined : v));

const url = text.refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}, "expected an http:// or https:// URL");

function isRedisUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === "redis:" || u.protocol === "rediss:") && u.hostname !== "";
  } catch {
    return false;
  }
}

const cidrList = text.transform((v, ctx) => {
  const items = v.split(/[\s,]+/).filter(Boolean);
  const bad = items.find((item) => parseCidr(item) === undefined);
  if (bad !== undefined)
    ctx.addIssue({ code: "custom", message: `expected CIDR blocks separated by commas ("${bad}" is not one)` });
  return items;
});

/** host:port[,host:port...] (IPv6 in brackets), as REDIS_SENTINELS and REDIS_CLUSTER take them. */
const nodeList = text.transform((v, ctx) => {
  const items = v.split(/[\s,]+/).filter(Boolean);
  const nodes = items.map((item) => parseListenAddress(item));
  const bad = items.find((_, i) => nodes[i] === undefined || nodes[i]!.port === 0);
  if (bad !== undefined) {
    ctx.addIssue({
      code: "custom",
      message: `expected host:port items separated by commas, e.g. 10.0.0.1:7000,10.0.0.2:7000 ("${bad}" is not one)`,
    });
  }
  return nodes.length === 0 ? undefined : (nodes as Array<{ host: string; port: number }>);
});

/** IP literals separated by commas (UDP_HOSTS): each gets a socket of its own family. */
const addressList = text.transform((v, ctx) => {
  const items = v.split(/[\s,]+/).filter(Boolean);
  const bad = items.find((item) => !isIP(item));
  if (bad !== undefined)
    ctx.addIssue({
      code: "custom",
      message: `expected IP addresses separated by commas, e.g. 0.0.0.0,:: ("${bad}" is not one)`,
    });
  return items;
});

const RESOLVERS = ["static", "http", "module"] as const;
const resolverList = text.transform((v, ctx) => {
  const items = v.split(/[\s,]+/).filter(Boolean);
  const bad = items.find((item) => !(RESOLVERS as readonly string[]).includes(item));
  if (bad !== undefined)
    ctx.addIssue({ code: "custom", message: `expected a list of ${RESOLVERS.join(", ")} ("${bad}" is not one)` });
  return items as Array<(typeof RESOLVERS)[number]>;
});

/** Every setting: its parser and its default (as the text a user would write). */
const SETTINGS = {
  HOST: { schema: text.min(1, "expected an address to listen on"), default: "0.0.0.0" },
  PORT: { schema: int(1, 65535), default: "6969" },
  UDP_PORT: { schema: optionalText.pipe(z.union([z.undefined(), int(0, 65535)])), default: "" },
  UDP_HOSTS: { schema: addressList, default: "" },
  UDP_LINGER_MS: { schema: int(0, 100), default: "5" },
  UDP_SECRET: {
    schema: optionalText.refine((v) => v === undefined || v.length >= 16, "expected at least 16 characters"),
    default: "",
  },
  REDISHOST: { schema: optionalText, default: "" },
  REDISPORT: { schema: int(1, 65535), default: "6379" },
  REDIS_URL: {
    schema: optionalText.refine((v) => v === undefined || isRedisUrl(v), "expected redis://host:port"),
    default: "",
  },
  REDIS_SENTINELS: { schema: nodeList, default: "" },
  REDIS_SENTINEL_NAME: {
    schema: text.min(1, "expected the name the sentinels monitor the primary as"),
    default: "mymaster",
  },
  REDIS_CLUSTER: { schema: nodeList, default: "" },
  REDIS_TIMEOUT_MS: { schema: int(10, 60000), default: "1000" },
  DATA_DIR: { schema: text.min(1), default: "data" },
  SMDB_URL: { schema: z.union([z.literal("").transform(() => undefined), url]), default: "" },
  SMDB_TIMEOUT_MS: { schema: int(1, 60000), default: "500" },
  MAX_REPR_RACK: { schema: int(1, 1000), default: "2" },
  RACK_UPLINK_SLOTS: { schema: optionalText.pipe(z.union([z.undefined(), int(1, 1000)])), default: "" },
  REP_INTERVAL: { schema: optionalText.pipe(z.union([z.undefined(), int(1, 86400)])), default: "" },
  LEASE_TTL: { schema: optionalText.pipe(z.union([z.undefined(), int(2, 864000)])), default: "" },
  PRIORITY_HEAD_START: { schema: int(0, 864000), default: "300" },
  ACTIVE_INTERVAL: { schema: int(1, 86400), default: "30" },
  PASSIVE_INTERVAL: { schema: int(1, 86400), default: "600" },
  MIN_INTERVAL: { schema: optionalText.pipe(z.union([z.undefined(), int(1, 86400)])), default: "" },
  PEER_TTL: { schema: optionalText.pipe(z.union([z.undefined(), int(1, 864000)])), default: "" },
  MAXPEERS: { schema: int(1, 1000), default: "50" },
  PROXYPASS: { schema: bool, default: "false" },
  TRUSTED_PROXIES: { schema: cidrList, default: "127.0.0.0/8,::1" },
  ACCEPT_IP_PARAM: { schema: bool, default: "false" },
  RACK_AWARE: { schema: bool, default: "true" },
  AUTO_ACTIVATE: { schema: bool, default: "false" },
  FULL_SCRAPE: { schema: bool, default: "true" },
  RACK_RESOLVERS: { schema: resolverList, default: "static,http,module" },
  RACK_MAP: { schema: optionalText, default: "" },
  RACK_MODULE: { schema: optionalText, default: "" },
  SUBNET_PREFIX_V4: { schema: int(0, 32), default: "24" },
  SUBNET_PREFIX_V6: { schema: int(0, 128), default: "64" },
  RACK_CACHE_TTL: { schema: int(1, 86400), default: "300" },
  SWEEP_INTERVAL: { schema: int(1, 86400), default: "60" },
  ADMIN_TOKEN: {
    schema: optionalText.refine((v) => v === undefined || v.length >= 16, "expected at least 16 characters"),
    default: "",
  },
  ADMIN_TOKEN_FILE: { schema: optionalText, default: "" },
  ADMIN_READS_NEED_TOKEN: { schema: bool, default: "false" },
  API_LISTEN: {
    schema: optionalText.refine(
      (v) => v === undefined || parseListenAddress(v) !== undefined,
      "expected host:port, e.g. 127.0.0.1:6970 or [::1]:6970",
    ),
    default: "",
  },
  ARCHIVE_TTL: { schema: int(60, 10 * 365 * 86400), default: String(30 * 86400) },
  SEEN_MAX: { schema: int(0, 10_000_000), default: "10000" },
  TORRENT_MAX_BYTES: { schema: int(1024, 1024 * 1024 * 1024), default: String(10 * 1024 * 1024) },
  DRAIN_DELAY_MS: { schema: int(0, 600_000), default: "5000" },
  SHUTDOWN_TIMEOUT_MS: { schema: int(0, 600_000), default: "10000" },
  HEADERS_TIMEOUT_MS: { schema: int(100, 600_000), default: "10000" },
  REQUEST_TIMEOUT_MS: { schema: int(100, 3_600_000), default: "30000" },
  KEEPALIVE_TIMEOUT_MS: { schema: int(100, 3_600_000), default: "75000" },
  MAX_HEADER_BYTES: { schema: int(1024, 1024 * 1024), default: String(64 * 1024) },
  MAX_HEADERS_COUNT: { schema: int(1, 2000), default: "100" },
  MAX_CONNECTIONS: { schema: int(0, 1_000_000), default: "10000" },
  MAX_CONNECTIONS_PER_ADDRESS: { schema: int(0, 1_000_000), default: "256" },
  METRICS_NEED_TOKEN: { schema: bool, default: "false" },
  LOG_REQUESTS: { schema: bool, default: "false" },
  DEBUG: { schema: bool, default: "false" },
} as const;

/** Settings whose values never appear in a message. */
const SECRET_SETTINGS = new Set(["ADMIN_TOKEN", "UDP_SECRET"]);

/** host:port (IPv6 in brackets) as API_LISTEN takes it; undefined when it is not that. */
export function parseListenAddress(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || port < 0 || port > 65535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

type Settings = typeof SETTINGS;
type Parsed = { [K in keyof Settings]: z.output<Settings[K]["schema"]> };

/** The validated, frozen configuration. Derived values are filled in. */
export type Config = Readonly<
  Omit<Parsed, "MIN_INTERVAL" | "PEER_TTL" | "RACK_UPLINK_SLOTS" | "REP_INTERVAL" | "LEASE_TTL"> & {
    MIN_INTERVAL: number;
    PEER_TTL: number;
    RACK_UPLINK_SLOTS: number;
    REP_INTERVAL: number;
    LEASE_TTL: number;
    /** True when no Redis was configured and the tracker runs its own. */
    EMBEDDED_REDIS: boolean;
  }
>;

/** Keys that a config file may carry for the origin tracker but that mean nothing here. */
const IGNORED_FILE_KEYS = new Set(["SECRET_KEY", "TESTING", "JSONIFY_PRETTYPRINT_REGULAR"]);

/**
 * P2PTRACKER_* variables that are not settings: scripts/setup reads SETUP_APT, and
 * scripts/start runs the tracker in the same environment; the operators' commands read
 * URL and TOKEN, which an operator's shell may hold while it starts a tracker.
 */
const IGNORED_ENV_KEYS = new Set<string>(["SETUP_APT", ...COMMAND_ENV_KEYS]);

/** Builds the configuration from defaults, a config file, the environment and flags (last wins). */
export function loadConfig(args: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Config {
  const flags = readFlags(args);
  const layers: RawSettings[] = [];
  if (flags.configFile !== undefined) layers.push(readConfigFile(flags.configFile));
  layers.push(readEnvironment(env), flags.settings);
  return parseSettings(layers);
}

/** Validates layered raw settings; every problem is reported, one line each. */
export function parseSettings(layers: readonly RawSettings[]): Config {
  const problems: string[] = [];
  const merged = new Map<string, { value: string; source: string }>();
  for (const layer of layers) {
    for (const [key, setting] of layer) {
      if (setting.source.startsWith("environment") && IGNORED_ENV_KEYS.has(key)) continue;
      if (!(key in SETTINGS)) {
        if (setting.source.startsWith("flag") || setting.source.startsWith("environment")) {
          problems.push(`${setting.source}: unknown setting ${key} (known: ${Object.keys(SETTINGS).join(", ")})`);
        } else if (!IGNORED_FILE_KEYS.has(key)) {
          log.warn(`${setting.source}: ignoring unknown setting ${key}`);
        }
        continue;
      }
      merged.set(key, setting);
    }
  }
  const parsed: Record<string, unknown> = {};
  for (const [key, { schema, default: fallback }] of Object.entries(SETTINGS)) {
    const setting = merged.get(key) ?? { value: fallback, source: "default" };
    const result = (schema as z.ZodType).safeParse(setting.value);
    if (result.success) {
      parsed[key] = result.data;
    } else {
      const expected = result.error.issues.map((issue) => issue.message).join("; ");
      const shown = SECRET_SETTINGS.has(key) ? "(hidden)" : `"${setting.value}"`;
      problems.push(`${key} = ${shown} (${setting.source}): ${expected}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems.join("\n"));
  const p = parsed as Parsed;
  const minInterval = p.MIN_INTERVAL ?? Math.max(1, Math.floor(p.ACTIVE_INTERVAL / 2));
  const peerTtl = p.PEER_TTL ?? 3 * p.ACTIVE_INTERVAL;
  if (peerTtl <= p.ACTIVE_INTERVAL) {
    throw new ConfigError(
      `PEER_TTL = "${peerTtl}": expected more than ACTIVE_INTERVAL (${p.ACTIVE_INTERVAL}), or every peer would expire between announces`,
    );
  }
  const repInterval = p.REP_INTERVAL ?? Math.min(5, p.ACTIVE_INTERVAL);
  const leaseTtl = p.LEASE_TTL ?? Math.min(3 * repInterval, peerTtl);
  if (leaseTtl <= repInterval) {
    throw new ConfigError(
      `LEASE_TTL = "${leaseTtl}": expected more than REP_INTERVAL (${repInterval}), or every representative would lose its lease between announces`,
    );
  }
  if (leaseTtl > peerTtl) {
    throw new ConfigError(
      `LEASE_TTL = "${leaseTtl}": expected at most PEER_TTL (${peerTtl}): a lease must not outlive its holder's peer record`,
    );
  }
  if (p.REQUEST_TIMEOUT_MS < p.HEADERS_TIMEOUT_MS) {
    throw new ConfigError(
      `REQUEST_TIMEOUT_MS = "${p.REQUEST_TIMEOUT_MS}": expected at least HEADERS_TIMEOUT_MS (${p.HEADERS_TIMEOUT_MS}), as the headers are part of the request`,
    );
  }
  if (p.REDIS_SENTINELS !== undefined && (p.REDIS_URL !== undefined || p.REDISHOST !== undefined)) {
    throw new ConfigError(
      `REDIS_SENTINELS: set either REDIS_SENTINELS (the sentinels name the primary) or REDIS_URL/REDISHOST, not both`,
    );
  }
  if (p.REDIS_SENTINELS !== undefined && p.REDIS_CLUSTER !== undefined) {
    throw new ConfigError(
      "REDIS_SENTINELS and REDIS_CLUSTER are both set: a tracker uses either the primary the sentinels name or one cluster, unset one of them",
    );
  }
  if (p.REDIS_CLUSTER !== undefined && (p.REDIS_URL !== undefined || p.REDISHOST !== undefined)) {
    throw new ConfigError(
      `REDIS_CLUSTER and ${p.REDIS_URL !== undefined ? "REDIS_URL" : "REDISHOST"} are both set: a tracker uses either one Redis or one cluster, unset one of them`,
    );
  }
  if (p.METRICS_NEED_TOKEN && p.ADMIN_TOKEN === undefined && p.ADMIN_TOKEN_FILE === undefined) {
    throw new ConfigError(
      "METRICS_NEED_TOKEN = true: expected ADMIN_TOKEN or ADMIN_TOKEN_FILE, the token /metrics then needs",
    );
  }
  return Object.freeze({
    ...p,
    MIN_INTERVAL: minInterval,
    PEER_TTL: peerTtl,
    RACK_UPLINK_SLOTS: p.RACK_UPLINK_SLOTS ?? p.MAX_REPR_RACK,
    REP_INTERVAL: repInterval,
    LEASE_TTL: leaseTtl,
    EMBEDDED_REDIS:
      p.REDIS_URL === undefined &&
      p.REDISHOST === undefined &&
      p.REDIS_SENTINELS === undefined &&
      p.REDIS_CLUSTER === undefined,
  });
}

/** The names of all settings with their defaults, for --help and the README. */
export function describeSettings(): string[] {
  return Object.entries(SETTINGS).map(([key, s]) => {
    const fallback = DERIVED_DEFAULTS[key] ?? (s.default === "" ? "unset" : `"${s.default}"`);
    return `${key} (${flagName(key)}) default ${fallback}`;
  });
}

/** Defaults that follow from other settings, as --help and the README state them. */
const DERIVED_DEFAULTS: Record<string, string> = {
  MIN_INTERVAL: "ACTIVE_INTERVAL / 2",
  PEER_TTL: "3 x ACTIVE_INTERVAL",
  RACK_UPLINK_SLOTS: "MAX_REPR_RACK",
  REP_INTERVAL: "5, at most ACTIVE_INTERVAL",
  LEASE_TTL: "3 x REP_INTERVAL, at most PEER_TTL",
  UDP_HOSTS: "HOST",
};

/** The Redis URL the tracker and CLI use. */
export function redisUrl(config: Config): string {
  if (config.REDIS_URL !== undefined) return config.REDIS_URL;
  const host = config.REDISHOST ?? "127.0.0.1";
  return `redis://${host.includes(":") ? `[${host}]` : host}:${config.REDISPORT}`;
}
