/**
 * Liveness and readiness, as load balancers and Kubernetes probe them: /healthz says the
 * process is up and never depends on Redis; /readyz says this replica should get traffic
 * (Redis reachable, scripts loaded, not draining).
 */

/** What readiness is made of; each part reports itself. */
export interface ReadinessSources {
  /** True while the announce connection to Redis is up. */
  redisReady(): boolean;
}

/** The reasons a replica is not ready, empty when it is. */
export class Readiness {
  #scriptsLoaded = false;
  #draining = false;

  constructor(private readonly sources: ReadinessSources) {}

  scriptsLoaded(): void {
    this.#scriptsLoaded = true;
  }

  /** From now on the replica asks for no more traffic (SIGTERM). */
  startDraining(): void {
    this.#draining = true;
  }

  get draining(): boolean {
    return this.#draining;
  }

  problems(): string[] {
    const problems: string[] = [];
    if (this.#draining) problems.push("draining: shutting down");
    if (!this.#scriptsLoaded) problems.push("scripts not loaded");
    if (!this.sources.redisReady()) problems.push("redis unreachable");
    return problems;
  }
}
