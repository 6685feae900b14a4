import { compareInstants, floorDiffMs, formatInstant, type Instant, parseInstant } from "./time";
import type { KeptItem, ReplayCounts, ReplayOptions, SkipReason } from "./types";

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function objectOrEmpty(value: unknown): Json {
  return isObject(value) ? value : {};
}

function deletedMessageId(attributes: unknown): string | undefined {
  if (!isObject(attributes)) return undefined;
  const current = attributes.MessageId;
  if (typeof current === "string" && current !== "") return current;
  const older = attributes.MessageID;
  return typeof older === "string" && older !== "" ? older : undefined;
}

function byTimeThenId(a: KeptItem, b: KeptItem): number {
  return compareInstants(a, b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Turns chat log records into a version 1 replay (SPEC section 3), one record at a time.
 * Memory holds the ids seen, the ids deleted and the items kept, never the raw log.
 */
export class ReplayBuilder {
  readonly counts: ReplayCounts = {
    records: 0,
    messages: 0,
    events: 0,
    deleted: 0,
    duplicates: 0,
    skipped: 0,
  };
  readonly skipReasons: Partial<Record<SkipReason, number>> = {};
  private readonly seen = new Set<string>();
  private readonly deletedIds = new Set<string>();
  private readonly messages: KeptItem[] = [];
  private readonly events: KeptItem[] = [];
  private readonly start: Instant | null;
  private readonly end: Instant | null;

  constructor(private readonly options: ReplayOptions) {
    this.start = options.window.start;
    this.end = options.window.end;
  }

  /** Adds one raw record (a log event's message or a line); blank text is not a record. */
  add(raw: string): void {
    // Most records start with "{": test that before paying for trim().
    if (raw.length === 0 || (raw.charCodeAt(0) <= 32 && raw.trim() === "")) return;
    this.counts.records++;
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch {
      this.skip("notJson");
      return;
    }
    const skipped = this.accept(record);
    if (skipped !== undefined) this.skip(skipped);
  }

  /** Applies rules 1 to 4 and keeps the record if it belongs; returns why it was skipped, if it was. */
  private accept(record: unknown): SkipReason | undefined {
    if (!isObject(record)) return "notAnObject";
    const type = record.type;
    if (type !== "MESSAGE" && type !== "EVENT") return "unknownType";
    const payload = record.payload;
    if (!isObject(payload)) return "missingPayload";
    const id = payload.Id;
    if (typeof id !== "string" || id === "") return "missingId";
    const loggedAt = parseInstant(record.event_timestamp);
    if (loggedAt === undefined) return "badEventTimestamp";
    const sendTime = payload.SendTime;
    const sentAt = parseInstant(sendTime);
    if (sentAt === undefined) return "badSendTime";

    if (this.seen.has(id)) {
      this.counts.duplicates++;
      return;
    }
    this.seen.add(id);

    const name = payload.EventName;
    if (type === "EVENT" && name === "aws:DELETE_MESSAGE") {
      const target = deletedMessageId(payload.Attributes);
      if (target !== undefined) this.deletedIds.add(target);
      return;
    }
    if (!this.inWindow(loggedAt)) return;
    const head = { id, sendTime: sendTime as string, ms: sentAt.ms, sub: sentAt.sub };
    if (type === "MESSAGE") {
      const sender = objectOrEmpty(payload.Sender);
      const tail =
        `,"sendTime":${JSON.stringify(sendTime)},"content":${JSON.stringify(payload.Content ?? null)}` +
        `,"attributes":${JSON.stringify(objectOrEmpty(payload.Attributes))}` +
        `,"sender":{"userId":${JSON.stringify(typeof sender.UserId === "string" ? sender.UserId : null)}` +
        `,"attributes":${JSON.stringify(objectOrEmpty(sender.Attributes))}}}`;
      this.messages.push({ ...head, tail });
    } else if (typeof name !== "string" || !name.startsWith("aws:")) {
      const tail =
        `,"sendTime":${JSON.stringify(sendTime)},"name":${JSON.stringify(typeof name === "string" ? name : null)}` +
        `,"attributes":${JSON.stringify(objectOrEmpty(payload.Attributes))}}`;
      this.events.push({ ...head, tail });
    }
  }

  private inWindow(at: Instant): boolean {
    if (this.start !== null && compareInstants(at, this.start) < 0) return false;
    return this.end === null || compareInstants(at, this.end) < 0;
  }

  private skip(reason: SkipReason): void {
    this.counts.skipped++;
    this.skipReasons[reason] = (this.skipReasons[reason] ?? 0) + 1;
  }

  /** Applies deletions and ordering; returns the finished replay, ready to serialize. */
  finish(): Replay {
    const messages = this.messages.filter((m) => !this.deletedIds.has(m.id));
    this.counts.deleted = this.messages.length - messages.length;
    messages.sort(byTimeThenId);
    this.events.sort(byTimeThenId);
    this.counts.messages = messages.length;
    this.counts.events = this.events.length;
    return new Replay(this.options, { ...this.counts }, { ...this.skipReasons }, messages, this.events);
  }
}

/** A finished replay; `chunks()` renders its bytes, the same for the same inputs. */
export class Replay {
  constructor(
    readonly options: ReplayOptions,
    readonly counts: ReplayCounts,
    readonly skipReasons: Partial<Record<SkipReason, number>>,
    private readonly messages: readonly KeptItem[],
    private readonly events: readonly KeptItem[],
  ) {}

  /** The offset base and how it is written: the option, else the earliest item written. */
  private base(): { at: Instant; text: string } | null {
    if (this.options.offsetBase !== null) {
      return { at: this.options.offsetBase, text: formatInstant(this.options.offsetBase) };
    }
    const first = [this.messages[0], this.events[0]]
      .filter((item) => item !== undefined)
      .sort(byTimeThenId)[0];
    return first === undefined ? null : { at: first, text: first.sendTime };
  }

  /** Serializes the replay as UTF-8 text chunks of about `chunkSize` characters. */
  *chunks(chunkSize = 1 << 16): Generator<string> {
    const { options, counts } = this;
    const base = this.base();
    const window = options.window;
    const header = {
      version: 1,
      channelArn: options.channelArn ?? null,
      roomArn: options.roomArn ?? null,
      streamIds: options.streamIds ?? [],
      recording: options.recording ?? null,
      window: {
        start: window.start === null ? null : formatInstant(window.start),
        end: window.end === null ? null : formatInstant(window.end),
      },
      offsetBase: base === null ? null : base.text,
      counts,
    };
    let buffer = `${JSON.stringify(header).slice(0, -1)},"messages":[`;
    for (const [name, items] of [
      ["messages", this.messages],
      ["events", this.events],
    ] as const) {
      if (name === "events") buffer += `],"events":[`;
      for (let i = 0; i < items.length; i++) {
        const item = items[i] as KeptItem;
        const offset = base === null ? 0 : floorDiffMs(item, base.at);
        buffer += `${i === 0 ? "\n" : ",\n"}{"id":${JSON.stringify(item.id)},"offsetMs":${offset}${item.tail}`;
        if (buffer.length >= chunkSize) {
          yield buffer;
          buffer = "";
        }
      }
      if (items.length > 0) buffer += "\n";
    }
    yield `${buffer}]}\n`;
  }

  /** The whole replay as one string (tests, small replays). */
  toString(): string {
    return Array.from(this.chunks()).join("");
  }
}

/** Raw records one by one or in batches (a log page, a chunk of lines): batches save an await each. */
export type RecordSource = AsyncIterable<string | readonly string[]> | Iterable<string | readonly string[]>;

/** Builds a replay from raw records, consumed as they come. */
export async function buildReplay(records: RecordSource, options: ReplayOptions): Promise<Replay> {
  const builder = new ReplayBuilder(options);
  await feed(builder, records);
  return builder.finish();
}

/** Adds every record of a source to a builder. */
export async function feed(builder: ReplayBuilder, records: RecordSource): Promise<void> {
  for await (const item of records) {
    if (typeof item === "string") builder.add(item);
    else for (const record of item) builder.add(record);
  }
}
