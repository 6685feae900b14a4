import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Encoding, type Piece, PLAIN, Sum } from "./encoding";
import { ChunkWriter, type PlacedItem, type Replay, type ReplayHeader, writeItem } from "./engine";

/** The default length of a segment (SPEC section 4; `SEGMENT_SECONDS`). */
export const DEFAULT_SEGMENT_MS = 60_000;

/**
 * One piece of output of `replayFiles`, in the order they must land: segments as each is
 * complete, the replay and its transcript streamed alongside, the index last.
 */
export type ReplayPart =
  | { file: "replay.json"; chunk: Buffer }
  | { file: "replay.vtt"; chunk: Buffer }
  | { file: "segment"; key: string; body: Buffer }
  | { file: "index.json"; body: Buffer };

/** The names of the files beside `replay.json` (SPEC section 4), relative to its folder. */
export const REPLAY_FILES = { replay: "replay.json", index: "index.json", transcript: "replay.vtt" } as const;

interface SegmentEntry {
  startMs: number;
  endMs: number;
  messages: number;
  events: number;
  key: string;
}

/** How long a transcript cue shows. */
const CUE_MS = 5000;

const ARROW = Buffer.from(" --> ");

/** `hh:mm:ss.ttt` of WebVTT (hours grow past 99 for very long broadcasts), written digit by digit. */
function writeVttTime(out: ChunkWriter, ms: number): void {
  out.digits(Math.floor(ms / 3_600_000), 2);
  out.byte(0x3a); // :
  out.digits(Math.floor(ms / 60_000) % 60, 2);
  out.byte(0x3a);
  out.digits(Math.floor(ms / 1000) % 60, 2);
  out.byte(0x2e); // .
  out.digits(ms % 1000, 3);
}

/** A message's cue: its 5 s from max(0, offsetMs), and its transcript line. */
function writeCue(out: ChunkWriter, item: PlacedItem): void {
  const from = Math.max(0, item.offsetMs);
  out.byte(0x0a);
  writeVttTime(out, from);
  out.bytes(ARROW, 0, ARROW.length);
  writeVttTime(out, from + CUE_MS);
  out.byte(0x0a);
  out.bytes(item.bytes, item.cue, item.start);
  out.byte(0x0a);
}

// Bytes of pieces waiting for their encoding (zlib's thread pool) before the oldest is awaited (a
// segment's items count twice: for the segment and for replay.json).
const QUEUED_BYTES = 32 * 2 ** 20;

/** What the folder a replay's events are staged in (below `scratchRoot`) is named from. */
export const EVENTS_SCRATCH_PREFIX = "ivs-chat-events-";

/**
 * Every file of SPEC sections 3 and 4 in one streamed pass over the replay: `replay.json`,
 * `segments/<startMs>.json` for each segment holding an item, `replay.vtt`, and `index.json`,
 * each as it is or gzipped (`encoding`). Messages and events are taken together in media-time
 * order. Each segment's items are rendered once, and encoded once for both the segment and
 * `replay.json`; events are staged in a scratch file until `replay.json` reaches them, so memory
 * holds a few segments at a time.
 */
export async function* replayFiles(
  replay: Replay,
  segmentMs: number = DEFAULT_SEGMENT_MS,
  { scratchRoot = tmpdir(), encoding = PLAIN }: { scratchRoot?: string; encoding?: Encoding } = {},
): AsyncGenerator<ReplayPart> {
  const { header, messages, events } = await replay.open();
  const scratch = await mkdtemp(join(scratchRoot, EVENTS_SCRATCH_PREFIX));
  const staged = await open(join(scratch, "events"), "w");
  const piece = (text: string) => encoding.piece(Buffer.from(text));
  // Parts in the order they land, each waiting for its encoding; events go to the scratch file.
  const queue: {
    to: ReplayPart["file"] | "staged";
    key?: string;
    size: number;
    encoded: Buffer | Promise<Buffer>;
  }[] = [];
  let queued = 0;
  const enqueue = (to: (typeof queue)[number]["to"], p: Piece, key?: string) => {
    queue.push({ to, size: p.size, encoded: p.encoded, ...(key !== undefined && { key }) });
    queued += p.size;
  };
  /** Hands out settled parts: all of them, or only while too many bytes wait. */
  async function* settle(all: boolean): AsyncGenerator<ReplayPart> {
    while (queue.length > 0 && (all || queued > QUEUED_BYTES)) {
      const next = queue.shift() as (typeof queue)[number];
      queued -= next.size;
      const bytes = await next.encoded;
      if (bytes.length === 0) continue;
      if (next.to === "staged") await staged.write(bytes);
      else if (next.to === "segment" || next.to === "index.json")
        yield next.to === "segment"
          ? { file: "segment", key: next.key as string, body: bytes }
          : { file: "index.json", body: bytes };
      else yield { file: next.to, chunk: bytes };
    }
  }
  /** A small file of pieces, whole. */
  const whole = (pieces: Piece[]): Piece => {
    const sum = new Sum();
    for (const p of pieces) sum.add(p);
    const encoded = Promise.all(pieces.map((p) => p.encoded)).then((parts) =>
      Buffer.concat([encoding.head, ...parts, encoding.tail(sum)]),
    );
    encoded.catch(() => undefined);
    return { size: sum.size, crc: sum.crc, encoded };
  };

  try {
    const vttText = new ChunkWriter(1 << 20);
    /** Pieces to one streamed file, in order, added up for its tail. */
    const stream = (to: "replay.json" | "replay.vtt" | "staged") => {
      const sum = new Sum();
      const add = (p: Piece) => {
        sum.add(p);
        enqueue(to, p);
      };
      return Object.assign(add, { sum });
    };
    const toJson = stream("replay.json");
    const toVtt = stream("replay.vtt");
    const toStaged = stream("staged");
    enqueue("replay.json", { size: 0, crc: 0, encoded: encoding.head });
    enqueue("replay.vtt", { size: 0, crc: 0, encoded: encoding.head });
    toJson(piece(`${JSON.stringify(header).slice(0, -1)},"messages":[`));
    vttText.text("WEBVTT\n");
    const index: SegmentEntry[] = [];
    const messagesOut = new Section();
    const eventsOut = new Section();
    let k: number | undefined;

    const closeSegment = () => {
      if (k === undefined) return;
      const startMs = k * segmentMs;
      const m = messagesOut.inSegment;
      const e = eventsOut.inSegment;
      const entry = {
        startMs,
        endMs: startMs + segmentMs,
        messages: m,
        events: e,
        key: `segments/${startMs}.json`,
      };
      index.push(entry);
      const items = messagesOut.take(encoding);
      const happenings = eventsOut.take(encoding);
      const pieces = [
        piece(`{"version":2,"startMs":${startMs},"endMs":${entry.endMs},"messages":[${m > 0 ? "\n" : ""}`),
      ];
      if (items !== undefined) {
        toJson(piece(messagesOut.written === m ? "\n" : ",\n"));
        toJson(items);
        pieces.push(items);
      }
      pieces.push(piece(`${m > 0 ? "\n" : ""}],"events":[${e > 0 ? "\n" : ""}`));
      if (happenings !== undefined) {
        toStaged(piece(eventsOut.written === e ? "\n" : ",\n"));
        toStaged(happenings);
        pieces.push(happenings);
      }
      pieces.push(piece(`${e > 0 ? "\n" : ""}]}\n`));
      enqueue("segment", whole(pieces), entry.key);
      k = undefined;
    };
    /** Closes the segment being filled when `item` belongs to a later one. */
    const enter = (item: PlacedItem) => {
      // Offsets only grow along a timeline whose media spans do not overlap; were one to step back,
      // its item stays in the current segment, so the segments still concatenate to replay.json.
      const next = Math.max(Math.floor(item.offsetMs / segmentMs), k ?? Number.NEGATIVE_INFINITY);
      if (next === k) return;
      closeSegment();
      k = next;
    };

    // Both sections in media-time order; a tie goes to the message, as replay.json writes messages first.
    const nextMessages = batches(messages);
    const nextEvents = batches(events);
    let message = await nextMessages.refill();
    let event = await nextEvents.refill();
    while (message !== undefined || event !== undefined) {
      const takeMessage =
        event === undefined || (message !== undefined && message.offsetMs <= event.offsetMs);
      const item = (takeMessage ? message : event) as PlacedItem;
      enter(item);
      if (takeMessage) {
        messagesOut.add(item);
        if (item.cue === item.start)
          throw new Error("replayFiles needs an engine that keeps transcript lines");
        writeCue(vttText, item);
        if (vttText.full()) toVtt(encoding.piece(vttText.take()));
        message = nextMessages.next() ?? (await nextMessages.refill());
      } else {
        eventsOut.add(item);
        event = nextEvents.next() ?? (await nextEvents.refill());
      }
      if (queued > QUEUED_BYTES) yield* settle(false);
    }
    closeSegment();
    toVtt(encoding.piece(vttText.take()));
    enqueue("replay.vtt", { size: 0, crc: 0, encoded: encoding.tail(toVtt.sum) });
    toJson(piece(`${messagesOut.written > 0 ? "\n" : ""}],"events":[`));
    yield* settle(true);
    await staged.close();

    // The staged events, then the end of replay.json.
    for await (const chunk of createReadStream(join(scratch, "events"), { highWaterMark: 1 << 20 })) {
      yield { file: "replay.json", chunk: chunk as Buffer };
    }
    toJson.sum.add(toStaged.sum);
    toJson(piece(`${eventsOut.written > 0 ? "\n" : ""}]}\n`));
    enqueue("replay.json", { size: 0, crc: 0, encoded: encoding.tail(toJson.sum) });
    enqueue("index.json", whole([piece(`${JSON.stringify(indexOf(header, segmentMs, index))}\n`)]));
    yield* settle(true);
  } finally {
    await Promise.allSettled(queue.map((part) => part.encoded));
    await staged.close().catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}

/** One section (messages or events): its items in the segment being filled, rendered once. */
class Section {
  private readonly segment = new ChunkWriter(1 << 16);
  written = 0;
  inSegment = 0;

  add(item: PlacedItem): void {
    if (this.inSegment > 0) {
      this.segment.byte(0x2c); // ,
      this.segment.byte(0x0a);
    }
    writeItem(this.segment, item);
    this.written++;
    this.inSegment++;
  }

  /** The segment's items as a piece of their own (undefined when none); starts the next segment. */
  take(encoding: Encoding): Piece | undefined {
    if (this.inSegment === 0) return undefined;
    const items = encoding.piece(Buffer.from(this.segment.view()));
    this.segment.clear();
    this.inSegment = 0;
    return items;
  }
}

/** `index.json`: the replay's header as version 2, with the segments. */
function indexOf(header: ReplayHeader, segmentMs: number, segments: SegmentEntry[]) {
  return { ...header, version: 2, segmentMs, segments };
}

/**
 * Items one at a time from batches, without a promise per item: `next()` gives the batch's next
 * item, undefined once it is used up; `refill()` then reads on, to undefined at the end.
 */
function batches(source: AsyncGenerator<PlacedItem[]>) {
  let batch: PlacedItem[] = [];
  let i = 0;
  return {
    next(): PlacedItem | undefined {
      return batch[i++];
    },
    async refill(): Promise<PlacedItem | undefined> {
      for (;;) {
        const result = await source.next();
        if (result.done) return undefined;
        batch = result.value;
        i = 0;
        if (batch.length > 0) return batch[i++];
      }
    },
  };
}
