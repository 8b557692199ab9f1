/** Exit codes every `p2ptracker` command keeps: scripts branch on them. */
export const EXIT = { ok: 0, failed: 1, usage: 2, timeout: 124 } as const;

/** A wrong command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** An operation that could not be done (unreachable tracker, refused request): exit code 1. */
export class CommandError extends Error {}
