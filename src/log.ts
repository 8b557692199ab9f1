/** Minimal leveled logger to stderr; debug lines only when DEBUG is on. */
export const log = {
  debugEnabled: false,
  debug(message: string): void {
    if (this.debugEnabled) process.stderr.write(`${new Date().toISOString()} debug ${message}\n`);
  },
  info(message: string): void {
    process.stderr.write(`${new Date().toISOString()} info ${message}\n`);
  },
  warn(message: string): void {
    process.stderr.write(`${new Date().toISOString()} warn ${message}\n`);
  },
  error(message: string): void {
    process.stderr.write(`${new Date().toISOString()} error ${message}\n`);
  },
};
