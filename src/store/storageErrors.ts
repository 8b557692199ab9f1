import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  MaxCommandRedirectionsError,
  RootNodesUnavailableError,
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
  DisconnectsClientError,
  MaxCommandRedirectionsError,
  RootNodesUnavailableError,
];

/** Socket errors a call in flight fails with when Redis dies under it (kill -9, a failover). */
const SOCKET_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Redis replies that mean "not now": a restarted server still replaying its AOF (LOADING),
 * a replica cut off from its primary or a demoted primary during a failover, a cluster
 * slot with no reachable master (CLUSTERDOWN) while a replica is promoted.
 */
const TRANSIENT_REPLY = /^(LOADING|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN) /;

/** Whether an error means that Redis, not the request, is the problem. */
export function isStorageError(error: unknown): boolean {
  if (STORAGE_ERRORS.some((type) => error instanceof type)) return true;
  if (error instanceof ErrorReply) return TRANSIENT_REPLY.test(error.message);
  return SOCKET_CODES.has((error as NodeJS.ErrnoException | undefined)?.code ?? "");
}
