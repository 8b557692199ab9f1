/** An async method, as the Redis client's commands and scripts are. */
export type AsyncMethod = (...args: never[]) => Promise<unknown>;

/**
 * The `methods` of `target`, each bound to it and passed through `wrap`: how deadlines and
 * batching are put around a Redis client's calls without touching the client.
 */
export function wrapMethods<T extends object, M extends keyof T>(
  target: T,
  methods: readonly M[],
  wrap: (method: AsyncMethod) => AsyncMethod = (method) => method,
): Pick<T, M> {
  const wrapped = {} as Record<M, AsyncMethod>;
  for (const name of methods) wrapped[name] = wrap((target[name] as AsyncMethod).bind(target));
  return wrapped as unknown as Pick<T, M>;
}
