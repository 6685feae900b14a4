import { constants } from "node:buffer";
import { CheckpointError } from "../errors";
import { readId, writeId } from "./ids";
import { compareInstants } from "./time";

/** A message or custom event kept for the replay: its order keys and its JSON without id and offset. */
export interface KeptItem {
  readonly id: string;
  /** Position in the log (earlier records have smaller positions). */
  seq: number;
  /** `sendTime`: epoch ms and the digits below the millisecond. */
  ms: number;
  sub: string;
  /**
   * `bytes[start, end)` is `{"sendTime":...}` as UTF-8, `bytes[cue, start)` its transcript line
   * (messages), `bytes[idStart, idEnd)` its id.
   */
  bytes: Buffer;
  idStart: number;
  idEnd: number;
  cue: number;
  start: number;
  end: number;
}

/** Where an engine keeps its sorted runs and id pages: memory, local disk or S3. */
export interface RunStore {
  /** Stores the bytes under `name`; resolves once they can be read back. */
  put(name: string, chunks: Iterable<Buffer>): Promise<void>;
  /**
   * The bytes stored under `name`, in chunks (of about `chunkBytes`, where the store reads in
   * chunks it chooses); fails with CheckpointError when there are none.
   */
  get(name: string, chunkBytes?: number): AsyncIterable<Buffer>;
  /** Resolves once everything put is durable for later runs (a store that stages locally first). */
  persist?(): Promise<void>;
  /** Lets go of local copies and stops copying; what is durable stays. */
  close?(): Promise<void>;
}

/** A run store in memory (tests, and small replays built by `buildReplay`). */
export class MemoryRunStore implements RunStore {
  readonly objects = new Map<string, Buffer>();

  async put(name: string, chunks: Iterable<Buffer>): Promise<void> {
    this.objects.set(name, Buffer.concat(Array.from(chunks)));
  }

  async *get(name: string): AsyncIterable<Buffer> {
    const bytes = this.objects.get(name);
    if (bytes === undefined) throw new CheckpointError(`${name} is not in the run store`);
    yield bytes;
  }
}

/** Replay order (SPEC section 3, rule 7): send time to the nanosecond, then id; log position last. */
export function byReplayOrder(a: KeptItem, b: KeptItem): number {
  return compareInstants(a, b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : a.seq - b.seq);
}

const RUN_CHUNK_BYTES = 1 << 20;
// A run item: u32 size of the rest, f64 send time ms, f64 log position, u32 + sub-ms digits, u32 + id
// (UTF-8), u32 + transcript line (UTF-8), JSON.
const MS_AT = 4;
const SEQ_AT = 12;
const SUB_AT = 20;

/** The send time (epoch ms) of the run item at `at`. */
function itemMs(bytes: Buffer, at: number): number {
  return bytes.readDoubleLE(at + MS_AT);
}

/** Sets the log position of the run item at `at`. */
export function setItemSeq(bytes: Buffer, at: number, seq: number): void {
  bytes.writeDoubleLE(seq, at + SEQ_AT);
}

/** Bytes of the run item at `at`, its size field included. */
function itemSize(bytes: Buffer, at: number): number {
  return bytes.readUInt32LE(at) + 4;
}

// The least an item holds: its size, send time, log position and three lengths (sub-ms digits, id, cue).
const MIN_ITEM_BYTES = SUB_AT + 12;

/** `itemSize` of an item read back from a store, refused as damage when no item can have it. */
function storedItemSize(bytes: Buffer, at: number): number {
  const size = itemSize(bytes, at);
  if (size < MIN_ITEM_BYTES || size > constants.MAX_LENGTH)
    throw new CheckpointError(`a stored run holds an item of an impossible size (${size} bytes)`);
  return size;
}

/** The run item at `at`, as the merge compares and writes it. */
function decodeItem(bytes: Buffer, at: number): KeptItem {
  const subLength = bytes.readUInt32LE(at + SUB_AT);
  const idAt = at + SUB_AT + 4 + subLength;
  const idEnd = idAt + 4 + bytes.readUInt32LE(idAt);
  const cueEnd = idEnd + 4 + bytes.readUInt32LE(idEnd);
  return new RunItem(
    bytes.readDoubleLE(at + SEQ_AT),
    itemMs(bytes, at),
    subLength === 0 ? "" : bytes.toString("latin1", at + SUB_AT + 4, idAt),
    bytes,
    idAt + 4,
    idEnd,
    idEnd + 4,
    cueEnd,
    at + itemSize(bytes, at),
  );
}

/**
 * A decoded run item. Its id is read from its bytes when first asked for: the merge and the
 * writers mostly need only its bytes, and a million strings made for nothing keep the GC busy.
 */
class RunItem implements KeptItem {
  private text: string | undefined;
  // Set when the item is placed in media time (PlacedItem); here so that every item has one shape.
  offsetMs = 0;

  constructor(
    readonly seq: number,
    readonly ms: number,
    readonly sub: string,
    readonly bytes: Buffer,
    readonly idStart: number,
    readonly idEnd: number,
    readonly cue: number,
    readonly start: number,
    readonly end: number,
  ) {}

  get id(): string {
    this.text ??= readId(this.bytes, this.idStart, this.idEnd);
    return this.text;
  }
}

/**
 * Copies `from[start, end)` into `to` at `at` and returns where the copy ends. A short range goes
 * byte by byte (about 1 ns a byte), which costs less than `Buffer#copy`'s call (about 50 ns).
 */
export function copyBytes(to: Buffer, at: number, from: Buffer, start: number, end: number): number {
  if (end - start > 48) return at + from.copy(to, at, start, end);
  for (let i = start; i < end; i++) to[at++] = from[i] as number;
  return at;
}

/**
 * Writes run items back to back; `take` copies them out, trimmed, into memory a worker can hand
 * over without a copy. An item is `push`ed whole, or written piece by piece: `open`, the id and
 * the transcript line each between `field` and `endField`, the JSON, then `close`.
 */
export class ItemWriter {
  private bytes: Buffer;
  private length = 0;
  private item = 0;
  private fieldAt = 0;
  private readonly ends: number[] = [];

  /** `capacity`: the bytes to start with, which the writer grows past as needed. */
  constructor(capacity = 1 << 16) {
    this.bytes = Buffer.allocUnsafeSlow(capacity);
  }

  /** Appends an item sent at `at` with log position 0 (the engine sets it). */
  push(at: { ms: number; sub: string }, id: string, json: string, cue: string): void {
    this.open(at, 3 * (id.length + json.length + cue.length));
    this.field();
    this.length += writeId(this.bytes, this.length, id);
    this.endField();
    this.field();
    this.text(cue);
    this.endField();
    this.text(json);
    this.close();
  }

  /** Starts an item sent at `at` (log position 0) with room for `most` bytes of id, transcript line and JSON. */
  open(at: { ms: number; sub: string }, most: number): void {
    const room = SUB_AT + 12 + at.sub.length + most;
    if (this.bytes.length - this.length < room) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, this.length + room));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    const bytes = this.bytes;
    const start = this.length;
    this.item = start;
    bytes.writeDoubleLE(at.ms, start + MS_AT);
    bytes.writeDoubleLE(0, start + SEQ_AT);
    bytes.writeUInt32LE(at.sub.length, start + SUB_AT);
    this.length = start + SUB_AT + 4 + bytes.write(at.sub, start + SUB_AT + 4, "latin1");
  }

  /** Starts a field (the id, then the transcript line): its length, then its bytes. */
  field(): void {
    this.fieldAt = this.length;
    this.length += 4;
  }

  endField(): void {
    this.bytes.writeUInt32LE(this.length - this.fieldAt - 4, this.fieldAt);
  }

  text(text: string): void {
    if (text !== "") this.length += this.bytes.write(text, this.length, "utf8");
  }

  byte(value: number): void {
    this.bytes[this.length++] = value;
  }

  /** Appends `from[start, end)`. */
  copy(from: Buffer, start = 0, end = from.length): void {
    this.length = copyBytes(this.bytes, this.length, from, start, end);
  }

  close(): void {
    // Bytes written past the end are lost without a word: an `open` that reserved too little is a bug.
    if (this.length > this.bytes.length) throw new RangeError("a run item outgrew the room opened for it");
    this.bytes.writeUInt32LE(this.length - this.item - 4, this.item);
    this.ends.push(this.length);
  }

  /** The items written, in memory of their own, and where each ends. */
  take(): { bytes: Uint8Array; ends: Int32Array } {
    return { bytes: new Uint8Array(this.bytes.subarray(0, this.length)), ends: Int32Array.from(this.ends) };
  }
}

/** Items held in memory as references to run-item bytes, sorted and written as a run without decoding. */
export class BufferedItems {
  // Item i lies at offsets[i] of buffers[owners[i]]; consecutive items mostly share a buffer (a batch).
  private buffers: Buffer[] = [];
  private owners = new Int32Array(1024);
  private offsets = new Int32Array(1024);
  length = 0;
  bytes = 0;

  push(buffer: Buffer, at: number): void {
    if (this.buffers[this.buffers.length - 1] !== buffer) this.buffers.push(buffer);
    if (this.length === this.offsets.length) {
      const owners = new Int32Array(this.length * 2);
      owners.set(this.owners);
      this.owners = owners;
      const offsets = new Int32Array(this.length * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
    }
    this.owners[this.length] = this.buffers.length - 1;
    this.offsets[this.length++] = at;
    this.bytes += itemSize(buffer, at);
  }

  private buffer(i: number): Buffer {
    return this.buffers[this.owners[i] as number] as Buffer;
  }

  /**
   * Positions of the items in replay order. A numeric sort on (ms from the earliest, position)
   * packed in one float does the work; runs of equal ms (rare) are then ordered exactly.
   */
  private order(): number[] {
    const n = this.length;
    const ms = new Float64Array(n);
    let least = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      ms[i] = itemMs(this.buffer(i), this.offsets[i] as number);
      if ((ms[i] as number) < least) least = ms[i] as number;
    }
    const span = 2 ** Math.ceil(Math.log2(n + 1));
    const keys = new Float64Array(n);
    let packed = true;
    for (let i = 0; i < n; i++) {
      const key = ((ms[i] as number) - least) * span + i;
      if (!Number.isSafeInteger(key)) packed = false;
      keys[i] = key;
    }
    const decode = (i: number) => decodeItem(this.buffer(i), this.offsets[i] as number);
    const exact = (a: number, b: number) =>
      (ms[a] as number) - (ms[b] as number) || byReplayOrder(decode(a), decode(b));
    if (!packed) return Array.from(ms, (_, i) => i).sort(exact);
    keys.sort();
    const order = Array.from(keys, (key) => key % span);
    for (let from = 0; from < n; ) {
      let to = from + 1;
      while (to < n && ms[order[to] as number] === ms[order[from] as number]) to++;
      if (to - from > 1) {
        const tied = order.slice(from, to).sort(exact);
        for (let j = from; j < to; j++) order[j] = tied[j - from] as number;
      }
      from = to;
    }
    return order;
  }

  /** The items as a sorted run, in chunks; empties the buffer now (the chunks come as they are read). */
  drain(): Iterable<Buffer> {
    const order = this.order();
    const { buffers, owners, offsets } = this;
    this.clear();
    return (function* () {
      let chunk = Buffer.allocUnsafe(RUN_CHUNK_BYTES);
      let length = 0;
      for (const i of order) {
        const buffer = buffers[owners[i] as number] as Buffer;
        const at = offsets[i] as number;
        const size = itemSize(buffer, at);
        if (chunk.length - length < size) {
          if (length > 0) yield chunk.subarray(0, length);
          chunk = Buffer.allocUnsafe(Math.max(RUN_CHUNK_BYTES, size));
          length = 0;
        }
        length += buffer.copy(chunk, length, at, at + size);
      }
      if (length > 0) yield chunk.subarray(0, length);
    })();
  }

  /** The items decoded, in replay order; empties the buffer. */
  takeSorted(): KeptItem[] {
    const order = this.order();
    const items = order.map((i) => decodeItem(this.buffer(i), this.offsets[i] as number));
    this.clear();
    return items;
  }

  private clear(): void {
    this.buffers = [];
    this.owners = new Int32Array(1024);
    this.offsets = new Int32Array(1024);
    this.length = 0;
    this.bytes = 0;
  }
}

/** Decodes a run's items, in batches (one per chunk read). */
async function* decodeRun(chunks: AsyncIterable<Buffer>): AsyncGenerator<KeptItem[]> {
  // An item cut by a chunk's end: room for all of it (for its size alone, while that is cut too),
  // filled with only the bytes it lacks from the chunks after, so a long item costs its length.
  let carry: Buffer | undefined;
  let filled = 0;
  for await (const chunk of chunks) {
    const items: KeptItem[] = [];
    let at = 0;
    while (carry !== undefined && at < chunk.length) {
      const taken = Math.min(carry.length - filled, chunk.length - at);
      chunk.copy(carry, filled, at, at + taken);
      filled += taken;
      at += taken;
      if (filled < carry.length) break;
      if (filled === 4 && carry.length === 4) {
        const whole = Buffer.allocUnsafe(storedItemSize(carry, 0));
        carry.copy(whole);
        carry = whole;
        continue;
      }
      items.push(decodeItem(carry, 0));
      carry = undefined;
      filled = 0;
    }
    while (chunk.length - at >= 4) {
      const end = at + storedItemSize(chunk, at);
      if (end > chunk.length) break;
      items.push(decodeItem(chunk, at));
      at = end;
    }
    if (at < chunk.length) {
      const rest = chunk.length - at;
      carry = Buffer.allocUnsafe(rest < 4 ? 4 : storedItemSize(chunk, at));
      filled = chunk.copy(carry, 0, at);
    }
    if (items.length > 0) yield items;
  }
  if (carry !== undefined) throw new CheckpointError("a stored run ends inside an item (truncated)");
}

/** A position in a sorted source of items: a run being decoded, or items in memory. */
class Cursor {
  private items: readonly KeptItem[] = [];
  private i = 0;
  /** The item at the position; undefined once the source is used up. */
  head: KeptItem | undefined;

  constructor(
    private readonly batches: AsyncIterator<KeptItem[]> | undefined,
    items: readonly KeptItem[] = [],
  ) {
    this.items = items;
    this.head = items[0];
  }

  /** Moves past the head; false when this batch is used up and `load` must fetch the next. */
  step(): boolean {
    this.head = this.items[++this.i];
    return this.head !== undefined;
  }

  async load(): Promise<void> {
    this.items = [];
    this.i = 0;
    const next = await this.batches?.next();
    if (next !== undefined && !next.done) this.items = next.value;
    this.head = this.items[0];
  }
}

const MERGE_BATCH = 4096;

/**
 * The items of sorted sources, merged in replay order (a binary heap over their heads), in
 * batches: only reading a run's next chunk waits, not every item.
 */
export async function* mergeRuns(
  runs: readonly AsyncIterable<Buffer>[],
  inMemory: readonly KeptItem[],
): AsyncGenerator<KeptItem[]> {
  const cursors = [new Cursor(undefined, inMemory)];
  const opened = runs.map((run) => new Cursor(decodeRun(run)[Symbol.asyncIterator]()));
  // Opened together: a run stored remotely is fetched before its first item can be read.
  await Promise.all(opened.map((cursor) => cursor.load()));
  cursors.push(...opened);
  const heap = cursors.filter((c) => c.head !== undefined);
  const less = (a: Cursor, b: Cursor) => {
    const x = a.head as KeptItem;
    const y = b.head as KeptItem;
    // Milliseconds first, inline: they decide almost every comparison.
    return x.ms < y.ms || (x.ms === y.ms && byReplayOrder(x, y) < 0);
  };
  const down = (from: number) => {
    for (let i = from; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < heap.length && less(heap[l] as Cursor, heap[top] as Cursor)) top = l;
      if (r < heap.length && less(heap[r] as Cursor, heap[top] as Cursor)) top = r;
      if (top === i) return;
      [heap[i], heap[top]] = [heap[top] as Cursor, heap[i] as Cursor];
      i = top;
    }
  };
  for (let i = Math.floor(heap.length / 2) - 1; i >= 0; i--) down(i);
  let batch: KeptItem[] = [];
  while (heap.length > 0) {
    const cursor = heap[0] as Cursor;
    batch.push(cursor.head as KeptItem);
    if (!cursor.step()) await cursor.load();
    if (cursor.head === undefined) {
      heap[0] = heap[heap.length - 1] as Cursor;
      heap.pop();
    }
    down(0);
    if (batch.length >= MERGE_BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
