/**
 * Draining an HTTP server for a graceful shutdown. From startDraining() on, every response
 * says `Connection: close`, so neither clients nor the load balancer send more requests on
 * this replica's sockets; close() stops accepting, lets requests in flight finish, closes
 * keep-alive sockets as they fall idle and destroys whatever is still open at the deadline.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** How often close() looks for sockets that fell idle since it started. */
const IDLE_SWEEP_MS = 100;

/** An HTTP server that can be drained. */
export interface DrainableServer {
  /** Responses from now on close their connection. */
  startDraining(): void;
  /** Stops the server; resolves true when sockets were still open at the deadline and were destroyed. */
  close(deadlineMs: number): Promise<boolean>;
}

/** Wraps a listening server; call before it gets traffic. */
export function drainable(server: Server): DrainableServer {
  let draining = false;
  const inFlight = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  // Runs before the app's handler, so the header is there when the app writes its head.
  server.prependListener("request", (_request: IncomingMessage, response: ServerResponse) => {
    if (draining) {
      response.setHeader("Connection", "close");
      return;
    }
    inFlight.add(response);
    response.once("close", () => inFlight.delete(response));
  });
  return {
    startDraining() {
      draining = true;
      for (const response of inFlight) {
        if (!response.headersSent) response.setHeader("Connection", "close");
      }
    },
    close(deadlineMs) {
      draining = true;
      return new Promise((done) => {
        let forced = false;
        // Node closes idle keep-alive sockets once, at close(); a request that was in flight
        // then leaves its socket idle later, and waiting for keepAliveTimeout would stall us.
        // Node 20 does not count a socket that never sent a byte as idle (nodejs/node#63452):
        // without a request on it, it would hold the close until the deadline.
        const sweepIdle = () => {
          server.closeIdleConnections();
          for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
        };
        const sweep = setInterval(sweepIdle, IDLE_SWEEP_MS);
        const deadline = setTimeout(() => {
          forced = true;
          server.closeAllConnections();
          for (const socket of sockets) socket.destroy();
        }, deadlineMs);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(deadline);
          done(forced);
        });
        sweepIdle();
      });
    },
  };
}
