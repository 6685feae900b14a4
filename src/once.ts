/** `make()` on the first call, its result on every later one: a handler's dependencies once per cold start, a command's clients once per run. */
export function once<T>(make: () => T): () => T {
  let made: T | undefined;
  return () => {
    made ??= make();
    return made;
  };
}
