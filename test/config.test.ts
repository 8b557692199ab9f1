import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, loadConfig, redisUrl, type Config } from "../src/config/config.js";
import { log } from "../src/log.js";
import { runCli } from "./helpers/cli.js";

/** The production config file the origin tracker shipped (etc/p2ptracker.production.cfg). */
const ORIGIN_PRODUCTION_CFG = `HOST = "p2p-tracker.internal"
PORT = "80"
REDISHOST = "localhost"
REDISPORT = 6379
SMDB_URL = 'http://smdb-api.internal'
MAX_REPR_RACK = 2
ACTIVE_INTERVAL = 45
PASSIVE_INTERVAL = 5 * 60 # 5 minutes
MAXPEERS = 35
PROXYPASS = False
DEBUG = False
`;

/** The origin's debug config: the same keys plus FCGI_SOCKET, which p2ptracker has no use for. */
const ORIGIN_DEBUG_CFG = ORIGIN_PRODUCTION_CFG.replace('HOST = "p2p-tracker.internal"', 'HOST = "127.0.0.1"')
  .replace('PORT = "80"', 'PORT = "5000"')
  .concat('FCGI_SOCKET = "/tmp/p2ptracker.fcgi.sock"\n');

/** The ConfigError message loadConfig throws for these arguments and environment. */
function configError(args: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig(args, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail(`loadConfig(${JSON.stringify(args)}, ${JSON.stringify(env)}) accepted the settings`);
}

/** Warnings emitted (process.emitWarning) while `run` executes, after they are delivered. */
async function warningsDuring<T>(run: () => T): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = [];
  const warn = log.warn;
  log.warn = (message: string) => void warnings.push(message);
  try {
    return { result: run(), warnings };
  } finally {
    log.warn = warn;
  }
}

describe("configuration", () => {
  let dir: string;
  let defaults: Config;
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "p2ptracker-config-"));
    defaults = loadConfig([], {});
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("has the documented defaults and is frozen", () => {
    assert.equal(defaults.HOST, "0.0.0.0");
    assert.equal(defaults.PORT, 6969);
    assert.equal(defaults.REDISHOST, undefined);
    assert.equal(defaults.REDISPORT, 6379);
    assert.equal(defaults.REDIS_URL, undefined);
    assert.equal(defaults.SMDB_URL, undefined);
    assert.equal(defaults.MAX_REPR_RACK, 2);
    assert.equal(defaults.ACTIVE_INTERVAL, 30);
    assert.equal(defaults.PASSIVE_INTERVAL, 600);
    assert.equal(defaults.MIN_INTERVAL, 15);
    assert.equal(defaults.PEER_TTL, 90);
    assert.equal(defaults.MAXPEERS, 50);
    assert.equal(defaults.PROXYPASS, false);
    assert.equal(defaults.DEBUG, false);
    assert.deepEqual(defaults.TRUSTED_PROXIES, ["127.0.0.0/8", "::1"]);
    assert.equal(defaults.EMBEDDED_REDIS, true, "no Redis configured: the tracker runs its own");
    assert.ok(Object.isFrozen(defaults));
  });

  it("reads the origin's production config file unchanged (Python literals, quotes, 5 * 60)", async () => {
    const path = file("production.cfg", ORIGIN_PRODUCTION_CFG);
    const { result: config, warnings } = await warningsDuring(() => loadConfig(["--config", path], {}));
    assert.deepEqual(warnings, [], "every key of the origin's file is known");
    assert.deepEqual(
      { ...config },
      {
        ...defaults,
        HOST: "p2p-tracker.internal",
        PORT: 80,
        REDISHOST: "localhost",
        REDISPORT: 6379,
        SMDB_URL: "http://smdb-api.internal",
        MAX_REPR_RACK: 2,
        ACTIVE_INTERVAL: 45,
        PASSIVE_INTERVAL: 300,
        MAXPEERS: 35,
        PROXYPASS: false,
        DEBUG: false,
        MIN_INTERVAL: 22,
        PEER_TTL: 135,
        EMBEDDED_REDIS: false,
      },
    );
    assert.equal(redisUrl(config), "redis://localhost:6379");
  });

  it("reads True and integer arithmetic as the origin's defaults wrote them", () => {
    const path = file(
      "defaults.cfg",
      'HOST = "localhost"\nPORT = "5000"\nDEBUG = True\nMAXPEERS=30\nPROXYPASS = True\nPASSIVE_INTERVAL = 2 * 60 + 30\n',
    );
    const config = loadConfig(["--config", path], {});
    assert.equal(config.HOST, "localhost");
    assert.equal(config.PORT, 5000);
    assert.equal(config.DEBUG, true);
    assert.equal(config.MAXPEERS, 30);
    assert.equal(config.PROXYPASS, true);
    assert.equal(config.PASSIVE_INTERVAL, 150);
    assert.equal(config.EMBEDDED_REDIS, true, "the file names no Redis");
  });

  it("keeps # inside quotes, skips comments and blank lines, reads CRLF, and None leaves the default", () => {
    const path = file(
      "format.cfg",
      "# a comment line\r\n\r\n   # indented comment\r\nRACK_MAP = '/etc/racks#1.map'  # trailing comment\r\n" +
        "MAXPEERS = None\r\nACTIVE_INTERVAL=40\r\n",
    );
    const config = loadConfig(["--config", path], {});
    assert.equal(config.RACK_MAP, "/etc/racks#1.map");
    assert.equal(config.MAXPEERS, defaults.MAXPEERS);
    assert.equal(config.ACTIVE_INTERVAL, 40);
  });

  it("keeps a quoted expression as text, so an integer key rejects it", () => {
    const path = file("quoted.cfg", 'PASSIVE_INTERVAL = "5 * 60"\n');
    assert.equal(
      configError(["--config", path]),
      `PASSIVE_INTERVAL = "5 * 60" (${path}:1): expected an integer from 1 to 86400`,
    );
  });

  it("rejects a line that is not KEY = value, naming file and line", () => {
    const path = file("broken.cfg", "PORT = 80\nthis is not a setting\n");
    assert.equal(
      configError(["--config", path]),
      `config file ${path}:2: expected KEY = value, got "this is not a setting"`,
    );
  });

  it("rejects a missing config file", () => {
    const path = join(dir, "absent.cfg");
    assert.equal(configError(["--config", path]), `config file ${path}: ENOENT`);
  });

  it("layers file < environment P2PTRACKER_* < flags", () => {
    const path = file("layers.cfg", "PORT = 1000\nMAXPEERS = 10\nACTIVE_INTERVAL = 40\nMAX_REPR_RACK = 4\n");
    const env = { P2PTRACKER_PORT: "2000", P2PTRACKER_MAXPEERS: "20", P2PTRACKER_MAX_REPR_RACK: "5" };
    const config = loadConfig(["--config", path, "--port", "3000", "--max-repr-rack=6"], env);
    assert.equal(config.PORT, 3000, "flag over environment over file");
    assert.equal(config.MAX_REPR_RACK, 6, "--key=value flag over environment over file");
    assert.equal(config.MAXPEERS, 20, "environment over file");
    assert.equal(config.ACTIVE_INTERVAL, 40, "file over default");
    assert.equal(config.PASSIVE_INTERVAL, defaults.PASSIVE_INTERVAL, "default when no layer sets it");
  });

  it("ignores a bare DEBUG variable and reads P2PTRACKER_DEBUG", () => {
    assert.equal(loadConfig([], { DEBUG: "true" }).DEBUG, false);
    assert.equal(loadConfig([], { DEBUG: "not a boolean", PORT: "70000" }).PORT, 6969, "bare names are not settings");
    assert.equal(loadConfig([], { DEBUG: "true", P2PTRACKER_DEBUG: "false" }).DEBUG, false);
    assert.equal(loadConfig([], { P2PTRACKER_DEBUG: "true" }).DEBUG, true);
    assert.equal(loadConfig(["--debug", "yes"], { DEBUG: "0" }).DEBUG, true);
  });

  it("warns about unknown keys in a config file but ignores the origin's web-framework keys", async () => {
    const debugCfg = file("debug.cfg", ORIGIN_DEBUG_CFG);
    const { result: config, warnings } = await warningsDuring(() => loadConfig(["--config", debugCfg], {}));
    assert.equal(config.PORT, 5000, "an unknown key does not stop the file from loading");
    assert.deepEqual(warnings, [`${debugCfg}:12: ignoring unknown setting FCGI_SOCKET`]);

    const flaskCfg = file("flask.cfg", "SECRET_KEY = 'x'\nTESTING = True\nJSONIFY_PRETTYPRINT_REGULAR = False\n");
    const quiet = await warningsDuring(() => loadConfig(["--config", flaskCfg], {}));
    assert.deepEqual(quiet.warnings, []);
  });

  it("rejects an unknown P2PTRACKER_* variable or flag (a typo must not pass silently)", () => {
    assert.match(
      configError([], { P2PTRACKER_MAXPEER: "10" }),
      /^environment P2PTRACKER_MAXPEER: unknown setting MAXPEER \(known: HOST, PORT, .*MAXPEERS.*\)$/,
    );
    assert.match(configError(["--maxpeer", "10"]), /^flag --maxpeer: unknown setting MAXPEER \(known: .*\)$/);
    assert.equal(configError(["serve"]), 'unexpected argument "serve" (settings are --key value)');
    assert.equal(configError(["--port"]), "flag --port needs a value");
  });

  it("does not take P2PTRACKER_SETUP_APT (read by scripts/setup) for a setting", () => {
    assert.equal(loadConfig([], { P2PTRACKER_SETUP_APT: "aria2" }).PORT, 6969);
  });

  describe("a bad value stops with one line naming key, value and expectation", () => {
    const cases: Array<[string, string, string]> = [
      ["PORT", "70000", "expected an integer from 1 to 65535"],
      ["PORT", "0", "expected an integer from 1 to 65535"],
      ["REDISPORT", "http", "expected an integer from 1 to 65535"],
      ["MAX_REPR_RACK", "0", "expected an integer from 1 to 1000"],
      ["MAX_REPR_RACK", "-1", "expected an integer from 1 to 1000"],
      ["ACTIVE_INTERVAL", "abc", "expected an integer from 1 to 86400"],
      ["ACTIVE_INTERVAL", "1.5", "expected an integer from 1 to 86400"],
      ["MAXPEERS", "1001", "expected an integer from 1 to 1000"],
      ["PROXYPASS", "maybe", "expected true or false"],
      ["DEBUG", "2", "expected true or false"],
      ["REDIS_URL", "localhost:6379", "expected redis://host:port"],
      ["REDIS_URL", "http://127.0.0.1:6379", "expected redis://host:port"],
      ["REDIS_URL", "redis://127.0.0.1:99999", "expected redis://host:port"],
      ["REDIS_URL", "redis://127.0.0.1:port", "expected redis://host:port"],
      ["REDIS_URL", "redis://", "expected redis://host:port"],
      ["SMDB_URL", "smdb-api.internal", "expected an http:// or https:// URL"],
      [
        "TRUSTED_PROXIES",
        "10.0.0.0/8,10.1.0.0/33",
        'expected CIDR blocks separated by commas ("10.1.0.0/33" is not one)',
      ],
      [
        "TRUSTED_PROXIES",
        "127.0.0.0/8, proxy.internal",
        'expected CIDR blocks separated by commas ("proxy.internal" is not one)',
      ],
    ];
    for (const [key, value, expected] of cases) {
      it(`${key} = ${value}`, () => {
        const envName = `P2PTRACKER_${key}`;
        assert.equal(
          configError([], { [envName]: value }),
          `${key} = "${value}" (environment ${envName}): ${expected}`,
        );
      });
    }

    it("names the flag or the file line the bad value came from", () => {
      assert.equal(
        configError(["--port", "70000"]),
        'PORT = "70000" (flag --port): expected an integer from 1 to 65535',
      );
      const path = file("bad.cfg", "HOST = 'h'\nPROXYPASS = Maybe\n");
      assert.equal(configError(["--config", path]), `PROXYPASS = "Maybe" (${path}:2): expected true or false`);
    });

    it("reports every bad value at once, one line each", () => {
      const lines = configError(["--port", "70000"], { P2PTRACKER_PROXYPASS: "maybe" }).split("\n");
      assert.deepEqual(lines, [
        'PORT = "70000" (flag --port): expected an integer from 1 to 65535',
        'PROXYPASS = "maybe" (environment P2PTRACKER_PROXYPASS): expected true or false',
      ]);
    });

    it("rejects a PEER_TTL that peers would outlive between announces", () => {
      assert.equal(
        configError(["--peer-ttl", "30", "--active-interval", "30"]),
        'PEER_TTL = "30": expected more than ACTIVE_INTERVAL (30), or every peer would expire between announces',
      );
    });
  });

  it("finds Redis from REDIS_URL, else REDISHOST/REDISPORT; either one means no embedded Redis", () => {
    const byHost = loadConfig(["--redishost", "10.0.0.5", "--redisport", "7000"], {});
    assert.equal(redisUrl(byHost), "redis://10.0.0.5:7000");
    assert.equal(byHost.EMBEDDED_REDIS, false);
    const byV6Host = loadConfig(["--redishost", "fd00::5"], {});
    assert.equal(redisUrl(byV6Host), "redis://[fd00::5]:6379");
    const byUrl = loadConfig(["--redishost", "10.0.0.5", "--redis-url", "redis://10.0.0.6:7001/2"], {});
    assert.equal(redisUrl(byUrl), "redis://10.0.0.6:7001/2");
    assert.equal(byUrl.EMBEDDED_REDIS, false);
    const embedded = loadConfig(["--redisport", "7002"], {});
    assert.equal(embedded.EMBEDDED_REDIS, true);
    assert.equal(redisUrl(embedded), "redis://127.0.0.1:7002");
  });

  it("end to end: `serve --port 70000` exits 1 with one stderr line naming PORT, 70000 and the range", async () => {
    const { code, stdout, stderr } = await runCli(["serve", "--port", "70000"]);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    const lines = stderr.split("\n").filter((line) => line !== "");
    assert.equal(lines.length, 1, `stderr: ${stderr}`);
    assert.equal(lines[0], 'config error: PORT = "70000" (flag --port): expected an integer from 1 to 65535');
  });
});
