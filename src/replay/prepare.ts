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
 * rules 1, 3, 4 and 6): validated, placed against the window, output rendered. `ReplayBuilder`
 * applies the rest (duplicates, deletions, order). Columns of plain data, so worker threads can
 * prepare batches in parallel and hand them over cheaply.
 */
export interface PreparedBatch {
  /** One code per record: an `Outcome`, or `Outcome.Skipped + reason index`. */
  outcomes: Uint8Array;
  /** One per record: `payload.Id` ("" when skipped). */
  ids: string[];
  /** One per kept record (Message/Event), in order: `sendTime` epoch ms and sub-ms digits. */
  ms: Float64Array;
  subs: string[];
  /** The kept records' JSON (without id and offset) as UTF-8, back to back; `restEnds[k]` ends record k. */
  rests: Uint8Array;
  restEnds: Int32Array;
  /** One per Delete record, in order: the message id it names ("" when none). */
  targets: string[];
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
  return raw.length === 0 || (raw.charCodeAt(0) <= 32 && raw.trim() === "");
}

const skipped = (reason: SkipReason) => Outcome.Skipped + SKIP_REASONS.indexOf(reason);
const encoder = new TextEncoder();

/** Appends UTF-8 text to a growing byte buffer: rendered output travels and is kept as bytes. */
class ByteWriter {
  bytes = new Uint8Array(1 << 16);
  length = 0;
  readonly ends: number[] = [];

  push(text: string): void {
    if (this.bytes.length - this.length < text.length * 3) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + text.length * 3));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.length += encoder.encodeInto(text, this.bytes.subarray(this.length)).written;
    this.ends.push(this.length);
  }
}

/** Prepares records (log event messages or non-blank lines) in input order. */
export function prepareBatch(raws: readonly string[], window: PrepareWindow): PreparedBatch {
  const outcomes = new Uint8Array(raws.length);
  const ids = new Array<string>(raws.length);
  const into = {
    ids,
    ms: [] as number[],
    subs: [] as string[],
    rests: new ByteWriter(),
    targets: [] as string[],
  };
  for (let i = 0; i < raws.length; i++) {
    const outcome = prepareOne(raws[i] as string, window, into, i);
    outcomes[i] = outcome;
    if (outcome >= Outcome.Skipped) ids[i] = "";
  }
  const { ms, subs, rests, targets } = into;
  return {
    outcomes,
    ids,
    ms: Float64Array.from(ms),
    subs,
    rests: rests.bytes.slice(0, rests.length),
    restEnds: Int32Array.from(rests.ends),
    targets,
  };
}

interface Into {
  ids: string[];
  ms: number[];
  subs: string[];
  rests: ByteWriter;
  targets: string[];
}

function prepareOne(raw: string, window: PrepareWindow, batch: Into, i: number): number {
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
  batch.ids[i] = id;

  const name = payload.EventName;
  if (type === "EVENT" && name === "aws:DELETE_MESSAGE") {
    batch.targets.push(deletedMessageId(payload.Attributes));
    return Outcome.Delete;
  }
  const moderation = type === "EVENT" && typeof name === "string" && name.startsWith("aws:");
  if (moderation || !inWindow(loggedAt, window)) return Outcome.Seen;
  batch.ms.push(sentAt.ms);
  batch.subs.push(sentAt.sub);
  // One JSON.stringify per item gives one flat string to keep: cheap to hold, cheap for the GC.
  if (type === "MESSAGE") {
    const sender = objectOrEmpty(payload.Sender);
    batch.rests.push(
      JSON.stringify({
        sendTime,
        content: payload.Content ?? null,
        attributes: objectOrEmpty(payload.Attributes),
        sender: {
          userId: typeof sender.UserId === "string" ? sender.UserId : null,
          attributes: objectOrEmpty(sender.Attributes),
        },
      }),
    );
    return Outcome.Message;
  }
  batch.rests.push(
    JSON.stringify({
      sendTime,
      name: typeof name === "string" ? name : null,
      attributes: objectOrEmpty(payload.Attributes),
    }),
  );
  return Outcome.Event;
}
