import { createClient, RESP_TYPES } from "redis";
import { SCRIPTS, type ScriptRunner } from "./scripts.js";
import { log } from "../log.js";

/** Options for connecting; the command timeout bounds every call so a dead Redis fails fast. */
export interface RedisOptions {
  readonly url: string;
  readonly commandTimeoutMs: number;
  /**
   * How long the first connection may take before connectRedis gives up (default 0: the
   * first attempt must succeed). Once connected, the client reconnects for as long as it lives.
   */
  readonly firstConnectMs?: number;
  /** False when the caller puts its own deadline on every call (default true). */
  readonly perCommandTimeout?: boolean;
  /** What the connection tells about itself (metrics). */
  readonly events?: RedisEvents;
}

/** Events of a connection worth counting. */
export interface RedisEvents {
  /** The connection is back after it was lost. */
  reconnected?(): void;
  /** Redis had lost a script (NOSCRIPT) and the client sent it again in full. */
  scriptReloaded?(): void;
}

/** A connected client whose string replies come back as Buffers (peer lists are raw bytes). */
export type TrackerRedis = Awaited<ReturnType<typeof connectRedis>>;

/**
 * Connects to Redis. Commands fail at once while disconnected (no offline queue) and after
 * `commandTimeoutMs` otherwise; the client keeps reconnecting in the background, so the
 * tracker recovers without a restart when Redis comes back. Rejects when no first
 * connection is made within `firstConnectMs`.
 */
export async function connectRedis(options: RedisOptions) {
  const started = Date.now();
  let connected = false;
  const client = createClient({
    url: options.url,
    scripts: SCRIPTS,
    disableOfflineQueue: true,
    // The tracker bounds its calls itself (deadline.ts): a per-command AbortSignal costs
    // more than the rest of the client's work on an announce.
    commandOptions: { timeout: options.perCommandTimeout === false ? 0 : options.commandTimeoutMs },
    socket: {
      connectTimeout: options.commandTimeoutMs,
      reconnectStrategy: (retries: number, cause: Error) => {
        if (!connected && Date.now() - started >= (options.firstConnectMs ?? 0)) {
          return new Error(`cannot reach Redis at ${options.url}: ${cause.message}`);
        }
        return Math.min(50 * 2 ** retries, 1000);
      },
    },
  });
  let down = false;
  client.on("error", (error: Error) => {
    if (!down) log.warn(`redis ${options.url}: ${error.message}`);
    down = true;
  });
  client.on("ready", () => {
    if (connected) options.events?.reconnected?.();
    connected = true;
    if (down) log.info(`redis ${options.url}: connected again`);
    down = false;
  });
  const scriptReloaded = options.events?.scriptReloaded;
  if (scriptReloaded) countEvalFallbacks(client, scriptReloaded);
  await client.connect();
  return client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
}

type SendCommand = (args: ReadonlyArray<unknown>, options?: unknown) => Promise<unknown>;

/**
 * node-redis answers NOSCRIPT by sending the script again with EVAL (client
 * `_executeScript`), and the tracker sends EVAL no other way, so each EVAL the client sends
 * is one such reload. Every command passes `sendCommand` of the client's shared base
 * object, which its type-mapped views inherit. A test checks that the count still moves
 * with the node-redis in use.
 */
function countEvalFallbacks(client: object, reloaded: () => void): void {
  const base = (client as { _self?: { sendCommand?: SendCommand } })._self;
  const send = base?.sendCommand;
  if (!base || !send) {
    log.warn("redis: this node-redis has no sendCommand to count NOSCRIPT reloads by");
    return;
  }
  base.sendCommand = function (this: unknown, args, options) {
    if (args[0] === "EVAL") reloaded();
    return send.call(this, args, options);
  };
}

/** Loads every script and checks its SHA, so a Lua syntax error stops boot, not an announce. */
export async function loadScripts(redis: TrackerRedis): Promise<void> {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    const sha = (await redis.scriptLoad(script.SCRIPT)).toString();
    if (sha !== script.SHA1) throw new Error(`script ${name}: Redis returned SHA ${sha}, expected ${script.SHA1}`);
  }
}

/** The client as the scripts' typed runner. */
export function scriptRunner(redis: TrackerRedis): ScriptRunner {
  return redis as unknown as ScriptRunner;
}
