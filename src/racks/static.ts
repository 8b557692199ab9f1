import { readFileSync, watch, type FSWatcher } from "node:fs";
import { cidrContains, parseCidr, parseIp, type Cidr } from "../net/ip.js";
import { log } from "../log.js";
import type { Resolver } from "./location.js";

interface Entry {
  readonly cidr: Cidr;
  readonly location: string;
}

/** Parses RACK_MAP text: `CIDR  location` lines, `#` comments. Throws naming the bad line. */
export function parseRackMap(text: string, name: string): Entry[] {
  const entries: Entry[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const content = line.replace(/#.*/, "").trim();
    if (content === "") return;
    const [cidrText, location, ...rest] = content.split(/\s+/);
    const cidr = parseCidr(cidrText!);
    if (!cidr || location === undefined || rest.length > 0) {
      throw new Error(`${name}:${index + 1}: expected "CIDR location", got "${content}"`);
    }
    entries.push({ cidr, location });
  });
  // Longest prefix first, so the first match is the most specific.
  return entries.sort((a, b) => b.cidr.prefix - a.cidr.prefix);
}

/** A static resolver over a RACK_MAP file, re-read when the file changes or on SIGHUP. */
export class StaticRackMap {
  #entries: Entry[];
  #watcher: FSWatcher | undefined;
  readonly #onHangup = () => this.reload();

  constructor(readonly path: string) {
    this.#entries = parseRackMap(readFileSync(path, "utf8"), path);
  }

  /** Starts following changes; a broken edit is logged and the previous map kept. */
  follow(): void {
    this.#watch();
    process.on("SIGHUP", this.#onHangup);
  }

  #watch(): void {
    try {
      this.#watcher = watch(this.path, (event) => {
        // Editors and deploy tools replace the file (rename over it); a watcher stays on the
        // old inode and would miss every later edit, so follow the path again.
        if (event === "rename" && this.#watcher) {
          this.#watcher.close();
          this.#watch();
        }
        this.reload();
      });
    } catch (error) {
      this.#watcher = undefined;
      log.warn(`RACK_MAP ${this.path}: cannot watch for changes (${(error as Error).message}); SIGHUP reloads`);
    }
  }

  stop(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    process.off("SIGHUP", this.#onHangup);
  }

  reload(): void {
    try {
      this.#entries = parseRackMap(readFileSync(this.path, "utf8"), this.path);
      log.info(`RACK_MAP ${this.path}: loaded ${this.#entries.length} entries`);
    } catch (error) {
      log.error(`RACK_MAP ${this.path}: kept the previous map: ${(error as Error).message}`);
    }
  }

  readonly resolve: Resolver = (ip) => {
    const bytes = parseIp(ip);
    if (!bytes) return undefined;
    return this.#entries.find((e) => cidrContains(e.cidr, bytes))?.location;
  };
}
