/** Talking to the operators' API in tests: JSON in and out, a token when given. */

export const TEST_TOKEN = "test-admin-token-0123456789abcdef";

/** An API answer: status, headers and the parsed JSON (or raw bytes). */
export interface ApiAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly bytes: Buffer;
}

/** One request to `${base}/api/v1${path}`. */
export async function api(
  base: string,
  method: string,
  path: string,
  options: { token?: string | undefined; body?: Uint8Array | undefined; headers?: Record<string, string> } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers,
    body: (options.body ?? null) as BodyInit | null,
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  let json: unknown;
  if ((response.headers.get("content-type") ?? "").includes("json")) json = JSON.parse(bytes.toString("utf8"));
  return { status: response.status, headers: response.headers, json, bytes };
}

/** Every row of a paginated listing, following next_cursor. */
export async function allPages(base: string, path: string, limit: number, token?: string): Promise<unknown[][]> {
  const pages: unknown[][] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const answer = await api(base, "GET", `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`, { token });
    if (answer.status !== 200) throw new Error(`${path}: HTTP ${answer.status} ${JSON.stringify(answer.json)}`);
    pages.push(answer.json.items);
    cursor = answer.json.next_cursor;
    if (pages.length > 10_000) throw new Error(`${path}: the cursor never ends`);
  } while (cursor !== null);
  return pages;
}
