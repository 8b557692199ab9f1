/**
 * Many reads sent together. On a single Redis they go as one pipeline (one write, replies
 * in one go: several times faster than as many separate calls). On a cluster they go as
 * separate calls, each routed to its slot's master and written together per node: a
 * cluster pipeline is sent to one node only, and node-redis (6.3) decodes its replies
 * without the Buffer type mapping, which would corrupt binary peer addresses.
 */

import { isCluster } from "./cluster.js";
import type { TrackerRedis } from "./redis.js";

/** The reads that are sent together. */
export interface ReadTarget {
  hmGet(key: string, fields: Array<string | Buffer>): unknown;
  zScore(key: string, member: Buffer): unknown;
  zRangeByScoreWithScores(key: string, min: string, max: string): unknown;
  hGet(key: string, field: string): unknown;
}

/** Runs `reads` together; their replies in order. */
export async function readTogether(
  redis: TrackerRedis,
  reads: Array<(target: ReadTarget) => unknown>,
): Promise<unknown[]> {
  if (reads.length === 0) return [];
  if (isCluster(redis)) return Promise.all(reads.map((read) => read(redis as unknown as ReadTarget)));
  const pipeline = redis.multi();
  for (const read of reads) read(pipeline as unknown as ReadTarget);
  return (await pipeline.execAsPipeline()) as unknown[];
}
