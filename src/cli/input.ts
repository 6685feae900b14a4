import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { InputError } from "../errors";
import { maybeGunzipped } from "../gunzip";

/** A named byte stream to read chat log records from. */
export interface InputSource {
  name: string;
  open(): Readable;
}

const BYTE_ORDER_MARK = Buffer.from([0xef, 0xbb, 0xbf]);
// `aws logs get-log-events` / `filter-log-events` print one JSON document whose first key is one of these.
const CLI_DOCUMENT =
  /^\s*\{\s*"(events|nextForwardToken|nextBackwardToken|searchedLogStreams|nextToken)"\s*:/;

/** Why a file could not be read, in words. */
export function describe(error: unknown): string {
  const err = error as NodeJS.ErrnoException;
  switch (err.code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "Z_DATA_ERROR":
    case "Z_BUF_ERROR":
      return `corrupt gzip data (${err.message})`;
    default:
      return err.message ?? String(error);
  }
}

/**
 * Files named on the command line (`-` is standard input); each is opened first so a missing one
 * fails before any work.
 */
export async function fileSources(paths: readonly string[], stdin: Readable): Promise<InputSource[]> {
  if (paths.filter((path) => path === "-").length > 1) {
    throw new InputError("standard input (-) can be read once only");
  }
  for (const path of paths) {
    if (path === "-") continue;
    try {
      const handle = await open(path, "r");
      const stat = await handle.stat();
      await handle.close();
      if (stat.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    } catch (error) {
      throw new InputError(`cannot read ${path}: ${describe(error)}`, { cause: error });
    }
  }
  return paths.map((path) =>
    path === "-"
      ? stdinSource(stdin)
      : { name: path, open: () => createReadStream(path, { highWaterMark: 1 << 20 }) },
  );
}

/** Standard input as a source; a terminal is refused rather than waited on in silence. */
export function stdinSource(stdin: Readable): InputSource {
  if ((stdin as { isTTY?: boolean }).isTTY === true) {
    throw new InputError("no input: name chat log files, or pipe records to standard input (see --help)");
  }
  return { name: "standard input", open: () => stdin };
}

/**
 * Cuts byte chunks at their last newline, so each batch holds whole lines (UTF-8 never has 0x0A
 * inside a character). Each batch owns its memory, so it can be moved to a worker without a copy.
 */
async function* wholeLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<Uint8Array> {
  let carry = new Uint8Array(0);
  for await (const chunk of chunks) {
    const cut = chunk.lastIndexOf(0x0a);
    if (cut < 0) {
      carry = Buffer.concat([carry, chunk]);
      continue;
    }
    const batch = new Uint8Array(carry.length + cut + 1);
    batch.set(carry);
    batch.set(chunk.subarray(0, cut + 1), carry.length);
    carry = new Uint8Array(chunk.subarray(cut + 1)); // a copy: the chunk's memory may be pooled
    yield batch;
  }
  if (carry.length > 0) yield carry;
}

function cliDocumentMessages(name: string, text: string): string[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new InputError(`cannot read ${name}: looks like aws logs JSON output but is not valid JSON`, {
      cause: error,
    });
  }
  const events = (document as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) {
    // A document of another shape (`{"nextToken":...}` alone, `"events": null`) is not an empty log: say so.
    throw new InputError(
      `cannot read ${name}: an aws logs JSON document needs an "events" list; it has ${events === undefined ? "none" : JSON.stringify(events).slice(0, 40)}`,
    );
  }
  return events.map((event: unknown) => {
    const message = (event as { message?: unknown } | null)?.message;
    return typeof message === "string" ? message : JSON.stringify(message ?? null);
  });
}

/** A batch of input: whole newline-delimited lines as UTF-8 bytes, or records already split out. */
export type RecordBatch = { lines: Uint8Array } | { records: string[] };

/**
 * Reads chat log records from a source: newline-delimited records (as IVS writes to S3 and
 * Firehose) or the JSON that `aws logs get-log-events` / `filter-log-events` print, plain or
 * gzip. Yields batches; a read or gzip error becomes an InputError naming the source.
 */
async function* readRecords(source: InputSource): AsyncGenerator<RecordBatch> {
  try {
    const chunks = maybeGunzipped(source.open());
    const first = await chunks.next();
    if (first.done) return;
    // A byte order mark starts the file, not its first record.
    if (first.value.subarray(0, 3).equals(BYTE_ORDER_MARK)) first.value = first.value.subarray(3);
    if (CLI_DOCUMENT.test(first.value.subarray(0, 4096).toString("utf8"))) {
      // The CLI prints a single (pretty-printed) document; it must be parsed whole.
      const parts = [first.value];
      for await (const more of chunks) parts.push(more);
      yield { records: cliDocumentMessages(source.name, Buffer.concat(parts).toString("utf8")) };
      return;
    }
    const rest = (async function* () {
      yield first.value;
      yield* chunks;
    })();
    // Lines that are not UTF-8 are found (and counted) where they are read, in the workers.
    for await (const lines of wholeLines(rest)) yield { lines };
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`cannot read ${source.name}: ${describe(error)}`, { cause: error });
  }
}

/** Batches of several sources, one after the other in the order given. */
export async function* readAll(sources: readonly InputSource[]): AsyncGenerator<RecordBatch> {
  for (const source of sources) yield* readRecords(source);
}
