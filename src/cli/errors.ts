/** Exit codes every `p2ptracker` command keeps: scripts branch on them. */
export const EXIT = { ok: 0, failed: 1, usage: 2, timeout: 124 } as const;

/** A wrong command line: printed with the usage (the command's own when given), exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}

/** An operation that could not be done (unreachable tracker, refused request): exit code 1 unless given. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}
