import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { scrapeMetrics } from "./helpers/metrics.js";
import { trackerFixture } from "./helpers/tracker.js";

const ETC = fileURLToPath(new URL("../../etc/", import.meta.url));
const RULES = `${ETC}prometheus/alerts.yml`;
const RULE_TESTS = `${ETC}prometheus/alerts.test.yml`;
const DASHBOARD = `${ETC}grafana/p2ptracker.json`;

/** Runs promtool (Debian package prometheus; scripts/test installs it). */
function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((done, fail) => {
    execFile("promtool", args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if ((error as NodeJS.ErrnoException | null)?.code === "ENOENT") {
        return fail(new Error("promtool is not installed (apt-get install prometheus; scripts/test does it)"));
      }
      done({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

/** The `expr:` of every rule (alerts.yml keeps each on one line). */
function ruleExpressions(): string[] {
  return [...readFileSync(RULES, "utf8").matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!);
}

/** Every PromQL query of the dashboard: panel targets and template variables. */
function dashboardExpressions(): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== "object" || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if ((key === "expr" || key === "definition") && typeof value === "string") found.push(value);
      else walk(value);
    }
  };
  walk(JSON.parse(readFileSync(DASHBOARD, "utf8")));
  return found;
}

/** PromQL keywords that look like names. */
const PROMQL_WORDS = new Set(["and", "or", "unless", "bool", "offset", "on", "ignoring", "by", "without"]);

/** The metric names a PromQL expression reads. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/label_values\(([^,]+),[^)]*\)/g, "$1") // Grafana: label_values(metric, label)
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, "") // label matchers
    .replace(/\[[^\]]*\]/g, "") // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ""); // label lists
  const names: string[] = [];
  for (const match of bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (match[2] !== undefined) continue; // a function
    if (PROMQL_WORDS.has(match[1]!)) continue;
    names.push(match[1]!);
  }
  return names;
}

describe("alert rules and dashboard", () => {
  const f = trackerFixture();

  it("promtool accepts the rules, and the rules' unit tests pass", async () => {
    const check = await promtool("check", "rules", RULES);
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, /SUCCESS: 8 rules found/);
    const tests = await promtool("test", "rules", RULE_TESTS);
    assert.equal(tests.code, 0, tests.output);
  });

  it("the metric-name reader finds names and skips functions, labels and keywords", () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (instance, le) (rate(a_seconds_bucket{job="x", le=~"1|2"}[5m]))) > 0.25 and on (instance) b == bool 1',
      ),
      ["a_seconds_bucket", "b"],
    );
    assert.deepEqual(metricNames('label_values(p2ptracker_build_info{job="p2ptracker"}, instance)'), [
      "p2ptracker_build_info",
    ]);
  });

  it("every metric the rules and the dashboard read is one the tracker exports", async () => {
    const exported = (await scrapeMetrics(f.tracker.url)).names();
    // up is the scrape's own series, made by Prometheus.
    exported.add("up");
    const rules = ruleExpressions();
    assert.equal(rules.length, 8, "one expr per rule");
    const dashboard = dashboardExpressions();
    assert.ok(dashboard.length >= 20, `dashboard queries: ${dashboard.length}`);
    const read = new Set([...rules, ...dashboard].flatMap(metricNames));
    assert.ok(read.size >= 15, [...read].join(", "));
    const unknown = [...read].filter((name) => !exported.has(name));
    assert.deepEqual(unknown, [], `read but not exported: ${unknown.join(", ")}`);
  });

  it("the dashboard is Grafana JSON whose panels all query the chosen data source and replicas", () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
      uid: string;
      panels: Array<{ type: string; datasource?: { uid: string }; targets?: Array<{ expr: string }> }>;
    };
    assert.equal(dashboard.uid, "p2ptracker");
    for (const panel of dashboard.panels.filter((p) => p.type !== "row")) {
      assert.equal(panel.datasource?.uid, "${datasource}");
      for (const target of panel.targets ?? []) assert.match(target.expr, /instance=~"\$instance"/);
    }
  });
});
