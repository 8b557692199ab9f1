// The part of webtorrent's bittorrent-tracker the benchmark uses (it ships no types).
declare module "bittorrent-tracker/server" {
  import { EventEmitter } from "node:events";
  interface ServerOptions {
    udp?: boolean;
    ws?: boolean;
    http?: boolean;
    stats?: boolean;
    trustProxy?: boolean;
  }
  export default class Server extends EventEmitter {
    constructor(options?: ServerOptions);
    listen(port: number, hostname: string, onListening?: () => void): void;
    close(onClose?: () => void): void;
  }
}
