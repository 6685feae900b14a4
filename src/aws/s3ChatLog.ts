import { GetObjectCommand, paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";
import { hourFolder, s3Uri } from "../archive/chat";
import type { ChatLog, ChatLogSource, ChatPage, ReadOptions, SlicePosition } from "../archive/ports";
import { ChatLogReadError, ChatNotFoundError } from "../errors";
import { maybeGunzipped } from "../gunzip";
import { parseInstant } from "../replay";
import { isMissingObject } from "./clients";
import { slicePages } from "./slicePages";

type S3Source = Extract<ChatLogSource, { kind: "s3" }>;
type Body = AsyncIterable<Uint8Array>;

/** What the reader needs; everything but the client has a default. */
export interface S3ChatLogDeps {
  client: S3Client;
  /** Slices (their objects one after another) read at once; default 8. */
  concurrency?: number;
  /** Most records in a page; default 10,000. */
  pageRecords?: number;
  /** Pages a slice may read ahead of the consumer; default 2. */
  readAhead?: number;
}

const HOUR_MS = 3_600_000;
const PAGE_BYTES = 1_048_576;
// A record may be filed in the hour folder before its timestamp's (clocks differ by a little).
const SKEW_MS = 5 * 60_000;
// The S3 destination delivers ~5 minutes late, Firehose after its buffer (at most 15 minutes, and
// some time to write): objects of the read range's last records lie in folders up to this long after its end.
const DELIVERY_MS = 20 * 60_000;
// An object whose body breaks off (connection reset) is read again from where it broke, this often.
const OBJECT_ATTEMPTS = 3;
// A slice's token: `<lines read>:<key>`, or `*:<key>` once the object is read whole.
const WHOLE = "*";

/** Why an object could not be read as a whole, when the fault is in the object (not the network). */
function damage(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  // zlib's errors: not gzip after all, corrupt data, or cut off before its end.
  if (typeof code === "string" && code.startsWith("Z_")) return (error as Error).message;
  return undefined;
}

function awsName(error: unknown): string {
  return error instanceof Error ? error.name : "";
}

// How IVS starts every record; its timestamp then has the form of `toISOString()` (24 characters).
const IVS_HEAD = '{"event_timestamp":"';

// A record that is not JSON is placed by an `event_timestamp` that starts it, spaced or not.
const LEADING_EVENT_TIMESTAMP = /^\s*\{\s*"event_timestamp"\s*:\s*"([^"]{1,64})"/;

/** The record's own (top-level) `event_timestamp`, in ms; undefined when it has no readable one. */
function loggedAt(line: string): number | undefined {
  let at: unknown;
  try {
    at = (JSON.parse(line) as { event_timestamp?: unknown } | null)?.event_timestamp;
  } catch {
    at = LEADING_EVENT_TIMESTAMP.exec(line)?.[1];
  }
  return parseInstant(at)?.ms;
}

/**
 * Whether a record line lies in `[start, end)` by its `event_timestamp`, without parsing the whole
 * record: IVS's own form is compared as text with the bounds in the same form (it orders as the
 * instants do), anything else is parsed (a key of that name may also stand inside the payload);
 * a line that is not JSON, by the `event_timestamp` that starts it. A line without a readable one
 * is kept, for the engine to skip and count.
 */
function inRange(
  line: string,
  range: { start: number; end: number; startIso: string; endIso: string },
): boolean {
  if (
    line.startsWith(IVS_HEAD) &&
    line.charCodeAt(IVS_HEAD.length + 24) === 0x22 &&
    line.charCodeAt(IVS_HEAD.length + 23) === 0x5a
  ) {
    const at = line.slice(IVS_HEAD.length, IVS_HEAD.length + 24);
    return at >= range.startIso && at < range.endIso;
  }
  const at = loggedAt(line);
  return at === undefined || (at >= range.start && at < range.end);
}

/** `toISOString()` of an epoch ms, clamped to the years it writes with four digits. */
const isoOf = (ms: number) =>
  new Date(Math.min(Math.max(ms, -62_167_219_200_000), 253_402_300_799_999)).toISOString();

/**
 * A room's chat log in S3: gzip (or plain) objects of newline-delimited records in UTC hour
 * folders below the room's folder, as the S3 logging destination and Firehose write them. Each
 * slice reads the objects of its hours (the first also the minutes before, the last the delivery
 * delay after), in key order, streamed; records whose `event_timestamp` lies outside the read
 * range are left out. An object that is not valid gzip or is cut short is given up on, with the
 * reason on its page; the records read before the damage are kept.
 */
export class S3ChatLog implements ChatLog {
  constructor(private readonly deps: S3ChatLogDeps) {}

  read(
    source: ChatLogSource,
    slices: readonly SlicePosition[],
    { windDown }: ReadOptions = {},
  ): AsyncIterable<ChatPage> {
    if (source.kind !== "s3") throw new TypeError(`not an S3 source: ${source.kind}`);
    const range = {
      start: Math.min(...slices.map((slice) => slice.start)),
      end: Math.max(...slices.map((slice) => slice.end)),
    };
    return slicePages(slices, (index, from, stopped) => this.slice(source, range, index, from, stopped), {
      concurrency: this.deps.concurrency ?? 8,
      readAhead: this.deps.readAhead ?? 2,
      ...(windDown && { windDown }),
    });
  }

  private async *slice(
    source: S3Source,
    range: { start: number; end: number },
    index: number,
    from: SlicePosition,
    stopped: () => boolean,
  ): AsyncGenerator<ChatPage> {
    const keys = await this.list(source, foldersOf(from, range, source.prefix), range.start - SKEW_MS);
    const separator = from.token?.indexOf(":") ?? -1;
    const atKey = separator < 0 ? undefined : from.token?.slice(separator + 1);
    const atLine = separator < 0 ? undefined : from.token?.slice(0, separator);
    const todo = keys.filter(
      (key) => atKey === undefined || key > atKey || (key === atKey && atLine !== WHOLE),
    );
    let position = from;
    // The next object's request goes out while this one is read; winding down, none goes out.
    const ahead = (key: string | undefined) =>
      key === undefined || stopped() ? undefined : this.prefetch(source, key);
    let next = ahead(todo[0]);
    try {
      for (const [i, key] of todo.entries()) {
        if (stopped()) return;
        const body = next;
        next = ahead(todo[i + 1]);
        const skip = key === atKey ? Number(atLine) : 0;
        for await (const page of this.object(source, range, index, key, skip, position, stopped, body)) {
          position = page.next;
          yield page;
          // Winding down: the rest of the object is read by the next run, from this page's line.
          if (stopped()) return;
        }
      }
    } finally {
      // A request made ahead and never read: its connection goes back.
      next?.then(
        (body) => (body as { destroy?: () => void } | undefined)?.destroy?.(),
        () => undefined,
      );
    }
    // An object left part-read (its body broke off while winding down) leaves the slice not done.
    if (stopped()) return;
    yield { slice: index, seq: position.read, records: [], next: { ...position, done: true }, retries: 0 };
  }

  /** An object's body asked for ahead of its turn; its failure waits for its turn too. */
  private prefetch(source: S3Source, key: string): Promise<Body | undefined> {
    const body = this.get(source, key);
    body.catch(() => undefined);
    return body;
  }

  /** The object's pages from line `skip` on; the last one marks the object read whole (or given up on). */
  private async *object(
    source: S3Source,
    range: { start: number; end: number },
    index: number,
    key: string,
    skip: number,
    from: SlicePosition,
    stopped: () => boolean,
    requested?: Promise<Body | undefined>,
  ): AsyncGenerator<ChatPage> {
    const pageRecords = this.deps.pageRecords ?? 10_000;
    const bounds = { ...range, startIso: isoOf(range.start), endIso: isoOf(range.end) };
    let position = from;
    let line = 0;
    let paged = skip;
    let records: string[] = [];
    let bytes = 0;
    const page = (token: string, unreadable?: string): ChatPage => {
      const next = { ...position, token, read: position.read + records.length };
      const out: ChatPage = { slice: index, seq: position.read, records, next, retries: 0 };
      if (unreadable !== undefined) out.unreadable = `s3://${source.bucket}/${key}: ${unreadable}`;
      position = next;
      paged = line;
      records = [];
      bytes = 0;
      return out;
    };
    const take = (raw: string) => {
      // A byte order mark starts the object, not its first record (as the offline command reads it).
      const text = line === 0 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      if (line++ < paged || text.trim() === "") return;
      if (!inRange(text, bounds)) return;
      records.push(text);
      bytes += text.length;
    };
    for (let attempt = 1; ; attempt++) {
      // The request itself is retried by the SDK; a body that breaks off is read again from its start,
      // passing over the lines already paged (winding down, the next run does that).
      if (attempt > 1 && stopped()) return;
      const body = await (attempt === 1 && requested !== undefined ? requested : this.get(source, key));
      if (body === undefined) {
        yield page(`${WHOLE}:${key}`, "gone before it could be read");
        return;
      }
      line = 0;
      records = [];
      bytes = 0;
      try {
        // The pieces of a line that goes on in the next chunks (only that line is ever copied), put
        // together once it ends: a long line in many chunks costs its length, not its square.
        const carry: Buffer[] = [];
        for await (const chunk of maybeGunzipped(body)) {
          let start = 0;
          for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
            if (carry.length === 0) take(chunk.toString("utf8", start, end));
            else {
              take(Buffer.concat([...carry.splice(0), chunk.subarray(0, end)]).toString("utf8"));
            }
            start = end + 1;
            if (records.length >= pageRecords || bytes >= PAGE_BYTES) yield page(`${line}:${key}`);
          }
          if (start < chunk.length) carry.push(Buffer.from(chunk.subarray(start)));
        }
        if (carry.length > 0) take(Buffer.concat(carry).toString("utf8"));
        yield page(`${WHOLE}:${key}`);
        return;
      } catch (error) {
        const why = damage(error);
        if (why !== undefined) {
          yield page(`${WHOLE}:${key}`, why);
          return;
        }
        if (attempt >= OBJECT_ATTEMPTS) throw error;
      }
    }
  }

  /** The object's body; undefined when it is gone (deleted since the listing). */
  private async get(source: S3Source, key: string): Promise<Body | undefined> {
    try {
      const out = await this.deps.client.send(new GetObjectCommand({ Bucket: source.bucket, Key: key }));
      return out.Body as Body | undefined;
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw this.permanent(error, source) ?? error;
    }
  }

  /** Keys of the folders' objects written since `modifiedSince`, in key order. */
  private async list(source: S3Source, folders: readonly string[], modifiedSince: number): Promise<string[]> {
    const keys: string[] = [];
    for (const folder of folders) {
      try {
        for await (const out of paginateListObjectsV2(
          { client: this.deps.client },
          { Bucket: source.bucket, Prefix: folder },
        )) {
          for (const object of out.Contents ?? []) {
            // An object written before the range began holds none of its records.
            const modified = object.LastModified?.getTime() ?? Number.POSITIVE_INFINITY;
            if (object.Key && !object.Key.endsWith("/") && modified >= modifiedSince) keys.push(object.Key);
          }
        }
      } catch (error) {
        throw this.permanent(error, source) ?? error;
      }
    }
    return keys.sort();
  }

  /** The permanent error an S3 error means for this source, if it is one. */
  private permanent(error: unknown, source: S3Source): Error | undefined {
    const name = awsName(error);
    const where = s3Uri(source);
    if (name === "AccessDenied" || name === "AccessDeniedException" || name === "Forbidden") {
      return new ChatLogReadError(
        `not allowed to read the chat log at ${where} (is it within the chatLogS3Uris parameter?): ${(error as Error).message}`,
        { permanent: true, cause: error },
      );
    }
    if (name === "NoSuchBucket") {
      return new ChatNotFoundError(`the chat log bucket ${source.bucket} (${where}) does not exist`, {
        cause: error,
      });
    }
    return undefined;
  }
}

/**
 * The hour folders a slice reads: those whose hour starts within it, where the hours before the
 * read range (clock skew) go to the slice that starts it and those after (delivery delay) to the
 * slice that ends it, so each folder is read by one slice, whatever the slices' bounds.
 */
export function foldersOf(
  slice: SlicePosition,
  range: { start: number; end: number },
  prefix: string,
): string[] {
  if (range.end <= range.start) return [];
  const folders: string[] = [];
  const first = Math.floor((range.start - SKEW_MS) / HOUR_MS) * HOUR_MS;
  for (let hour = first; hour <= range.end + DELIVERY_MS; hour += HOUR_MS) {
    const owner = Math.min(Math.max(hour, range.start), range.end - 1);
    if (owner >= slice.start && owner < slice.end) folders.push(hourFolder(prefix, hour));
  }
  return folders;
}
