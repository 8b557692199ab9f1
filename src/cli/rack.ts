/** `p2ptracker rack resolve <IP>`: which rack resolver answers for an address, and with what. */

import { parseIp } from "../net/ip.js";
import { apiRequest } from "./apiClient.js";
import { UsageError } from "./errors.js";
import { parseCommandLine, SHARED_OPTIONS_HELP, takePositionals } from "./options.js";
import type { Resolved } from "./transferApi.js";
import { resolvedLines } from "./transferView.js";

/** The help of `rack`. */
export const RACK_USAGE = `usage: p2ptracker rack resolve <IP> [--tracker URL] [--json]

Asks the tracker which rack resolver (static RACK_MAP, http, module, or the subnet
fallback) answers for an IPv4 or IPv6 address, and with what location, as an announce
from that address would be resolved.

options:
${SHARED_OPTIONS_HELP}
`;

/** Runs `rack <command> ...`. */
export async function rackCommand(args: readonly string[]): Promise<void> {
  const [name, ...rest] = args;
  if (name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(RACK_USAGE);
    return;
  }
  if (name !== "resolve") {
    throw new UsageError(name === undefined ? "rack needs a command" : `unknown rack command "${name}"`, RACK_USAGE);
  }
  const line = parseCommandLine(rest, {}, RACK_USAGE);
  if (line.help) {
    process.stdout.write(RACK_USAGE);
    return;
  }
  const [ip] = takePositionals(line, "rack resolve", ["an IP address"]);
  if (parseIp(ip!) === undefined) throw new UsageError(`"${ip}" is not an IPv4 or IPv6 address`, RACK_USAGE);
  const { json } = await apiRequest(line.target, "GET", `/racks/resolve?ip=${encodeURIComponent(ip!)}`);
  if (line.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else process.stdout.write(`${resolvedLines(json as Resolved).join("\n")}\n`);
}
