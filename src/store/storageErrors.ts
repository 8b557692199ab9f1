import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  SocketClosedUnexpectedlyError,
  TimeoutError,
} from "redis";
import { StorageTimeoutError } from "./deadline.js";

/** Errors that mean Redis is out of reach or too slow, not that the request was bad. */
const STORAGE_ERRORS = [
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  SocketClosedUnexpectedlyError,
  TimeoutError,
  StorageTimeoutError,
];

/** Whether an error means that Redis, not the request, is the problem. */
export function isStorageError(error: unknown): boolean {
  return STORAGE_ERRORS.some((type) => error instanceof type);
}
