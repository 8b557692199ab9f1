import { rackBudgetKeys, transferKeys } from "./keys.js";
import { splitCompact } from "../wire/bittorrent.js";
import { formatIp } from "../net/ip.js";
import {
  runAnnounce,
  runLease,
  type AnnouncePolicy,
  type AnnounceRequest,
  type AnnounceResult,
  type LeaseAsk,
  type LeasePolicy,
  type LeaseResult,
  type ScriptRunner,
} from "./scripts.js";

export interface BudgetedAnnounce {
  readonly result: AnnounceResult;
  /** The rack's verdict, when the announce had to ask (claim, renewal, release). */
  readonly lease?: LeaseResult;
}

/**
 * Runs one announce through the rack's uplink budget. The transfer's script (its own slot)
 * says what it needs from the rack; the rack's lease script (the rack's slot) decides; a
 * second call of the transfer's script applies a grant or a revocation. Members' periodic
 * announces, the common case, take the first call only. The two slots never meet in one
 * script, so a Redis Cluster may hold them on different masters: the fencing in the
 * scripts keeps a late or repeated call from undoing a newer lease.
 */
export async function announceWithBudget(
  redis: Pick<ScriptRunner, "announce" | "lease">,
  infoHashHex: string,
  request: AnnounceRequest,
  policy: AnnouncePolicy & LeasePolicy,
  seed?: number,
): Promise<BudgetedAnnounce> {
  const keys = transferKeys(infoHashHex);
  const first = await runAnnounce(redis, keys, request, policy, seed);
  if (!first.active || first.leaseAsk === "") return { result: first };
  const ask = (action: Exclude<LeaseAsk, "">, transferReps: number) =>
    runLease(
      redis,
      rackBudgetKeys(request.rack),
      {
        action,
        // One lease per host, whatever port its client listens on.
        host: formatIp(splitCompact(request.address).ip),
        infoHashHex: infoHashHex.toUpperCase(),
        priority: first.priority,
        seeding: request.left === 0n || request.event === "completed",
        transferReps,
        token: first.leaseToken,
      },
      policy,
    );
  const lease = await ask(first.leaseAsk, first.rackReps);
  if (lease.verdict === "granted") {
    const grant = { slot: lease.slot, token: lease.token, expiresAt: lease.expiresAt };
    const second = await runAnnounce(redis, keys, request, policy, seed, grant);
    // Concurrent first announces may all see a free place and claim; the transfer elects
    // only as many as it has places. A grant it did not use goes back at once, or it would
    // keep a slot of the rack from other transfers until the lease expires.
    if (second.role !== "rep") await ask("release", second.rackReps);
    // The first call's prunes saw the silent representative whose slot this one takes.
    return { result: { ...second, failover: second.elected && (second.failover || first.failover) }, lease };
  }
  if (lease.verdict === "revoked") {
    return { result: await runAnnounce(redis, keys, request, policy, seed, "none"), lease };
  }
  return { result: first, lease };
}
