import { httpRequest } from "./http.js";

/** One sample of a Prometheus text exposition: name, labels, value. */
export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Parses the Prometheus text format as /metrics answers it (no escapes in our label values). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The metrics a tracker answers at `url`/metrics, parsed; fails on a non-200 answer. */
export async function scrapeMetrics(url: string, headers: Record<string, string> = {}): Promise<Metrics> {
  const response = await httpRequest(`${url}/metrics`, { headers });
  if (response.status !== 200) throw new Error(`/metrics: HTTP ${response.status} ${response.body.toString()}`);
  return new Metrics(parseMetrics(response.body.toString()));
}

/** Parsed samples and the look-ups tests make. */
export class Metrics {
  constructor(readonly samples: readonly Sample[]) {}

  /** The value of the sample `name` whose labels include `labels`; 0 when there is none. */
  value(name: string, labels: Record<string, string> = {}): number {
    const sample = this.samples.find(
      (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
    );
    return sample?.value ?? 0;
  }

  /** Whether any sample is called `name`. */
  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }

  /** Every sample name. */
  names(): Set<string> {
    return new Set(this.samples.map((s) => s.name));
  }
}
