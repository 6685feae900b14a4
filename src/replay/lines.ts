/** Splits text chunks into lines, in batches (on "\n" only: U+2028 and a lone "\r" may sit inside a record). */
export async function* splitLines(texts: AsyncIterable<string>): AsyncGenerator<string[]> {
  let rest = "";
  for await (const text of texts) {
    const parts = (rest + text).split("\n");
    rest = parts.pop() ?? "";
    if (parts.length > 0) yield parts;
  }
  if (rest !== "") yield [rest];
}
