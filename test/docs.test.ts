import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { describeSettings } from "../src/config/config.js";

const README = readFileSync(fileURLToPath(new URL("../../README.md", import.meta.url)), "utf8");

describe("the README matches the code", () => {
  it("documents every setting in the configuration table", () => {
    for (const line of describeSettings()) {
      const key = line.split(" ")[0]!;
      assert.ok(README.includes(`| \`${key}\` |`), `${key} is in the README's configuration table`);
    }
  });

  it("documents every API route", () => {
    const routes = readFileSync(fileURLToPath(new URL("../../src/http/api/routes.ts", import.meta.url)), "utf8");
    const paths = [...routes.matchAll(/method: "(\w+)",\s*path: `\$\{API_BASE\}([^`]+)`/g)].map(
      ([, method, path]) => `${method!.toUpperCase()} /api/v1${path!.replace("{file}", "{infohash}.torrent")}`,
    );
    assert.ok(paths.length >= 8, `found the routes (${paths.length})`);
    for (const route of paths) {
      const documented = route.endsWith("{list}")
        ? README.includes(route.replace("{list}", "peers"))
        : README.includes(route.replace("?", ""));
      assert.ok(documented, `${route} is in the README's API table`);
    }
  });
});
