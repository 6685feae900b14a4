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
// Bytes of a source's start looked at to tell its form.
const HEAD_BYTES = 4096;
// `aws logs get-log-events` / `filter-log-events` print one JSON document whose first key is one
// of these; with `--query events`, the list of events alone, whose first key is one of an event's.
const CLI_DOCUMENT =
  /^\s*(\{\s*"(events|nextForwardToken|nextBackwardToken|searchedLogStreams|nextToken)"\s*:|\[\s*(\]|\{\s*"(logStreamName|timestamp|message|ingestionTime|eventId)"\s*:))/;

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

/** `pieces` put together in memory of their own (Buffer.concat may give a slice of the shared pool). */
function joined(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/**
 * Cuts byte chunks at their last newline, so each batch holds whole lines (UTF-8 never has 0x0A
 * inside a character). Each batch owns its memory, so it can be moved to a worker without a copy.
 * A line that goes on over many chunks is kept as its pieces and put together once.
 */
async function* wholeLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<Uint8Array> {
  // Copies: a chunk's memory may be pooled.
  const carry: Uint8Array[] = [];
  for await (const chunk of chunks) {
    const cut = chunk.lastIndexOf(0x0a);
    if (cut < 0) {
      carry.push(new Uint8Array(chunk));
      continue;
    }
    const batch = joined([...carry.splice(0), chunk.subarray(0, cut + 1)]);
    if (cut + 1 < chunk.length) carry.push(new Uint8Array(chunk.subarray(cut + 1)));
    yield batch;
  }
  const last = joined(carry);
  if (last.length > 0) yield last;
}

const OPEN = 0x7b;
const CLOSE = 0x7d;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;

const JSON_BLANK = /^[ \t\n\r]*$/;

/**
 * The `events` of the JSON document `aws logs get-log-events` / `filter-log-events` print (or
 * the list of events alone, as `--query events` prints it), read
 * as its bytes come, one event at a time: memory holds the event being read, whatever the
 * document's size. Each event becomes its `message` (another value as its JSON), as JSON.parse
 * of the whole document would give them. The bytes are followed (strings, nesting, the root
 * object's keys); each event is parsed on its own, and the rest of the document (the root object
 * with an empty `events` list) is kept and parsed at the end, so what JSON.parse refuses is refused.
 */
export class DocumentEvents {
  /** The brackets open (`{` or `[`), innermost last. */
  private readonly open: number[] = [];
  private inString = false;
  private escaped = false;
  /** In the root object: the next string is a member's key, as this text is (undecoded). */
  private atKey = false;
  private key: Buffer[] | undefined;
  private keyFrom = 0;
  private keyWasEvents = false;
  /** After the `:` of the root's `events`: a list there is read event by event. */
  private eventsNext = false;
  private eventsMembers = 0;
  /** Where the events are: in the root object's `events` (depth 2) or in a root list (depth 1). */
  private eventsDepth = 2;
  private rootList = false;
  /** In the root's `events` list: the bytes of the event being read, and how many were read. */
  private event: Buffer[] | undefined;
  private eventFrom = 0;
  private events = 0;
  /** The document without its events, for JSON.parse at the end; `skeletonFrom` is where in the chunk it goes on. */
  private readonly skeleton: Buffer[] = [];
  private skeletonFrom = 0;

  constructor(private readonly name: string) {}

  private invalid(): InputError {
    return new InputError(`cannot read ${this.name}: looks like aws logs JSON output but is not valid JSON`);
  }

  /** Ends the event being read at `at` of `chunk`: its message, or nothing for the blank of an empty list. */
  private endEvent(chunk: Buffer, at: number, last: boolean, into: string[]): void {
    const parts = this.event ?? [];
    parts.push(chunk.subarray(this.eventFrom, at));
    const text = Buffer.concat(parts).toString("utf8");
    this.event = undefined;
    if (JSON_BLANK.test(text)) {
      // Only `[]` has no event in it: `[,` and `,,` and `,]` are not JSON.
      if (last && this.events === 0) return;
      throw this.invalid();
    }
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch {
      throw this.invalid();
    }
    this.events++;
    const message = (event as { message?: unknown } | null)?.message;
    into.push(typeof message === "string" ? message : JSON.stringify(message ?? null));
  }

  /** The messages of the events that end in `chunk`. */
  push(chunk: Buffer): string[] {
    const messages: string[] = [];
    this.skeletonFrom = 0;
    this.keyFrom = 0;
    this.eventFrom = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) {
          this.inString = false;
          if (this.key !== undefined) {
            this.key.push(chunk.subarray(this.keyFrom, i));
            this.keyIsEvents(Buffer.concat(this.key).toString("utf8"));
            this.key = undefined;
          }
        }
        continue;
      }
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
      const listNext = this.eventsNext;
      this.eventsNext = false;
      const inEvents = this.event !== undefined && this.open.length === this.eventsDepth;
      if (c === QUOTE) {
        this.inString = true;
        if (this.open.length === 1 && this.atKey) {
          this.atKey = false;
          this.key = [];
          this.keyFrom = i + 1;
        }
      } else if (c === OPEN || c === OPEN_LIST) {
        this.open.push(c);
        if (this.open.length === 1 && c === OPEN) this.atKey = true;
        // The root's events list, or a root list (of events alone).
        if (c === OPEN_LIST && (listNext || this.open.length === 1)) {
          this.rootList = this.open.length === 1;
          this.eventsDepth = this.open.length;
          // The skeleton keeps the list's brackets only.
          this.skeleton.push(chunk.subarray(this.skeletonFrom, i + 1));
          this.event = [];
          this.eventFrom = i + 1;
          this.events = 0;
        }
      } else if (c === CLOSE || c === CLOSE_LIST) {
        if (inEvents && c === CLOSE_LIST) {
          this.endEvent(chunk, i, true, messages);
          this.skeletonFrom = i;
        }
        if (this.open.pop() !== (c === CLOSE ? OPEN : OPEN_LIST)) throw this.invalid();
      } else if (c === COMMA) {
        if (inEvents) {
          this.endEvent(chunk, i, false, messages);
          this.event = [];
          this.eventFrom = i + 1;
        } else if (this.open.length === 1) this.atKey = true;
      } else if (c === COLON && this.open.length === 1 && this.keyWasEvents) {
        this.keyWasEvents = false;
        this.eventsNext = true;
        this.eventsMembers++;
      }
    }
    if (this.key !== undefined) this.key.push(chunk.subarray(this.keyFrom));
    if (this.event !== undefined) this.event.push(chunk.subarray(this.eventFrom));
    else this.skeleton.push(chunk.subarray(this.skeletonFrom));
    return messages;
  }

  /** Notes whether the root member whose key was just read is `events` (its key decoded, escapes and all). */
  private keyIsEvents(raw: string): void {
    try {
      this.keyWasEvents = JSON.parse(`"${raw}"`) === "events";
    } catch {
      throw this.invalid();
    }
  }

  /** Checks that the document ended whole, is JSON, and had one `events` list. */
  end(): void {
    if (this.inString || this.open.length > 0) throw this.invalid();
    let document: unknown;
    try {
      document = JSON.parse(Buffer.concat(this.skeleton).toString("utf8"));
    } catch {
      throw this.invalid();
    }
    const events = this.rootList ? document : (document as { events?: unknown } | null)?.events;
    if (!Array.isArray(events)) {
      // A document of another shape (`{"nextToken":...}` alone, `"events": null`) is not an empty log: say so.
      const has = events === undefined ? "none" : JSON.stringify(events).slice(0, 40);
      throw new InputError(
        `cannot read ${this.name}: an aws logs JSON document needs an "events" list; it has ${has}`,
      );
    }
    // JSON.parse keeps the last of two; the events of the first are read already.
    if (this.eventsMembers > 1) {
      throw new InputError(
        `cannot read ${this.name}: an aws logs JSON document has one "events" list; it has ${this.eventsMembers}`,
      );
    }
  }
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
    // The head tells the form apart (and may hold a byte order mark): enough of it, however a pipe cuts it.
    const head: Buffer[] = [];
    let headBytes = 0;
    while (headBytes < HEAD_BYTES) {
      const next = await chunks.next();
      if (next.done) break;
      head.push(next.value);
      headBytes += next.value.length;
    }
    if (headBytes === 0) return;
    let first = head.length === 1 ? (head[0] as Buffer) : Buffer.concat(head);
    // A byte order mark starts the file, not its first record.
    if (first.subarray(0, 3).equals(BYTE_ORDER_MARK)) first = first.subarray(3);
    if (CLI_DOCUMENT.test(first.subarray(0, HEAD_BYTES).toString("utf8"))) {
      // The CLI prints a single (pretty-printed) document: its events are read one by one.
      const document = new DocumentEvents(source.name);
      const records = document.push(first);
      if (records.length > 0) yield { records };
      for await (const more of chunks) {
        const records = document.push(more);
        if (records.length > 0) yield { records };
      }
      document.end();
      return;
    }
    const rest = (async function* () {
      yield first;
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
