import type { AnnouncePolicy, LeasePolicy } from "../../src/store/scripts.js";

/**
 * The policy tests give the scripts when they call them directly: two representatives and
 * two rack slots, and peers and leases that outlive any test (600 s).
 */
export const SCRIPT_POLICY: AnnouncePolicy & LeasePolicy = {
  maxRepr: 2,
  peerTtl: 600,
  autoActivate: true,
  rackAware: true,
  pruneLimit: 100,
  slots: 2,
  leaseTtl: 600,
  headStart: 300,
  waitTtl: 600,
};
