import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { StringDecoder } from "node:string_decoder";
import { createGunzip } from "node:zlib";

/** The least any replay must do: gunzip a chat log and JSON.parse every line, keeping nothing. */
async function floor(path: string): Promise<void> {
  let lines = 0;
  let parsed = 0;
  const parse = (line: string): void => {
    if (line === "") return;
    lines++;
    try {
      JSON.parse(line);
      parsed++;
    } catch {
      // Junk lines are part of the input; a replay has to get past them too.
    }
  };
  await pipeline(createReadStream(path), createGunzip(), async (source: AsyncIterable<Buffer>) => {
    const decoder = new StringDecoder("utf8");
    let rest = "";
    for await (const chunk of source) {
      const parts = (rest + decoder.write(chunk)).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) parse(line);
    }
    parse(rest + decoder.end());
  });
  process.stdout.write(`floor: ${lines} lines, ${parsed} parsed\n`);
}

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write("usage: floor FILE.gz\n");
  process.exitCode = 2;
} else {
  floor(path).catch((error: unknown) => {
    process.stderr.write(`floor: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
