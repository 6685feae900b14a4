import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

/** `hh:mm:ss.ttt` of WebVTT (hours grow past 99 for very long broadcasts). */
function vttTime(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor(ms / 60_000) % 60;
  const seconds = Math.floor(ms / 1000) % 60;
  const millis = ms % 1000;
  return `${hours < 10 ? "0" : ""}${hours}:${minutes < 10 ? "0" : ""}${minutes}:${seconds < 10 ? "0" : ""}${seconds}.${millis < 10 ? "00" : millis < 100 ? "0" : ""}${millis}`;
}

/**
 * A message as cue text: `<attributes.username, else sender.userId>: <content>`, escaped as WebVTT
 * requires (`&`, `<`, `>`; so no `-->` either), its newlines kept but never an empty line, which
 * would end the cue.
 */
function cueText(item: PlacedItem): string {
  const fields = JSON.parse(item.bytes.toString("utf8", item.start, item.end)) as {
    content?: unknown;
    attributes?: { username?: unknown };
    sender?: { userId?: unknown };
  };
  const username = fields.attributes?.username;
  const who = typeof username === "string" && username !== "" ? username : fields.sender?.userId;
  const content = fields.content;
  const text = `${typeof who === "string" ? who : ""}: ${typeof content === "string" ? content : content == null ? "" : JSON.stringify(content)}`;
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replace(/[\r\n]+/g, "\n");
}

/**
 * Every file of SPEC sections 3 and 4 in one streamed pass over the replay: `replay.json`,
 * `segments/<startMs>.json` for each segment holding an item, `replay.vtt`, and `index.json`.
 * Messages and events are taken together in media-time order; events are staged in a scratch
 * file until `replay.json` reaches its events, so memory holds one segment at a time.
 */
export async function* replayFiles(
  replay: Replay,
  segmentMs: number = DEFAULT_SEGMENT_MS,
  scratchRoot: string = tmpdir(),
): AsyncGenerator<ReplayPart> {
  const { header, messages, events } = await replay.open();
  const scratch = await mkdtemp(join(scratchRoot, "replay-events-"));
  const staged = await open(join(scratch, "events.json"), "w");
  try {
    const json = new ChunkWriter(1 << 20);
    const vtt = new ChunkWriter(1 << 20);
    json.text(`${JSON.stringify(header).slice(0, -1)},"messages":[`);
    vtt.text("WEBVTT\n");
    const index: SegmentEntry[] = [];
    // Messages go straight into replay.json, events to the scratch file; each section also fills the
    // segment being filled (`k`), in writers that keep their memory.
    const messagesOut = new Section(json);
    const eventsOut = new Section(new ChunkWriter(1 << 20));
    let k: number | undefined;

    const closeSegment = (): ReplayPart | undefined => {
      if (k === undefined) return undefined;
      const startMs = k * segmentMs;
      const entry = {
        startMs,
        endMs: startMs + segmentMs,
        messages: messagesOut.inSegment,
        events: eventsOut.inSegment,
        key: `segments/${startMs}.json`,
      };
      index.push(entry);
      // One copy per segment.
      const body = Buffer.concat([
        Buffer.from(`{"version":2,"startMs":${startMs},"endMs":${entry.endMs},"messages":[`),
        messagesOut.segment.view(),
        Buffer.from(`${entry.messages > 0 ? "\n" : ""}],"events":[`),
        eventsOut.segment.view(),
        Buffer.from(`${entry.events > 0 ? "\n" : ""}]}\n`),
      ]);
      messagesOut.nextSegment();
      eventsOut.nextSegment();
      k = undefined;
      return { file: "segment", key: entry.key, body };
    };
    /** Closes the segment being filled when `item` belongs to a later one (the closed one, if any). */
    const enter = (item: PlacedItem): ReplayPart | undefined => {
      // Offsets only grow along a timeline whose media spans do not overlap; were one to step back,
      // its item stays in the current segment, so the segments still concatenate to replay.json.
      const next = Math.max(Math.floor(item.offsetMs / segmentMs), k ?? Number.NEGATIVE_INFINITY);
      if (next === k) return undefined;
      const part = closeSegment();
      k = next;
      return part;
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
      const part = enter(item);
      if (part !== undefined) yield part;
      if (takeMessage) {
        messagesOut.add(item);
        const from = Math.max(0, item.offsetMs);
        vtt.text(`\n${vttTime(from)} --> ${vttTime(from + CUE_MS)}\n${cueText(item)}\n`);
        message = nextMessages.next() ?? (await nextMessages.refill());
      } else {
        eventsOut.add(item);
        event = nextEvents.next() ?? (await nextEvents.refill());
      }
      if (json.full()) yield { file: "replay.json", chunk: json.take() };
      if (vtt.full()) yield { file: "replay.vtt", chunk: vtt.take() };
      if (eventsOut.out.full()) await staged.write(eventsOut.out.take());
    }
    const last = closeSegment();
    if (last !== undefined) yield last;
    await staged.write(eventsOut.out.take());
    await staged.close();

    messagesOut.end();
    json.text(`],"events":[`);
    yield { file: "replay.json", chunk: json.take() };
    for await (const chunk of createReadStream(join(scratch, "events.json"), { highWaterMark: 1 << 20 })) {
      yield { file: "replay.json", chunk: chunk as Buffer };
    }
    if (eventsOut.written > 0) json.text("\n");
    json.text("]}\n");
    yield { file: "replay.json", chunk: json.take() };
    yield { file: "replay.vtt", chunk: vtt.take() };
    yield { file: "index.json", body: Buffer.from(`${JSON.stringify(indexOf(header, segmentMs, index))}\n`) };
  } finally {
    await staged.close().catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}

/** One section (messages or events) of the whole replay, and of the segment being filled. */
class Section {
  readonly segment = new ChunkWriter(1 << 16);
  written = 0;
  inSegment = 0;

  constructor(readonly out: ChunkWriter) {}

  add(item: PlacedItem): void {
    this.out.text(this.written === 0 ? "\n" : ",\n");
    writeItem(this.out, item);
    this.written++;
    this.segment.text(this.inSegment === 0 ? "\n" : ",\n");
    writeItem(this.segment, item);
    this.inSegment++;
  }

  nextSegment(): void {
    this.segment.clear();
    this.inSegment = 0;
  }

  /** Closes the section's list in `out` (a last newline after any item). */
  end(): void {
    if (this.written > 0) this.out.text("\n");
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
