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

/** Cluster replies that mean a slot has no reachable master right now (failover under way). */
const CLUSTER_DOWN = /^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING) /;

/** Whether an error means that Redis, not the request, is the problem. */
export function isStorageError(error: unknown): boolean {
  if (error instanceof ErrorReply && CLUSTER_DOWN.test(error.message)) return true;
  return STORAGE_ERRORS.some((type) => error instanceof type);
}
