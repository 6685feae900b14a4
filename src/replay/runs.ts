import { CheckpointError } from "../errors";
import { compareInstants } from "./time";

/** A message or custom event kept for the replay: its order keys and its JSON without id and offset. */
export interface KeptItem {
  id: string;
  /** Position in the log (earlier records have smaller positions). */
  seq: number;
  /** `sendTime`: epoch ms and the digits below the millisecond. */
  ms: number;
  sub: string;
  /** `bytes[start, end)` is `{"sendTime":...}` as UTF-8. */
  bytes: Buffer;
  start: number;
  end: number;
}

/** Where an engine keeps its sorted runs and id pages: memory, local disk or S3. */
export interface RunStore {
  /** Stores the bytes under `name`; resolves once they can be read back. */
  put(name: string, chunks: Iterable<Buffer>): Promise<void>;
  /** The bytes stored under `name`, in chunks; fails with CheckpointError when there are none. */
  get(name: string): AsyncIterable<Buffer>;
  /** Resolves once everything put is durable for later runs (a store that stages locally first). */
  persist?(): Promise<void>;
  /** Lets go of local copies and stops copying; what is durable stays. */
  close?(): Promise<void>;
}

/** A run store in memory: tests, and offline replays small enough never to spill. */
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

/**
 * Encodes sorted items as a run, in chunks of about 1 MiB. Each item: u32 length of the rest,
 * f64 ms, f64 seq, u8 + sub digits, u32 + id (UTF-8), then the JSON bytes.
 */
export function* encodeRun(items: readonly KeptItem[]): Generator<Buffer> {
  let chunk = Buffer.allocUnsafe(RUN_CHUNK_BYTES);
  let length = 0;
  for (const item of items) {
    const idBytes = Buffer.byteLength(item.id);
    const size = 4 + 8 + 8 + 1 + item.sub.length + 4 + idBytes + (item.end - item.start);
    if (chunk.length - length < size) {
      if (length > 0) yield chunk.subarray(0, length);
      chunk = Buffer.allocUnsafe(Math.max(RUN_CHUNK_BYTES, size));
      length = 0;
    }
    let at = chunk.writeUInt32LE(size - 4, length);
    at = chunk.writeDoubleLE(item.ms, at);
    at = chunk.writeDoubleLE(item.seq, at);
    at = chunk.writeUInt8(item.sub.length, at);
    at += chunk.write(item.sub, at, "latin1");
    at = chunk.writeUInt32LE(idBytes, at);
    at += chunk.write(item.id, at, "utf8");
    at += item.bytes.copy(chunk, at, item.start, item.end);
    length = at;
  }
  if (length > 0) yield chunk.subarray(0, length);
}

/** Decodes a run's items, in batches (one per chunk read). */
async function* decodeRun(chunks: AsyncIterable<Buffer>): AsyncGenerator<KeptItem[]> {
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    const bytes = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
    const items: KeptItem[] = [];
    let at = 0;
    while (bytes.length - at >= 4) {
      const end = at + 4 + bytes.readUInt32LE(at);
      if (end > bytes.length) break;
      const ms = bytes.readDoubleLE(at + 4);
      const seq = bytes.readDoubleLE(at + 12);
      const subLength = bytes[at + 20] as number;
      const sub = bytes.toString("latin1", at + 21, at + 21 + subLength);
      const idAt = at + 21 + subLength;
      const idEnd = idAt + 4 + bytes.readUInt32LE(idAt);
      const id = bytes.toString("utf8", idAt + 4, idEnd);
      items.push({ id, seq, ms, sub, bytes, start: idEnd, end });
      at = end;
    }
    carry = bytes.subarray(at);
    if (items.length > 0) yield items;
  }
  if (carry.length > 0) throw new Error("a run ends inside an item");
}

/** A position in a sorted source of items: a run being decoded, or items in memory. */
class Cursor {
  private items: readonly KeptItem[] = [];
  private i = 0;

  constructor(
    private readonly batches: AsyncIterator<KeptItem[]> | undefined,
    items: readonly KeptItem[] = [],
  ) {
    this.items = items;
  }

  get head(): KeptItem | undefined {
    return this.items[this.i];
  }

  /** Moves past the head; loads the next batch when this one is used up. */
  async advance(): Promise<void> {
    if (++this.i < this.items.length) return;
    await this.load();
  }

  async load(): Promise<void> {
    this.items = [];
    this.i = 0;
    const next = await this.batches?.next();
    if (next !== undefined && !next.done) this.items = next.value;
  }
}

/** The items of sorted sources, merged in replay order (a binary heap over their heads). */
export async function* mergeRuns(
  runs: readonly AsyncIterable<Buffer>[],
  inMemory: readonly KeptItem[],
): AsyncGenerator<KeptItem> {
  const cursors = [new Cursor(undefined, inMemory)];
  for (const run of runs) {
    const cursor = new Cursor(decodeRun(run)[Symbol.asyncIterator]());
    await cursor.load();
    cursors.push(cursor);
  }
  const heap = cursors.filter((c) => c.head !== undefined);
  const less = (a: Cursor, b: Cursor) => byReplayOrder(a.head as KeptItem, b.head as KeptItem) < 0;
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
  while (heap.length > 0) {
    const cursor = heap[0] as Cursor;
    yield cursor.head as KeptItem;
    await cursor.advance();
    if (cursor.head === undefined) {
      heap[0] = heap[heap.length - 1] as Cursor;
      heap.pop();
    }
    down(0);
  }
}
