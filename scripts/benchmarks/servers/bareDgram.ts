import { createSocket } from "node:dgram";

/**
 * The floor no Node UDP tracker can beat: node:dgram answering every BEP 15 connect with a
 * fixed connection id and every announce with one fixed reply (50 compact peers), doing no
 * other work. The transaction id is copied in, as clients match replies by it.
 * Usage: bareDgram PORT
 */
const announceReply = Buffer.concat([
  Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 30, 0, 0, 0, 40, 0, 0, 0, 10]),
  Buffer.alloc(50 * 6, 7),
]);
const connectReply = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
const port = Number(process.argv[2]);
const socket = createSocket("udp4");
socket.on("message", (packet, from) => {
  if (packet.length < 16) return;
  const action = packet.readUInt32BE(8);
  const template = action === 0 ? connectReply : action === 1 ? announceReply : undefined;
  if (template === undefined) return;
  const reply = Buffer.allocUnsafe(template.length);
  template.copy(reply);
  packet.copy(reply, 4, 12, 16);
  socket.send(reply, from.port, from.address);
});
socket.bind(port, "127.0.0.1");
