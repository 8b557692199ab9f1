/**
 * The process's log: one JSON object per line on stderr (pino), with `level` as a word,
 * `time` in ISO 8601, `pid`, `hostname` and `msg`, plus the fields a call passes. Debug
 * lines only when DEBUG is on. Written synchronously to process.stderr, so lines keep their
 * order with the process's other stderr output and none is lost at exit.
 */

import { pino } from "pino";

/** Extra fields of one line; values must be JSON-friendly. */
export type LogFields = Record<string, unknown>;

const logger = pino(
  {
    level: "info",
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  process.stderr,
);

/** The logger the code calls: a message, and fields when there is more to say. */
export const log = {
  get debugEnabled(): boolean {
    return logger.isLevelEnabled("debug");
  },
  set debugEnabled(on: boolean) {
    logger.level = on ? "debug" : "info";
  },
  debug(message: string, fields?: LogFields): void {
    if (logger.isLevelEnabled("debug")) logger.debug(fields ?? {}, message);
  },
  info(message: string, fields?: LogFields): void {
    logger.info(fields ?? {}, message);
  },
  warn(message: string, fields?: LogFields): void {
    logger.warn(fields ?? {}, message);
  },
  error(message: string, fields?: LogFields): void {
    logger.error(fields ?? {}, message);
  },
};
