import { z } from "zod";
import { CheckpointError } from "../errors";
import { isSurrogateAt } from "./ids";
import { IdTable } from "./idTable";
import { isBlank, Outcome, type PreparedBatch, prepareBatch, SKIP_REASONS } from "./prepare";
import {
  BufferedItems,
  byReplayOrder,
  copyBytes,
  type KeptItem,
  MemoryRunStore,
  mergeRuns,
  type RunStore,
  setItemSeq,
} from "./runs";
import { formatInstant, type Instant } from "./time";
import { MediaClock, type TimelineJson, type TimelinePiece, timelineJson } from "./timeline";
import type { RecordingRef, ReplayCounts, ReplayOptions, SkipReason } from "./types";

// Values of a seen id when records may come out of order: its log position, and the deleted-id entry it names.
const SEQ = 0;
const TARGET = 8;
// TARGET of an entry that names no deleted id (a handle is a page index and offset, below 2^32 - 1).
const NONE = 0xffffffff;
const SEEN_VALUES = 12;
// Values of a deleted id when records may come out of order: how many winning deletions name it.
const REFS = 0;
const DELETED_VALUES = 4;

/** How an engine keeps its state; every default suits the offline command. */
export interface EngineOptions {
  /**
   * Records may arrive out of log order (slices of the log read concurrently): each carries its
   * log position and the earliest copy of an id wins (rule 2), whatever came first.
   */
  unordered?: boolean;
  /** Bytes of kept items held in memory before they are sorted and spilled as a run; default 32 MiB. */
  spillBytes?: number;
  /** Prefix of the names this engine gives what it stores, unique to it when several may share a store. */
  names?: string;
  /**
   * Messages carry their transcript line for `replayFiles` (default); false when only `replay.json`
   * is written, which then costs nothing for the transcript.
   */
  transcript?: boolean;
}

const EngineStateSchema = z.object({
  records: z.number().int().nonnegative(),
  valid: z.number().int().nonnegative(),
  skipReasons: z.record(z.string(), z.number().int().nonnegative()),
  winners: z.object({ messages: z.number().int().nonnegative(), events: z.number().int().nonnegative() }),
  /** The stored log positions (f64) of kept items that an earlier copy of their id, read later, took over from. */
  losers: z.string().nullable(),
  runs: z.array(z.object({ messages: z.string(), events: z.string() })),
  seenPages: z.array(z.string()),
  deletedPages: z.array(z.string()),
  generation: z.number().int().nonnegative(),
});

/** An engine's state as a checkpoint stores it: counts and the names of what it put in its run store. */
export type EngineState = z.infer<typeof EngineStateSchema>;

/** Validates a stored engine state; throws a zod error naming the field when it does not fit. */
export function parseEngineState(value: unknown): EngineState {
  return EngineStateSchema.parse(value);
}

// Runs of 32 MiB: memory stays flat whatever the chat's size; more runs cost the merge little.
const DEFAULT_SPILL_BYTES = 32 * 2 ** 20;
// The final merge stalls whenever a run's next chunk is not read yet, so it reads large chunks (1 MiB
// reads took 0.2-0.4 s off the merge of 1 M records, against 128 KiB), within a budget that keeps
// memory from growing with the runs: it holds about two chunks of each (messages and events).
const MERGE_READ_BUDGET = 32 * 2 ** 20;

/** Bytes to read from each of `runs` runs at a time in the final merge. */
function mergeReadBytes(runs: number): number {
  return Math.min(2 ** 20, Math.max(2 ** 17, Math.floor(MERGE_READ_BUDGET / (4 * Math.max(1, runs)))));
}

/**
 * Turns chat log records into a version 1 replay (SPEC section 3) in bounded memory. Kept items
 * are spilled as sorted runs to a run store and merged while the replay is written; memory holds
 * only the seen and deleted ids (compact tables) and one run's worth of items.
 */
export class ReplayEngine {
  private records = 0;
  private valid = 0;
  private readonly skipReasons: Partial<Record<SkipReason, number>> = {};
  private readonly winners = { messages: 0, events: 0 };
  // Log positions of kept items an earlier copy of their id took over from (few: copies read out of order).
  private losers = new Set<number>();
  private losersName: string | null = null;
  private losersSaved = 0;
  private readonly messages = new BufferedItems();
  private readonly events = new BufferedItems();
  private readonly runs: { messages: string; events: string }[] = [];
  private spilling: Promise<void> = Promise.resolve();
  private seenPages: string[] = [];
  private deletedPages: string[] = [];
  private generation = 0;
  private readonly unordered: boolean;
  private readonly spillBytes: number;
  private readonly names: string;
  private readonly transcript: boolean;
  private readonly seen: IdTable;
  private readonly deleted: IdTable;
  /** Bytes put in the run store so far (runs and id pages). */
  storedBytes = 0;

  constructor(
    private readonly options: ReplayOptions,
    private readonly store: RunStore,
    engine: EngineOptions = {},
    pages: { seen: readonly Buffer[]; deleted: readonly Buffer[] } = { seen: [], deleted: [] },
  ) {
    this.unordered = engine.unordered ?? false;
    // The seen-id table's tag of an id is the outcome of its winning record (`Outcome`).
    this.seen = IdTable.fromPages(this.unordered ? SEEN_VALUES : 0, pages.seen);
    this.deleted = IdTable.fromPages(this.unordered ? DELETED_VALUES : 0, pages.deleted);
    this.spillBytes = engine.spillBytes ?? DEFAULT_SPILL_BYTES;
    this.names = engine.names ?? "engine";
    this.transcript = engine.transcript ?? true;
  }

  /** Records read so far (rule 1). */
  get recordsRead(): number {
    return this.records;
  }

  /** Adds raw records (blank ones are not records) whose log positions start at `seq`. */
  async addRaw(raws: readonly string[], seq = this.records): Promise<void> {
    const records = raws.filter((raw) => !isBlank(raw));
    await this.add(prepareBatch(records, this.options.window, this.transcript), seq);
  }

  /**
   * Applies the rules that depend on other records (duplicates, deletions) to a prepared batch
   * whose record `i` sits at log position `seq + i`; spills kept items when the buffer is full.
   */
  async add(batch: PreparedBatch, seq = this.records): Promise<void> {
    const { outcomes, idText, idEnds, items, itemEnds, targets } = batch;
    const itemBytes = Buffer.from(items.buffer, items.byteOffset, items.byteLength);
    let kept = 0;
    let deletion = 0;
    this.records += outcomes.length;
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i] as number;
      if (outcome >= Outcome.Skipped) {
        const reason = SKIP_REASONS[outcome - Outcome.Skipped] as SkipReason;
        this.skipReasons[reason] = (this.skipReasons[reason] ?? 0) + 1;
        continue;
      }
      this.valid++;
      const k = outcome === Outcome.Message || outcome === Outcome.Event ? kept++ : -1;
      const target = outcome === Outcome.Delete ? (targets[deletion++] as string) : "";
      const at = seq + i;
      const idStart = i === 0 ? 0 : (idEnds[i - 1] as number);
      const handle = this.seen.findOrAddIn(idText, idStart, idEnds[i] as number, outcome);
      if (!this.seen.added) {
        // A later copy of an id is a duplicate; an earlier one (read out of order) takes over.
        if (!this.unordered || at >= this.seen.float(handle, SEQ)) continue;
        this.lose(handle);
        this.seen.setTag(handle, outcome);
      }
      if (this.unordered) this.seen.setFloat(handle, SEQ, at);
      if (outcome === Outcome.Delete) this.win(handle, target);
      else if (k >= 0) {
        const message = outcome === Outcome.Message;
        this.winners[message ? "messages" : "events"]++;
        const itemAt = k === 0 ? 0 : (itemEnds[k - 1] as number);
        setItemSeq(itemBytes, itemAt, at);
        (message ? this.messages : this.events).push(itemBytes, itemAt);
      }
    }
    if (this.messages.bytes + this.events.bytes >= this.spillBytes) await this.spill();
  }

  private win(handle: number, target: string): void {
    if (target === "") {
      if (this.unordered) this.seen.setUint(handle, TARGET, NONE);
      return;
    }
    const d = this.deleted.findOrAdd(target, 0);
    if (!this.unordered) return;
    this.deleted.setInt(d, REFS, this.deleted.int(d, REFS) + 1);
    this.seen.setUint(handle, TARGET, d);
  }

  /** Takes back what the record holding `handle` did, now that an earlier copy of its id was read. */
  private lose(handle: number): void {
    const tag = this.seen.tag(handle);
    if (tag === Outcome.Message || tag === Outcome.Event) this.losers.add(this.seen.float(handle, SEQ));
    if (tag === Outcome.Message) this.winners.messages--;
    else if (tag === Outcome.Event) this.winners.events--;
    else if (tag === Outcome.Delete) {
      const d = this.seen.uint(handle, TARGET);
      if (d !== NONE) this.deleted.setInt(d, REFS, this.deleted.int(d, REFS) - 1);
    }
  }

  /** Sorts the buffered items and writes them as a run (after the previous spill has landed). */
  private async spill(): Promise<void> {
    await this.spilling;
    const messages = this.messages.drain();
    const events = this.events.drain();
    const name = `${this.names}-run-${this.runs.length}`;
    const run = { messages: `${name}-messages`, events: `${name}-events` };
    this.runs.push(run);
    this.spilling = Promise.all([
      this.store.put(run.messages, this.counted(messages)),
      this.store.put(run.events, this.counted(events)),
    ]).then(() => undefined);
    // Errors surface at the next spill, save or finish; keep them from being reported as unhandled.
    this.spilling.catch(() => undefined);
  }

  private *counted(chunks: Iterable<Buffer>): Generator<Buffer> {
    for (const chunk of chunks) {
      this.storedBytes += chunk.length;
      yield chunk;
    }
  }

  /**
   * Puts everything in the run store and returns the state that `restore` continues from: only
   * counts and names, so saving and restoring stay small whatever the chat's size.
   */
  async save(): Promise<EngineState> {
    if (this.messages.length + this.events.length > 0) await this.spill();
    await this.spilling;
    this.generation++;
    this.seenPages = await this.savePages("seen", this.seen, this.seenPages);
    this.deletedPages = await this.savePages("deleted", this.deleted, this.deletedPages);
    // The set only grows: a save with as many as the last one saved has nothing new.
    if (this.losers.size > this.losersSaved) {
      this.losersSaved = this.losers.size;
      this.losersName = `${this.names}-losers-${this.generation}`;
      const positions = Float64Array.from(this.losers);
      await this.store.put(this.losersName, [Buffer.from(positions.buffer)]);
    }
    await this.store.persist?.();
    return {
      records: this.records,
      valid: this.valid,
      skipReasons: { ...this.skipReasons },
      winners: { ...this.winners },
      losers: this.losersName,
      runs: this.runs.map((run) => ({ ...run })),
      seenPages: [...this.seenPages],
      deletedPages: [...this.deletedPages],
      generation: this.generation,
    };
  }

  /** Saves the pages of a table that are new or changed, under names not used before. */
  private async savePages(kind: string, table: IdTable, saved: readonly string[]): Promise<string[]> {
    const pages = table.pageBytes();
    const changed = table.dirtyPages();
    const names = pages.map((_, p) =>
      p < saved.length && !changed.has(p)
        ? (saved[p] as string)
        : `${this.names}-${kind}-${this.generation}-${p}`,
    );
    await Promise.all(
      pages.map((bytes, p) =>
        names[p] === saved[p] ? undefined : this.store.put(names[p] as string, [bytes]),
      ),
    );
    table.clearDirty();
    return names;
  }

  /** Lets go of what the run store keeps locally; the engine is done. */
  async close(): Promise<void> {
    await this.spilling.catch(() => undefined);
    await this.store.close?.();
  }

  /** An engine continuing from a saved state, its runs and id pages read back from `store`. */
  static async restore(
    options: ReplayOptions,
    store: RunStore,
    engineOptions: EngineOptions,
    state: EngineState,
  ): Promise<ReplayEngine> {
    const read = async (name: string) => {
      const chunks: Buffer[] = [];
      for await (const chunk of store.get(name)) chunks.push(chunk);
      return Buffer.concat(chunks);
    };
    // A few pages at a time: reading them all at once would hold every page twice (chunks and copy).
    const readAll = async (names: readonly string[]) => {
      const pages: Buffer[] = [];
      for (let i = 0; i < names.length; i += 4)
        pages.push(...(await Promise.all(names.slice(i, i + 4).map(read))));
      return pages;
    };
    const seenPages = await readAll(state.seenPages);
    const losers = state.losers === null ? undefined : await read(state.losers);
    const deletedPages = await readAll(state.deletedPages);
    const engine = new ReplayEngine(options, store, engineOptions, {
      seen: seenPages,
      deleted: deletedPages,
    });
    engine.records = state.records;
    engine.valid = state.valid;
    Object.assign(engine.skipReasons, state.skipReasons);
    Object.assign(engine.winners, state.winners);
    if (losers !== undefined) {
      if (losers.length % 8 !== 0)
        throw new CheckpointError(`${state.losers} is not a list of log positions`);
      const positions = new Float64Array(
        losers.buffer.slice(losers.byteOffset, losers.byteOffset + losers.length),
      );
      engine.losers = new Set(positions);
      engine.losersName = state.losers;
      engine.losersSaved = engine.losers.size;
    }
    engine.runs.push(...state.runs);
    engine.seenPages = [...state.seenPages];
    engine.deletedPages = [...state.deletedPages];
    engine.generation = state.generation;
    return engine;
  }

  private isDeleted(item: KeptItem): boolean {
    // Looked up by the id's bytes in the run item: no string is made for it.
    const d = this.deleted.findBytes(item.bytes, item.idStart, item.idEnd);
    return d >= 0 && (!this.unordered || this.deleted.int(d, REFS) > 0);
  }

  private isWinner(item: KeptItem): boolean {
    return this.losers.size === 0 || !this.losers.has(item.seq);
  }

  /** The counts of the replay once every record is read (rules 1, 2, 5 and 9). */
  counts(): ReplayCounts {
    let deleted = 0;
    this.deleted.forEach((d) => {
      if (this.unordered && this.deleted.int(d, REFS) <= 0) return;
      const handle = this.seen.find(this.deleted.id(d));
      if (handle >= 0 && this.seen.tag(handle) === Outcome.Message) deleted++;
    });
    const skipped = this.records - this.valid;
    return {
      records: this.records,
      messages: this.winners.messages - deleted,
      events: this.winners.events,
      deleted,
      duplicates: this.valid - this.seen.size,
      skipped,
    };
  }

  /** Why records were skipped, by reason. */
  skipped(): Partial<Record<SkipReason, number>> {
    return { ...this.skipReasons };
  }

  /** The replay's items in order, in batches, deleted and superseded ones left out, merged from runs and memory. */
  private async *kept(kind: "messages" | "events"): AsyncGenerator<KeptItem[]> {
    await this.spilling;
    const inMemory = this[kind].takeSorted();
    const chunkBytes = mergeReadBytes(this.runs.length);
    const runs = this.runs.map((run) => this.store.get(run[kind], chunkBytes));
    for await (const batch of mergeRuns(runs, inMemory)) {
      const kept = batch.filter(
        (item) => this.isWinner(item) && (kind === "events" || !this.isDeleted(item)),
      );
      if (kept.length > 0) yield kept;
    }
  }

  /** The finished replay: its counts and its bytes, streamed, the same for the same inputs (rule 10). */
  finish(): Replay {
    return new Replay(this.options, this.counts(), this.skipped(), (kind) => this.kept(kind));
  }
}

/** A finished replay: `chunks()` streams its bytes, merging the engine's runs as it goes. */
export class Replay {
  constructor(
    readonly options: ReplayOptions,
    readonly counts: ReplayCounts,
    readonly skipReasons: Partial<Record<SkipReason, number>>,
    private readonly items: (kind: "messages" | "events") => AsyncGenerator<KeptItem[]>,
  ) {}

  private streamed = false;

  /**
   * Opens the replay, once (the merge consumes the engine's runs): its header (every key but
   * `messages` and `events`), its timeline, and its items in replay order, batch by batch, as
   * the merge produces them. Each section has its own media clock.
   */
  async open(): Promise<OpenReplay> {
    if (this.streamed) throw new Error("a replay can be streamed once");
    this.streamed = true;
    const { options, counts } = this;
    const messages = this.items("messages");
    const events = this.items("events");
    const firstMessages = (await messages.next()).value ?? [];
    const firstEvents = (await events.next()).value ?? [];
    const timeline = replayTimeline(options, [firstMessages[0], firstEvents[0]]);
    const window = options.window;
    const header: ReplayHeader = {
      version: 1,
      channelArn: options.channelArn ?? null,
      roomArn: options.roomArn ?? null,
      streamIds: options.streamIds ?? [],
      recording: options.recording ?? null,
      window: {
        start: window.start === null ? null : formatInstant(window.start),
        end: window.end === null ? null : formatInstant(window.end),
      },
      offsetBase: timeline.base,
      timeline: timeline.json,
      counts,
    };
    const clock = () => (timeline.pieces.length === 0 ? undefined : new MediaClock(timeline.pieces));
    return {
      header,
      messages: section(firstMessages, messages, clock()),
      events: section(firstEvents, events, clock()),
    };
  }

  /**
   * Serializes the replay as UTF-8 chunks of about `chunkSize` bytes: items are copied as bytes, not
   * re-encoded. Once only: the merge consumes the engine's runs.
   */
  async *chunks(chunkSize = 1 << 20): AsyncGenerator<Buffer> {
    const { header, messages, events } = await this.open();
    const out = new ChunkWriter(chunkSize);
    out.text(`${JSON.stringify(header).slice(0, -1)},"messages":[`);
    for (const items of [messages, events]) {
      if (items === events) out.text(`],"events":[`);
      let separator = "\n";
      for await (const batch of items) {
        for (const item of batch) {
          out.text(separator);
          writeItem(out, item);
          separator = ",\n";
          if (out.full()) yield out.take();
        }
      }
      if (separator !== "\n") out.text("\n");
    }
    out.text("]}\n");
    yield out.take();
  }

  /** The whole replay as one string (tests, small replays). */
  async text(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.chunks()) chunks.push(chunk);
    return Buffer.concat(chunks).toString("utf8");
  }
}

/**
 * The replay's timeline (rule 8), its header form and its offset base: the timeline given, else
 * one open piece at the offset base given, else at the earliest item written, its send time kept
 * as written (so the first item has offset 0); with neither, no timeline.
 */
function replayTimeline(
  options: ReplayOptions,
  firsts: (KeptItem | undefined)[],
): { pieces: readonly TimelinePiece[]; json: TimelineJson[]; base: string | null } {
  const given = options.timeline ?? [];
  if (given.length > 0) {
    const json = timelineJson(given);
    return { pieces: given, json, base: (json[0] as TimelineJson).start };
  }
  const open = (start: Instant, text: string) => ({
    pieces: [{ start, end: null, mediaMs: 0 }],
    json: [{ start: text, end: null, mediaMs: 0 }],
    base: text,
  });
  if (options.offsetBase !== null) return open(options.offsetBase, formatInstant(options.offsetBase));
  const first = firsts.filter((item) => item !== undefined).sort(byReplayOrder)[0];
  if (first === undefined) return { pieces: [], json: [], base: null };
  const rest = first.bytes.toString("utf8", first.start, first.end);
  return open(first, (JSON.parse(rest) as { sendTime: string }).sendTime);
}

/** The header of a version 1 replay: every key but `messages` and `events`. */
export interface ReplayHeader {
  version: number;
  channelArn: string | null;
  roomArn: string | null;
  streamIds: readonly string[];
  recording: RecordingRef | null;
  window: { start: string | null; end: string | null };
  offsetBase: string | null;
  timeline: TimelineJson[];
  counts: ReplayCounts;
}

/** A kept item with its media offset (rule 8). */
export interface PlacedItem extends KeptItem {
  offsetMs: number;
}

/** An opened replay: its header, and each section's items in order, placed in media time. */
export interface OpenReplay {
  header: ReplayHeader;
  messages: AsyncGenerator<PlacedItem[]>;
  events: AsyncGenerator<PlacedItem[]>;
}

async function* section(
  first: KeptItem[],
  rest: AsyncGenerator<KeptItem[]>,
  clock: MediaClock | undefined,
): AsyncGenerator<PlacedItem[]> {
  for (let batch = first; batch.length > 0; batch = (await rest.next()).value ?? []) {
    for (const item of batch) (item as PlacedItem).offsetMs = clock === undefined ? 0 : clock.offsetMs(item);
    yield batch as PlacedItem[];
  }
}

const ID_OPEN = Buffer.from('{"id":"');
const OFFSET_OPEN = Buffer.from('","offsetMs":');

/** An item as the replay and its segments write it: `{"id", "offsetMs", ...the rendered record}`. */
export function writeItem(out: ChunkWriter, item: PlacedItem): void {
  out.bytes(ID_OPEN, 0, ID_OPEN.length);
  // An id with nothing JSON escapes is copied as it is stored (UTF-8).
  if (!out.plainString(item.bytes, item.idStart, item.idEnd)) out.text(JSON.stringify(item.id).slice(1, -1));
  out.bytes(OFFSET_OPEN, 0, OFFSET_OPEN.length);
  out.integer(item.offsetMs);
  out.byte(0x2c); // ,
  out.bytes(item.bytes, item.start + 1, item.end); // the JSON without its opening brace
}

/** Fills fixed-size buffers with text and byte ranges, handing out full ones. */
export class ChunkWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(private readonly size: number) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  private room(bytes: number): void {
    if (this.buffer.length - this.length >= bytes) return;
    // Doubling: a segment writer grows to a whole segment without copying it over and over.
    const grown = Buffer.allocUnsafe(Math.max(this.size, this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  text(text: string): void {
    this.room(text.length * 3);
    this.length += this.buffer.write(text, this.length, "utf8");
  }

  bytes(source: Buffer, start: number, end: number): void {
    this.room(end - start);
    this.length = copyBytes(this.buffer, this.length, source, start, end);
  }

  /**
   * Copies UTF-8 bytes that JSON.stringify would write as they are (no quote, backslash, control
   * character or lone surrogate) and returns true; otherwise writes nothing and returns false.
   */
  plainString(source: Buffer, start: number, end: number): boolean {
    this.room(end - start);
    const buffer = this.buffer;
    let at = this.length;
    for (let i = start; i < end; i++) {
      const c = source[i] as number;
      if (c < 0x20 || c === 0x22 || c === 0x5c || isSurrogateAt(source, i, end)) return false;
      buffer[at++] = c;
    }
    this.length = at;
    return true;
  }

  byte(value: number): void {
    this.room(1);
    this.buffer[this.length++] = value;
  }

  /** A non-negative integer in decimal, zero-padded to at least `width` digits. */
  digits(value: number, width: number): void {
    let count = 1;
    for (let p = 10; p <= value; p *= 10) count++;
    if (count < width) count = width;
    this.room(count);
    const buffer = this.buffer;
    let i = this.length + count - 1;
    let v = value;
    // Integer arithmetic while it fits in 31 bits (every offset and time of a replay does).
    for (; v >= 2 ** 31; i--, v = Math.floor(v / 10)) buffer[i] = 0x30 + (v % 10);
    for (; i >= this.length; i--) {
      const q = (v / 10) | 0;
      buffer[i] = 0x30 + v - q * 10;
      v = q;
    }
    this.length += count;
  }

  /** An integer as JSON writes it. */
  integer(value: number): void {
    if (!Number.isSafeInteger(value)) this.text(String(value));
    else if (value < 0) {
      this.byte(0x2d); // -
      this.digits(-value, 1);
    } else this.digits(value, 1);
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

  /** The bytes written so far, without a copy: valid until the next write or `clear`. */
  view(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** Starts over in the same memory. */
  clear(): void {
    this.length = 0;
  }
}

/** Raw records one by one or in batches (a log page, a chunk of lines). */
export type RecordSource = AsyncIterable<string | readonly string[]> | Iterable<string | readonly string[]>;

/** Builds a replay from raw records in log order, consumed as they come (small inputs, tests). */
export async function buildReplay(records: RecordSource, options: ReplayOptions): Promise<Replay> {
  const engine = new ReplayEngine(options, new MemoryRunStore());
  for await (const item of records) await engine.addRaw(typeof item === "string" ? [item] : item);
  return engine.finish();
}
