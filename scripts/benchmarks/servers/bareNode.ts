import { createServer } from "node:http";

/**
 * The floor no Node tracker can beat: node:http answering every request with one fixed
 * announce reply (50 compact peers), doing no work at all. Usage: bareNode PORT
 */
const peers = Buffer.alloc(50 * 6, 7);
const reply = Buffer.concat([
  Buffer.from("d8:completei10e10:incompletei40e8:intervali30e12:min intervali15e5:peers300:"),
  peers,
  Buffer.from("e"),
]);
const port = Number(process.argv[2]);
createServer((_request, response) => {
  response.writeHead(200, { "Content-Type": "text/plain", "Content-Length": reply.length });
  response.end(reply);
}).listen(port, "127.0.0.1");
