import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { startEmbeddedRedis, type EmbeddedRedis } from "../../src/store/embeddedRedis.js";
import { freePort } from "../../src/net/ports.js";

export { freePort };

function testClient(url: string) {
  const client = createClient({ url, socket: { reconnectStrategy: 100 } });
  client.on("error", () => undefined);
  return client;
}

/** A plain text-reply client for inspecting state. */
export type TestClient = ReturnType<typeof testClient>;

/** A throwaway redis-server from the shipped redis.conf, on a free port, in a temp dir. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly client: TestClient;
  /** PID of the running redis-server (changes across stopServer/startServer). */
  pid(): number;
  /** Stops the server (keeping its data dir), e.g. to test an outage. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  startServer(): Promise<void>;
  close(): Promise<void>;
}

// Persistence off: tests throw the data away, and fsync only slows them down.
const FAST = ["--appendonly", "no", "--save", ""];

export async function startTestRedis(): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), "p2ptracker-test-"));
  const port = await freePort();
  let server: EmbeddedRedis | undefined = await startEmbeddedRedis(port, dir, FAST);
  const url = `redis://127.0.0.1:${port}`;
  const client = testClient(url);
  await client.connect();
  return {
    port,
    url,
    client,
    pid: () => server!.process.pid!,
    async stopServer() {
      await server?.stop();
      server = undefined;
    },
    async startServer() {
      server = await startEmbeddedRedis(port, dir, FAST);
    },
    async close() {
      await client.close().catch(() => undefined);
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
