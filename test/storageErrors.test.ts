import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorReply } from "redis";
import { isStorageError } from "../src/store/storageErrors.js";

describe("isStorageError", () => {
  it("counts a dying connection and a Redis that is not ready yet, not a script's own error", () => {
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    assert.equal(isStorageError(reset), true);
    assert.equal(isStorageError(new ErrorReply("LOADING Redis is loading the dataset in memory")), true);
    assert.equal(isStorageError(new ErrorReply("READONLY You can't write against a read only replica.")), true);
    assert.equal(isStorageError(new ErrorReply("MASTERDOWN Link with MASTER is down")), true);
    assert.equal(isStorageError(new ErrorReply("ERR Error running script: bad argument")), false);
    assert.equal(isStorageError(new ErrorReply("OOM command not allowed when used memory > 'maxmemory'.")), false);
    assert.equal(isStorageError(new TypeError("x is not a function")), false);
  });
});
