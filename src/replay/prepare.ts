import { isUtf8 } from "node:buffer";
import { cueEscaped, isMessage, MessageFields, scanMessage, writeMessage } from "./messageBytes";
import { ItemWriter } from "./runs";
import { compareInstants, type Instant, parseInstant } from "./time";
import type { SkipReason } from "./types";

/**
 * What `prepareBatch` found a record to be: a message or custom event of the window (kept unless
 * a duplicate, or a deleted message), a deletion, a record that only counts for duplicates
 * (outside the window, moderation), or skipped (rule 1) with reason `SKIP_REASONS[code - Skipped]`.
 */
export const Outcome = { Message: 0, Event: 1, Delete: 2, Seen: 3, Skipped: 4 } as const;

/** Skip reasons in the order their outcome codes follow `Outcome.Skipped`. */
export const SKIP_REASONS: readonly SkipReason[] = [
  "notJson",
  "notAnObject",
  "unknownType",
  "missingPayload",
  "missingId",
  "badEventTimestamp",
  "badSendTime",
];

/**
 * A batch of records after the rules that need no memory of other records (SPEC section 3,
 * rules 1, 3, 4 and 6): validated, placed against the window, output rendered. `ReplayEngine`
 * applies the rest (duplicates, deletions, order). Plain columns and bytes, so worker threads can
 * prepare batches in parallel and hand them over without a copy, and the engine keeps no object
 * per item.
 */
export interface PreparedBatch {
  /** One code per record: an `Outcome`, or `Outcome.Skipped + reason index`. */
  outcomes: Uint8Array;
  /** Every record's `payload.Id`, back to back ("" when skipped); `idEnds[i]` ends record i's. */
  idText: string;
  idEnds: Int32Array;
  /** The kept records (Message/Event), in order, as run items (see `runs.ts`) with log position 0; `itemEnds[k]` ends item k. */
  items: Uint8Array;
  itemEnds: Int32Array;
  /** One per Delete record, in order: the message id it names ("" when none). */
  targets: string[];
  /** Lines that were not UTF-8, read with U+FFFD in place of the bad bytes (0 for records given as strings). */
  notUtf8: number;
}

/** The window a record must fall in; `null` ends are unbounded. */
export interface PrepareWindow {
  start: Instant | null;
  end: Instant | null;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function objectOrEmpty(value: unknown): Json {
  return isObject(value) ? value : {};
}

function deletedMessageId(attributes: unknown): string {
  if (!isObject(attributes)) return "";
  const current = attributes.MessageId;
  if (typeof current === "string" && current !== "") return current;
  const older = attributes.MessageID;
  return typeof older === "string" ? older : "";
}

function inWindow(at: Instant, window: PrepareWindow): boolean {
  if (window.start !== null && compareInstants(at, window.start) < 0) return false;
  return window.end === null || compareInstants(at, window.end) < 0;
}

/** True for text that is not a record (blank lines). */
export function isBlank(raw: string): boolean {
  // Most records start with "{": test that before paying for trim().
  return raw.length === 0 || (raw.charCodeAt(0) !== 0x7b && raw.trim() === "");
}

const NEEDS_CUE_ESCAPE = /[&<>\r\n]/;

/**
 * A message's line in the transcript (SPEC section 4): `<attributes.username, else sender.userId>:
 * <content>`, escaped as WebVTT requires (`&`, `<`, `>`; so no `-->` either), its newlines kept but
 * never an empty line, which would end the cue. Rendered here, where the record is parsed anyway,
 * so writing the transcript parses nothing.
 */
function cueText(username: unknown, userId: string | null, content: unknown): string {
  const who = typeof username === "string" && username !== "" ? username : (userId ?? "");
  // As replay.json renders it: a number too large for a double (Infinity) is null there, so nothing here.
  const absent = content === null || (typeof content === "number" && !Number.isFinite(content));
  const text = `${who}: ${typeof content === "string" ? content : absent ? "" : JSON.stringify(content)}`;
  // Most lines have nothing to escape: one test instead of four passes.
  if (!NEEDS_CUE_ESCAPE.test(text)) return text;
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replace(/[\r\n]+/g, "\n");
}

const skipped = (reason: SkipReason) => Outcome.Skipped + SKIP_REASONS.indexOf(reason);

/** Collects a batch's columns record by record. */
class BatchBuilder {
  readonly into: Into;
  private readonly outcomes: number[] = [];
  private readonly idEnds: number[] = [];
  private idLength = 0;
  notUtf8 = 0;

  constructor(transcript: boolean, capacity?: number) {
    this.into = { ids: [], items: new ItemWriter(capacity), targets: [], transcript };
  }

  add(outcome: number): void {
    if (outcome >= Outcome.Skipped) this.into.ids.push("");
    this.idLength += (this.into.ids[this.outcomes.length] as string).length;
    this.outcomes.push(outcome);
    this.idEnds.push(this.idLength);
  }

  finish(): PreparedBatch {
    const { bytes, ends } = this.into.items.take();
    return {
      outcomes: Uint8Array.from(this.outcomes),
      idText: this.into.ids.join(""),
      idEnds: Int32Array.from(this.idEnds),
      items: bytes,
      itemEnds: ends,
      targets: this.into.targets,
      notUtf8: this.notUtf8,
    };
  }
}

/**
 * Prepares records (log event messages or non-blank lines) in input order; with `transcript`
 * false, messages carry no transcript line (a replay that writes only `replay.json`).
 */
export function prepareBatch(
  raws: readonly string[],
  window: PrepareWindow,
  transcript = true,
): PreparedBatch {
  const batch = new BatchBuilder(transcript);
  for (const raw of raws) batch.add(prepareOne(raw, window, batch.into));
  return batch.finish();
}

/**
 * `prepareBatch` for the non-blank lines of UTF-8 bytes. A chat message in the shape IVS writes
 * is read from its bytes (`messageBytes.ts`); any other line is decoded on its own (an ASCII line
 * then becomes a one-byte string, which JSON.parse reads faster than a slice of a two-byte batch
 * string) and parsed.
 */
export function prepareLines(bytes: Buffer, window: PrepareWindow, transcript: boolean): PreparedBatch {
  // Run items are about as long as the records they come from (a transcript line adds a little).
  const batch = new BatchBuilder(transcript, bytes.length + (1 << 16));
  // Bytes that are not UTF-8 are read as U+FFFD: decoding does that, so such a line is decoded.
  const allUtf8 = isUtf8(bytes);
  for (let start = 0; start < bytes.length; ) {
    const newline = bytes.indexOf(0x0a, start);
    const end = newline < 0 ? bytes.length : newline;
    if (end > start) {
      const readable = allUtf8 || isUtf8(bytes.subarray(start, end));
      if (!readable) batch.notUtf8++;
      const outcome = readable ? prepareMessageBytes(bytes, start, end, window, batch.into) : NOT_READ;
      if (outcome !== NOT_READ) batch.add(outcome);
      else {
        const line = bytes.toString("utf8", start, end);
        if (!isBlank(line)) batch.add(prepareOne(line, window, batch.into));
      }
    }
    start = end + 1;
  }
  return batch.finish();
}

const NOT_READ = -1;
const scanned = new MessageFields();

/** `prepareOne` for a message `scanMessage` reads; NOT_READ for any other line, which is then parsed. */
function prepareMessageBytes(
  b: Buffer,
  start: number,
  end: number,
  window: PrepareWindow,
  batch: Into,
): number {
  const f = scanned;
  if (!scanMessage(b, start, end, f) || !isMessage(b, f)) return NOT_READ;
  if (f.id.start < 0 || f.id.end - f.id.start === 2 || f.loggedAt.start < 0 || f.sendTime.start < 0)
    return NOT_READ;
  if (batch.transcript && cueEscaped(f)) return NOT_READ;
  const loggedAt = parseInstant(f.loggedAt.text(b));
  const sentAt = parseInstant(f.sendTime.text(b));
  if (loggedAt === undefined || sentAt === undefined) return NOT_READ;
  batch.ids.push(f.id.text(b));
  if (!inWindow(loggedAt, window)) return Outcome.Seen;
  writeMessage(batch.items, b, end - start, f, sentAt, batch.transcript);
  return Outcome.Message;
}

interface Into {
  ids: string[];
  items: ItemWriter;
  targets: string[];
  transcript: boolean;
}

function prepareOne(raw: string, window: PrepareWindow, batch: Into): number {
  let record: unknown;
  try {
    record = JSON.parse(raw);
  } catch {
    return skipped("notJson");
  }
  if (!isObject(record)) return skipped("notAnObject");
  const type = record.type;
  if (type !== "MESSAGE" && type !== "EVENT") return skipped("unknownType");
  const payload = record.payload;
  if (!isObject(payload)) return skipped("missingPayload");
  const id = payload.Id;
  if (typeof id !== "string" || id === "") return skipped("missingId");
  const loggedAt = parseInstant(record.event_timestamp);
  if (loggedAt === undefined) return skipped("badEventTimestamp");
  const sendTime = payload.SendTime;
  const sentAt = parseInstant(sendTime);
  if (sentAt === undefined) return skipped("badSendTime");
  batch.ids.push(id);

  const name = payload.EventName;
  if (type === "EVENT" && name === "aws:DELETE_MESSAGE") {
    batch.targets.push(deletedMessageId(payload.Attributes));
    return Outcome.Delete;
  }
  const moderation = type === "EVENT" && typeof name === "string" && name.startsWith("aws:");
  if (moderation || !inWindow(loggedAt, window)) return Outcome.Seen;
  if (type === "MESSAGE") {
    const sender = objectOrEmpty(payload.Sender);
    const attributes = objectOrEmpty(payload.Attributes);
    const userId = typeof sender.UserId === "string" ? sender.UserId : null;
    const content = payload.Content ?? null;
    batch.items.push(
      sentAt,
      id,
      JSON.stringify({
        sendTime,
        content,
        attributes,
        sender: { userId, attributes: objectOrEmpty(sender.Attributes) },
      }),
      batch.transcript ? cueText(attributes.username, userId, content) : "",
    );
    return Outcome.Message;
  }
  batch.items.push(
    sentAt,
    id,
    JSON.stringify({
      sendTime,
      name: typeof name === "string" ? name : null,
      attributes: objectOrEmpty(payload.Attributes),
    }),
    "",
  );
  return Outcome.Event;
}
