import { readId, writeId } from "./ids";

// Pages hold whole entries; a handle is page * PAGE_SPAN + position, so handles fit a Uint32Array slot.
const PAGE_BITS = 24;
const PAGE_SPAN = 2 ** PAGE_BITS;
const MAX_PAGES = 255;
const FIRST_PAGE_BYTES = 1 << 16;
const LONG_ID = 0xff;
// A restore sorts entries on this many top bits of their home slot before placing them.
const SORT_BITS = 10;

/**
 * An exact table of chat ids with a tag and a few fixed bytes of values per id, kept in typed
 * memory: about 30 bytes per 12-character id (plus `valueBytes`), where a `Map<string, ...>` takes
 * over 80 and cannot hold more than 16.7 M keys. Entries are appended to pages and never move, so
 * the pages are also what a checkpoint saves: a page written once is only saved again if a value
 * on it changed (`dirtyPages`).
 *
 * Entry layout: tag (1 byte), values (`valueBytes`), id length (1 byte, or 0xFF and 4 bytes), id (UTF-8).
 */
export class IdTable {
  size = 0;
  private slots = new Uint32Array(1 << 10);
  // The hash of each slot's id: most probes end on a hash mismatch, without touching the pages.
  private hashes = new Uint32Array(1 << 10);
  private readonly pages: Buffer[] = [];
  private readonly ends: number[] = []; // bytes used in each page
  private scratch = Buffer.allocUnsafe(256);
  private readonly dirty = new Set<number>();
  /** Set by `findOrAdd`: whether the id was new. */
  added = false;

  constructor(readonly valueBytes: number) {}

  /** The handle of `id`, or -1 when absent. */
  find(id: string): number {
    return this.findBytes(this.scratch, 0, this.encode(id));
  }

  /** The handle of the id whose UTF-8 bytes are `bytes[start, end)`, or -1 when absent; makes no string. */
  findBytes(bytes: Buffer, start: number, end: number): number {
    const length = end - start;
    const mask = this.slots.length - 1;
    const h = hash(bytes, length, start);
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const held = this.slots[slot] as number;
      if (held === 0) return -1;
      if (this.hashes[slot] === h && this.matches(held - 1, length, bytes, start)) return held - 1;
    }
  }

  /** The handle of `id`, added with `tag` (and zeroed values) when absent; `added` tells which. */
  findOrAdd(id: string, tag: number): number {
    return this.findOrAddEncoded(this.encode(id), tag);
  }

  /** `findOrAdd` of `text.slice(start, end)`, without making that string. */
  findOrAddIn(text: string, start: number, end: number, tag: number): number {
    return this.findOrAddEncoded(this.encodeRange(text, start, end), tag);
  }

  private findOrAddEncoded(length: number, tag: number): number {
    const mask = this.slots.length - 1;
    const h = hash(this.scratch, length);
    let slot = h & mask;
    for (; ; slot = (slot + 1) & mask) {
      const held = this.slots[slot] as number;
      if (held === 0) break;
      if (this.hashes[slot] === h && this.matches(held - 1, length)) {
        this.added = false;
        return held - 1;
      }
    }
    const handle = this.append(length, tag);
    this.slots[slot] = handle + 1;
    this.hashes[slot] = h;
    this.added = true;
    if (overloaded(++this.size, this.slots.length)) this.grow();
    return handle;
  }

  tag(handle: number): number {
    return this.page(handle)[handle % PAGE_SPAN] as number;
  }

  setTag(handle: number, tag: number): void {
    this.page(handle)[handle % PAGE_SPAN] = tag;
    this.touch(handle);
  }

  /** The float64 value at byte `at` of the entry's values. */
  float(handle: number, at: number): number {
    return this.page(handle).readDoubleLE((handle % PAGE_SPAN) + 1 + at);
  }

  setFloat(handle: number, at: number, value: number): void {
    this.page(handle).writeDoubleLE(value, (handle % PAGE_SPAN) + 1 + at);
    this.touch(handle);
  }

  uint(handle: number, at: number): number {
    return this.page(handle).readUInt32LE((handle % PAGE_SPAN) + 1 + at);
  }

  setUint(handle: number, at: number, value: number): void {
    this.page(handle).writeUInt32LE(value, (handle % PAGE_SPAN) + 1 + at);
    this.touch(handle);
  }

  int(handle: number, at: number): number {
    return this.page(handle).readInt32LE((handle % PAGE_SPAN) + 1 + at);
  }

  setInt(handle: number, at: number, value: number): void {
    this.page(handle).writeInt32LE(value, (handle % PAGE_SPAN) + 1 + at);
    this.touch(handle);
  }

  /** The entry's id. */
  id(handle: number): string {
    const page = this.page(handle);
    const { start, length } = this.idSpan(page, handle % PAGE_SPAN);
    return readId(page, start, start + length);
  }

  /** Calls `visit` with every entry's handle and tag, in the order they were added. */
  forEach(visit: (handle: number) => void): void {
    this.pages.forEach((page, p) => {
      const end = this.ends[p] as number;
      for (let at = 0; at < end; ) {
        visit(p * PAGE_SPAN + at);
        const lengthAt = at + 1 + this.valueBytes;
        const short = page[lengthAt] as number;
        at = short === LONG_ID ? lengthAt + 5 + page.readUInt32LE(lengthAt + 1) : lengthAt + 1 + short;
      }
    });
  }

  /** The used bytes of every page (what a checkpoint saves); pages are views, not copies. */
  pageBytes(): Buffer[] {
    return this.pages.map((page, p) => page.subarray(0, this.ends[p]));
  }

  /** Indexes of pages whose entries changed since `clearDirty` (new entries count as changes). */
  dirtyPages(): ReadonlySet<number> {
    return this.dirty;
  }

  clearDirty(): void {
    this.dirty.clear();
  }

  /** A table holding the entries of saved pages (as `pageBytes` gave them); it takes the buffers over. */
  static fromPages(valueBytes: number, pages: readonly Buffer[]): IdTable {
    if (pages.length > MAX_PAGES) throw new RangeError("too many id pages");
    const table = new IdTable(valueBytes);
    pages.forEach((bytes, p) => {
      // Only the last page grows; the others are used as they are, so a restore holds each page once.
      const last = p === pages.length - 1;
      const page = last ? Buffer.allocUnsafe(Math.max(bytes.length, FIRST_PAGE_BYTES)) : bytes;
      if (last) bytes.copy(page);
      table.pages.push(page);
      table.ends.push(bytes.length);
    });
    let count = 0;
    table.forEach(() => {
      count++;
    });
    table.size = count;
    let capacity = 1 << 10;
    while (overloaded(count, capacity)) capacity *= 2;
    table.rehash(capacity);
    return table;
  }

  private page(handle: number): Buffer {
    return this.pages[(handle / PAGE_SPAN) | 0] as Buffer;
  }

  private touch(handle: number): void {
    this.dirty.add(Math.floor(handle / PAGE_SPAN));
  }

  private idSpan(page: Buffer, at: number): { start: number; length: number } {
    const lengthAt = at + 1 + this.valueBytes;
    const short = page[lengthAt] as number;
    if (short !== LONG_ID) return { start: lengthAt + 1, length: short };
    return { start: lengthAt + 5, length: page.readUInt32LE(lengthAt + 1) };
  }

  private encode(id: string): number {
    if (this.scratch.length < id.length * 3) this.scratch = Buffer.allocUnsafe(id.length * 3);
    return writeId(this.scratch, 0, id);
  }

  /** Encodes `text[start, end)` into the scratch buffer: ASCII byte by byte, anything else through UTF-8. */
  private encodeRange(text: string, start: number, end: number): number {
    const length = end - start;
    if (this.scratch.length < length * 3) this.scratch = Buffer.allocUnsafe(length * 3);
    const scratch = this.scratch;
    for (let i = 0; i < length; i++) {
      const c = text.charCodeAt(start + i);
      if (c >= 0x80) return this.encode(text.slice(start, end));
      scratch[i] = c;
    }
    return length;
  }

  private matches(handle: number, length: number, source: Buffer = this.scratch, from = 0): boolean {
    const page = this.page(handle);
    const lengthAt = (handle % PAGE_SPAN) + 1 + this.valueBytes;
    let start = lengthAt + 1;
    let held = page[lengthAt] as number;
    if (held === LONG_ID) {
      held = page.readUInt32LE(lengthAt + 1);
      start = lengthAt + 5;
    }
    if (held !== length) return false;
    for (let i = 0; i < length; i++) if (page[start + i] !== source[from + i]) return false;
    return true;
  }

  private append(length: number, tag: number): number {
    const header = 1 + this.valueBytes + (length < LONG_ID ? 1 : 5);
    const bytes = header + length;
    let page = this.pages.at(-1);
    const last = this.pages.length - 1;
    if (page === undefined || page.length - (this.ends[last] as number) < bytes) {
      const size = (this.ends[last] ?? 0) + bytes;
      if (page !== undefined && page.length < PAGE_SPAN && size <= PAGE_SPAN) {
        // Grow the last page in place (small tables stay small) until it reaches a full page.
        const grown = Buffer.allocUnsafe(Math.min(PAGE_SPAN, Math.max(size, page.length * 2)));
        page.copy(grown, 0, 0, this.ends[last]);
        this.pages[last] = grown;
        page = grown;
      } else {
        if (this.pages.length >= MAX_PAGES || bytes > PAGE_SPAN) throw new RangeError("id table is full");
        page = Buffer.allocUnsafe(page === undefined ? Math.max(FIRST_PAGE_BYTES, bytes) : PAGE_SPAN);
        this.pages.push(page);
        this.ends.push(0);
      }
    }
    const p = this.pages.length - 1;
    const at = this.ends[p] as number;
    page[at] = tag;
    const lengthAt = at + 1 + this.valueBytes;
    // Byte loops: ids and values are short, and Buffer.fill/copy cost more per call than they move.
    for (let i = at + 1; i < lengthAt; i++) page[i] = 0;
    if (length < LONG_ID) page[lengthAt] = length;
    else {
      page[lengthAt] = LONG_ID;
      page.writeUInt32LE(length, lengthAt + 1);
    }
    const scratch = this.scratch;
    const idAt = at + header;
    for (let i = 0; i < length; i++) page[idAt + i] = scratch[i] as number;
    this.ends[p] = at + bytes;
    this.dirty.add(p);
    return p * PAGE_SPAN + at;
  }

  /** Doubles the slots, placing each entry by the hash it already has. */
  private grow(): void {
    const capacity = this.slots.length * 2;
    const slots = new Uint32Array(capacity);
    const hashes = new Uint32Array(capacity);
    const mask = capacity - 1;
    for (let old = 0; old < this.slots.length; old++) {
      const held = this.slots[old] as number;
      if (held === 0) continue;
      const h = this.hashes[old] as number;
      let slot = h & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = held;
      hashes[slot] = h;
    }
    this.slots = slots;
    this.hashes = hashes;
  }

  /**
   * Places every entry of the pages in slots of `capacity` (a restored table), in the order of
   * their home slots: a counting sort on the slot's top bits first, so the placing sweeps the slots
   * once. Placed in page order, each entry landed anywhere in hundreds of MiB of slots, and a
   * checkpoint of 16 M records took 5.6-7.5 s to restore, against 3.8 s now (`npm run bench -- engine`).
   */
  private rehash(capacity: number): void {
    const slots = new Uint32Array(capacity);
    const hashes = new Uint32Array(capacity);
    const mask = capacity - 1;
    const shift = Math.max(0, Math.log2(capacity) - SORT_BITS);
    const starts = new Uint32Array((capacity >>> shift) + 1);
    this.eachId((h) => {
      const b = ((h & mask) >>> shift) + 1;
      starts[b] = (starts[b] as number) + 1;
    });
    for (let b = 1; b < starts.length; b++) starts[b] = (starts[b] as number) + (starts[b - 1] as number);
    const sortedHandles = new Uint32Array(this.size);
    const sortedHashes = new Uint32Array(this.size);
    this.eachId((h, handle) => {
      const i = starts[(h & mask) >>> shift] as number;
      starts[(h & mask) >>> shift] = i + 1;
      sortedHandles[i] = handle;
      sortedHashes[i] = h;
    });
    for (let i = 0; i < sortedHashes.length; i++) {
      const h = sortedHashes[i] as number;
      let slot = h & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = (sortedHandles[i] as number) + 1;
      hashes[slot] = h;
    }
    this.slots = slots;
    this.hashes = hashes;
  }

  /** Calls `visit` with each entry's id hash and handle, walking the pages directly (no object per entry). */
  private eachId(visit: (h: number, handle: number) => void): void {
    const values = this.valueBytes;
    this.pages.forEach((page, p) => {
      const end = this.ends[p] as number;
      for (let at = 0; at < end; ) {
        const lengthAt = at + 1 + values;
        let length = page[lengthAt] as number;
        let start = lengthAt + 1;
        if (length === LONG_ID) {
          length = page.readUInt32LE(lengthAt + 1);
          start = lengthAt + 5;
        }
        visit(hash(page, length, start), p * PAGE_SPAN + at);
        at = start + length;
      }
    });
  }
}

/**
 * Linear probing up to 3/4 full: a probe mostly ends on the slot's stored hash, so long probe runs
 * stay cheap, and the slots (8 bytes each, twice that while growing) are most of the memory per id.
 */
function overloaded(size: number, slots: number): boolean {
  return size * 4 > slots * 3;
}

/** FNV-1a over `bytes[start, start + length)`. */
function hash(bytes: Buffer, length: number, start = 0): number {
  let h = 0x811c9dc5;
  for (let i = start; i < start + length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return h >>> 0;
}
