import {
  isBlank,
  Outcome,
  type PreparedBatch,
  type PrepareWindow,
  prepareBatch,
  SKIP_REASONS,
} from "./prepare";
import { compareInstants, floorDiffMs, formatInstant, type Instant } from "./time";
import type { KeptItem, ReplayCounts, ReplayOptions, SkipReason } from "./types";

const decoder = new TextDecoder();

function restText(item: KeptItem): string {
  return decoder.decode(item.bytes.subarray(item.start, item.end));
}

/** Fills fixed-size buffers with text and byte ranges, handing out full ones. */
class ChunkWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(private readonly size: number) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  private room(bytes: number): void {
    if (this.buffer.length - this.length >= bytes) return;
    const grown = Buffer.allocUnsafe(Math.max(this.size, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  text(text: string): void {
    this.room(text.length * 3);
    this.length += this.buffer.write(text, this.length, "utf8");
  }

  bytes(source: Buffer, start: number, end: number): void {
    this.room(end - start);
    this.length += source.copy(this.buffer, this.length, start, end);
  }

  full(): boolean {
    return this.length >= this.size - 4096;
  }

  take(): Buffer {
    const chunk = this.buffer.subarray(0, this.length);
    this.buffer = Buffer.allocUnsafe(this.size);
    this.length = 0;
    return chunk;
  }
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
  private readonly window: PrepareWindow;

  constructor(private readonly options: ReplayOptions) {
    this.window = options.window;
  }

  /** Adds one raw record (a log event's message or a line); blank text is not a record. */
  add(raw: string): void {
    if (!isBlank(raw)) this.applyBatch(prepareBatch([raw], this.window));
  }

  /** Adds raw records; blank ones are not records. */
  addAll(raws: readonly string[]): void {
    this.applyBatch(
      prepareBatch(
        raws.filter((raw) => !isBlank(raw)),
        this.window,
      ),
    );
  }

  /** Applies the rules that depend on earlier records to a prepared batch (see `prepareBatch`). */
  applyBatch(batch: PreparedBatch): void {
    const { outcomes, ids, ms, subs, rests, restEnds, targets } = batch;
    const rendered = Buffer.from(rests.buffer, rests.byteOffset, rests.byteLength);
    let kept = 0;
    let deletion = 0;
    this.counts.records += outcomes.length;
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i] as number;
      if (outcome >= Outcome.Skipped) {
        const reason = SKIP_REASONS[outcome - Outcome.Skipped] as SkipReason;
        this.counts.skipped++;
        this.skipReasons[reason] = (this.skipReasons[reason] ?? 0) + 1;
        continue;
      }
      const id = ids[i] as string;
      const k = outcome === Outcome.Message || outcome === Outcome.Event ? kept++ : -1;
      const d = outcome === Outcome.Delete ? deletion++ : -1;
      if (this.seen.has(id)) {
        this.counts.duplicates++;
        continue;
      }
      this.seen.add(id);
      if (d >= 0) {
        const target = targets[d] as string;
        if (target !== "") this.deletedIds.add(target);
      } else if (k >= 0) {
        const start = k === 0 ? 0 : (restEnds[k - 1] as number);
        const item = {
          id,
          ms: ms[k] as number,
          sub: subs[k] as string,
          bytes: rendered,
          start,
          end: restEnds[k] as number,
        };
        (outcome === Outcome.Message ? this.messages : this.events).push(item);
      }
    }
  }

  /** The state so far as newline-terminated JSON text, for a later run to `restore` and continue. */
  *snapshot(batch = 1000): Generator<string> {
    yield `${JSON.stringify({ counts: this.counts, skipReasons: this.skipReasons })}\n`;
    const parts: [string, Iterable<unknown>][] = [
      ["seen", this.seen],
      ["deleted", this.deletedIds],
      ["messages", this.messages.map((m) => [m.id, m.ms, m.sub, restText(m)])],
      ["events", this.events.map((e) => [e.id, e.ms, e.sub, restText(e)])],
    ];
    for (const [part, values] of parts) {
      let rows: unknown[] = [];
      for (const value of values) {
        rows.push(value);
        if (rows.length === batch) {
          yield `${JSON.stringify([part, rows])}\n`;
          rows = [];
        }
      }
      if (rows.length > 0) yield `${JSON.stringify([part, rows])}\n`;
    }
  }

  /** A builder with the state a `snapshot` saved (lines in batches), to continue adding records. */
  static async restore(
    options: ReplayOptions,
    lines: AsyncIterable<readonly string[]>,
  ): Promise<ReplayBuilder> {
    const builder = new ReplayBuilder(options);
    let first = true;
    for await (const batch of lines) {
      for (const line of batch) {
        if (line === "") continue;
        if (first) {
          const head = JSON.parse(line) as Pick<ReplayBuilder, "counts" | "skipReasons">;
          Object.assign(builder.counts, head.counts);
          Object.assign(builder.skipReasons, head.skipReasons);
          first = false;
          continue;
        }
        const [part, rows] = JSON.parse(line) as [string, unknown[]];
        if (part === "seen") for (const id of rows as string[]) builder.seen.add(id);
        else if (part === "deleted") for (const id of rows as string[]) builder.deletedIds.add(id);
        else {
          const items = part === "messages" ? builder.messages : builder.events;
          for (const [id, ms, sub, rest] of rows as [string, number, string, string][]) {
            const bytes = Buffer.from(rest);
            items.push({ id, ms, sub, bytes, start: 0, end: bytes.length });
          }
        }
      }
    }
    return builder;
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
    return first === undefined
      ? null
      : { at: first, text: (JSON.parse(restText(first)) as { sendTime: string }).sendTime };
  }

  /** Serializes the replay as UTF-8 chunks of about `chunkSize` bytes: items are copied as bytes, not re-encoded. */
  *chunks(chunkSize = 1 << 20): Generator<Buffer> {
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
    const out = new ChunkWriter(chunkSize);
    out.text(`${JSON.stringify(header).slice(0, -1)},"messages":[`);
    for (const items of [this.messages, this.events]) {
      if (items === this.events) out.text(`],"events":[`);
      for (let i = 0; i < items.length; i++) {
        const item = items[i] as KeptItem;
        const offset = base === null ? 0 : floorDiffMs(item, base.at);
        out.text(`${i === 0 ? "\n" : ",\n"}{"id":${JSON.stringify(item.id)},"offsetMs":${offset},`);
        out.bytes(item.bytes, item.start + 1, item.end); // the rest without its opening brace
        if (out.full()) yield out.take();
      }
      if (items.length > 0) out.text("\n");
    }
    out.text("]}\n");
    yield out.take();
  }

  /** The whole replay as one string (tests, small replays). */
  toString(): string {
    return Buffer.concat(Array.from(this.chunks())).toString("utf8");
  }
}

/** Raw records one by one or in batches (a log page, a chunk of lines): batches save an await each. */
export type RecordSource = AsyncIterable<string | readonly string[]> | Iterable<string | readonly string[]>;

/** Builds a replay from raw records, consumed as they come. */
export async function buildReplay(records: RecordSource, options: ReplayOptions): Promise<Replay> {
  const builder = new ReplayBuilder(options);
  for await (const item of records) {
    if (typeof item === "string") builder.add(item);
    else builder.addAll(item);
  }
  return builder.finish();
}
