import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  formatBytes,
  formatDuration,
  formatRate,
  progressLine,
  renderBar,
  type ProgressStream,
} from "../src/cli/progressBar.js";

/** A stream that records what is written to it. */
function fakeStream(isTTY: boolean, columns = 80): ProgressStream & { written: string[] } {
  const written: string[] = [];
  return { isTTY, columns, written, write: (text: string) => written.push(text) };
}

describe("progress bar helpers", () => {
  it("renderBar fills its width in proportion, clamped to 0..1", () => {
    assert.equal(renderBar(0, 10), "[----------]");
    assert.equal(renderBar(0.42, 10), "[####------]");
    assert.equal(renderBar(1, 10), "[##########]");
    assert.equal(renderBar(1.5, 4), "[####]");
    assert.equal(renderBar(-1, 4), "[----]");
    assert.equal(renderBar(NaN, 4), "[----]");
  });

  it("formatBytes: binary units, three significant digits, never 1024 of a unit", () => {
    assert.equal(formatBytes(0), "0 B");
    assert.equal(formatBytes(1023), "1023 B");
    assert.equal(formatBytes(1024), "1.00 KiB");
    assert.equal(formatBytes(1536), "1.50 KiB");
    assert.equal(formatBytes(120_000), "117 KiB");
    assert.equal(formatBytes(1024 * 1024 - 1), "1.00 MiB");
    assert.equal(formatBytes(37.2 * 1024 * 1024), "37.2 MiB");
    assert.equal(formatBytes(4 * 1024 ** 3), "4.00 GiB");
    assert.equal(formatBytes(3 * 1024 ** 4), "3.00 TiB");
  });

  it("formatRate is bytes per second", () => {
    assert.equal(formatRate(812 * 1024 * 1024), "812 MiB/s");
    assert.equal(formatRate(0), "0 B/s");
  });

  it("formatDuration: 42s, 1m05s, 2h03m, and -- when unknown", () => {
    assert.equal(formatDuration(0), "0s");
    assert.equal(formatDuration(41.6), "42s");
    assert.equal(formatDuration(59.4), "59s");
    assert.equal(formatDuration(65), "1m05s");
    assert.equal(formatDuration(3599), "59m59s");
    assert.equal(formatDuration(2 * 3600 + 3 * 60 + 20), "2h03m");
    assert.equal(formatDuration(Infinity), "--");
    assert.equal(formatDuration(NaN), "--");
    assert.equal(formatDuration(-1), "--");
  });

  it("on a terminal, the line is redrawn in place (carriage return, clear to end of line), then replaced", () => {
    const stream = fakeStream(true);
    const line = progressLine(stream, 0);
    line.update("one");
    line.update("two");
    line.done("finished");
    assert.deepEqual(stream.written, ["\rone\x1b[K", "\rtwo\x1b[K", "\r\x1b[K", "finished\n"]);
  });

  it("on a terminal, redraws are spaced by the interval and cut to the terminal's width", () => {
    const stream = fakeStream(true, 11);
    const line = progressLine(stream, 60_000);
    line.update("a line longer than ten columns");
    line.update("dropped: too soon after the first");
    line.done();
    assert.deepEqual(stream.written, ["\ra line lon\x1b[K", "\r\x1b[K"]);
  });

  it("elsewhere, nothing but the final line", () => {
    const stream = fakeStream(false);
    const line = progressLine(stream, 0);
    line.update("one");
    line.done("finished");
    assert.deepEqual(stream.written, ["finished\n"]);
    const silent = fakeStream(false);
    progressLine(silent, 0).done();
    assert.deepEqual(silent.written, []);
  });
});
