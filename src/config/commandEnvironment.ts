/**
 * The environment of the operators' commands (`transfer`, `rack`): which tracker they talk
 * to and the token they show it. These are not tracker settings, and `serve` ignores them,
 * so an operator's shell can set them and still start a tracker.
 */

/** The names after the P2PTRACKER_ prefix. */
export const COMMAND_ENV_KEYS = ["URL", "TOKEN"] as const;

/** What the environment says about the tracker to talk to. */
export interface CommandEnvironment {
  /** P2PTRACKER_URL: the tracker's base URL. */
  readonly url: string | undefined;
  /** P2PTRACKER_TOKEN: the admin token for changes. */
  readonly token: string | undefined;
}

/** P2PTRACKER_URL and P2PTRACKER_TOKEN; an empty value counts as unset. */
export function readCommandEnvironment(env: NodeJS.ProcessEnv = process.env): CommandEnvironment {
  const value = (name: string) => (env[`P2PTRACKER_${name}`] ? env[`P2PTRACKER_${name}`] : undefined);
  return { url: value("URL"), token: value("TOKEN") };
}
