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
  /** kill -9 of the server: no shutdown save, only what it had written survives. */
  killServer(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  startServer(): Promise<void>;
  close(): Promise<void>;
}

// Persistence off: tests throw the data away, and fsync only slows them down.
const FAST = ["--appendonly", "no", "--save", ""];

/** `persistent`: run with the shipped redis.conf as it is (AOF, everysec), for restart tests. */
export async function startTestRedis(options: { persistent?: boolean } = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), "p2ptracker-test-"));
  const port = await freePort();
  const flags = options.persistent ? [] : FAST;
  let server: EmbeddedRedis | undefined = await startEmbeddedRedis(port, dir, flags);
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
    async killServer() {
      const child = server?.process;
      server = undefined;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGKILL");
      await exited;
    },
    async startServer() {
      server = await startEmbeddedRedis(port, dir, flags);
    },
    async close() {
      await client.close().catch(() => undefined);
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
