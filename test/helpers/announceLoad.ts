/** Continuous announces from many hosts, each from its own loopback address, counting every failure. */

import { decode, httpRequest, text } from "./http.js";
import { announceQuery, type TestPeer } from "./tracker.js";

/** What the load saw. */
export interface LoadCounts {
  readonly ok: number;
  readonly failed: number;
  /** The first few failures, for the assertion message. */
  readonly failures: readonly string[];
}

export interface AnnounceLoad {
  counts(): LoadCounts;
  /** Hosts that got at least one good reply. */
  hostsAnswered(): number;
  /** Stops and waits for the announces in flight. */
  stop(): Promise<LoadCounts>;
}

/**
 * `concurrency` loops announce the hosts in turn to `url`, each announce on a new connection
 * from the host's address (so the tracker learns it from the load balancer's X-Forwarded-For).
 */
export function startAnnounceLoad(
  url: string,
  infoHash: Uint8Array,
  hosts: readonly TestPeer[],
  concurrency: number,
): AnnounceLoad {
  let ok = 0;
  let failed = 0;
  const failures: string[] = [];
  const answered = new Set<number>();
  let next = 0;
  let stopped = false;
  const fail = (what: string) => {
    failed++;
    if (failures.length < 10) failures.push(`${new Date().toISOString()} ${what}`);
  };
  const loop = async () => {
    while (!stopped) {
      const index = next++ % hosts.length;
      const host = hosts[index]!;
      try {
        const response = await httpRequest(`${url}/announce?${announceQuery(infoHash, host)}`, {
          localAddress: host.ip,
        });
        const reason = response.status === 200 ? decode(response.body)["failure reason"] : undefined;
        if (response.status !== 200) fail(`${host.ip}: HTTP ${response.status} ${response.body.toString()}`);
        else if (reason !== undefined) fail(`${host.ip}: failure reason ${text(reason)}`);
        else {
          ok++;
          answered.add(index);
        }
      } catch (error) {
        fail(`${host.ip}: ${(error as Error).message}`);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  const counts = () => ({ ok, failed, failures: [...failures] });
  return {
    counts,
    hostsAnswered: () => answered.size,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return counts();
    },
  };
}
