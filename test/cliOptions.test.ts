import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_TRACKER_URL } from "../src/cli/apiClient.js";
import { UsageError } from "../src/cli/errors.js";
import { countFlag, durationFlag, oneOf, parseCommandLine, parseDuration } from "../src/cli/options.js";
import { loadConfig } from "../src/config/config.js";
import { readCommandEnvironment, type CommandEnvironment } from "../src/config/commandEnvironment.js";

const NO_ENV: CommandEnvironment = { url: undefined, token: undefined };
const parse = (args: string[], env = NO_ENV) =>
  parseCommandLine(args, { racks: { type: "boolean" }, interval: { type: "string" } }, "USAGE", env);

function usageError(run: () => unknown, message: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof UsageError, String(error));
    assert.equal(error.message, message);
    assert.equal(error.usage, "USAGE", "the command's own usage goes with the error");
    return true;
  });
}

describe("operators' command lines", () => {
  it("takes the tracker and token from flags, else the environment, else the default", () => {
    const env = { url: "http://env.example:6969", token: "from-env" };
    assert.deepEqual(parse([]).target, { url: DEFAULT_TRACKER_URL, token: undefined });
    assert.deepEqual(parse([], env).target, env);
    assert.deepEqual(parse(["--tracker", "https://flag.example", "--token=from-flag"], env).target, {
      url: "https://flag.example",
      token: "from-flag",
    });
  });

  it("reads P2PTRACKER_URL and P2PTRACKER_TOKEN, an empty one as unset", () => {
    assert.deepEqual(readCommandEnvironment({ P2PTRACKER_URL: "http://t:1", P2PTRACKER_TOKEN: "" }), {
      url: "http://t:1",
      token: undefined,
    });
  });

  it("does not let those variables break serve's settings", () => {
    const config = loadConfig([], {
      P2PTRACKER_URL: "http://t:1",
      P2PTRACKER_TOKEN: "secret",
      P2PTRACKER_PORT: "7000",
    });
    assert.equal(config.PORT, 7000);
  });

  it("takes flags anywhere, positionals in order, --json and -h", () => {
    const line = parse(["ABC", "--racks", "--json", "-h"]);
    assert.deepEqual(line.positionals, ["ABC"]);
    assert.equal(line.values.racks, true);
    assert.equal(line.json, true);
    assert.equal(line.help, true);
  });

  it("refuses unknown flags, missing values and bad URLs with a clear message", () => {
    usageError(() => parse(["--bogus"]), 'unknown option "--bogus"');
    usageError(() => parse(["-x"]), 'unknown option "-x"');
    usageError(() => parse(["--tracker"]), '"--tracker" needs a value');
    usageError(() => parse(["--json=yes"]), '"--json" takes no value');
    usageError(
      () => parse(["--tracker", "tracker:6969"]),
      '--tracker "tracker:6969": expected a URL such as http://tracker.example:6969',
    );
    usageError(
      () => parse([], { url: "ftp://x", token: undefined }),
      'P2PTRACKER_URL "ftp://x": expected a URL such as http://tracker.example:6969',
    );
  });

  it("reads durations as 90s, 5m, 1h30m or plain seconds", () => {
    assert.equal(parseDuration("90s"), 90);
    assert.equal(parseDuration("5m"), 300);
    assert.equal(parseDuration("1h30m"), 5400);
    assert.equal(parseDuration("1h2m3s"), 3723);
    assert.equal(parseDuration("300"), 300);
    assert.equal(parseDuration("0.5"), 0.5);
    for (const bad of ["", "5x", "m", "1m1h", "-5", "5 m"]) assert.equal(parseDuration(bad), undefined, bad);
    assert.equal(durationFlag(parse(["--interval", "2m"]), "interval", 2), 120);
    assert.equal(durationFlag(parse([]), "interval", 2), 2);
    usageError(
      () => durationFlag(parse(["--interval", "0"]), "interval", 2),
      '--interval "0": expected a duration such as 90s, 5m, 1h30m or 300',
    );
  });

  it("reads counts and exclusive choices", () => {
    const line = parseCommandLine(
      ["--hosts", "12", "--a", "--b"],
      { hosts: { type: "string" }, a: { type: "boolean" }, b: { type: "boolean" } },
      "USAGE",
      NO_ENV,
    );
    assert.equal(countFlag(line, "hosts"), 12);
    usageError(() => oneOf(line, ["a", "b"]), "--a and --b exclude each other");
    const zero = parseCommandLine(["--hosts", "0"], { hosts: { type: "string" } }, "USAGE", NO_ENV);
    usageError(() => countFlag(zero, "hosts"), '--hosts "0": expected a whole number of at least 1');
  });
});
