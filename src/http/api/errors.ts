import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  SocketClosedUnexpectedlyError,
  TimeoutError,
} from "redis";
import { StorageTimeoutError } from "../../store/deadline.js";

/** An answer of the API that is not a success: `{"error": message}` with `status`. */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 503,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

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
