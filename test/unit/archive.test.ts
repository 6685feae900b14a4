import { describe, expect, it, vi } from "vitest";
import {
  type ArchiveDeps,
  type ArchiveResult,
  archiveBroadcast,
  planSlices,
} from "../../src/archive/archive";
import type {
  ChatLog,
  ChatLogSource,
  ChatPage,
  IvsLookups,
  ReadOptions,
  ReplayLocation,
  ReplayWriter,
  SlicePosition,
} from "../../src/archive/ports";
import { lambdaContext, sqsEvent } from "../../src/cli/lambda";
import { ChatLogReadError, ChatNotFoundError } from "../../src/errors";
import { type ArchiveRequests, createArchiveHandler } from "../../src/handlers/archive";
import { logger } from "../../src/handlers/shared";
import type { Replay } from "../../src/replay";
import type { ArchiveRequest } from "../../src/sessions/model";
import {
  chatDeletion,
  chatEvent,
  chatMessage,
  inLogOrder,
  type LoggedRecord,
  linesLoggedBetween,
} from "../support/chatRecords";
import { BUCKET, CHANNEL_ARN, PREFIX, ROOM_ARN, SESSION_ID, STREAM_ID } from "../support/ivsEvents";
import { MemoryCheckpoints, MemorySessionsStore, streamName } from "../support/memory";
import { expectedReplayText, type ReplayJson } from "../support/replays";

const LOG_GROUP = "/aws/vendedlogs/ivschat/unit";
const LOG_STREAM = "aws/IVSChatLogs/1.0/room_0wgOPVl4ZRdu";
const ARCHIVE_BUCKET = "ivs-chat-archiver-dev-archive-123456789012";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const START = Date.parse("2024-01-05T14:30:00.000Z");
const END = Date.parse("2024-01-05T15:30:00.000Z");
// The Recording Start event's time, and the (later) `recording_started_at` IVS wrote beside the recording.
const RECORDING_START = START + 1000;
const RECORDING_STARTED_AT = START + 1500;
const DURATION_MS = HOUR - 1000;
// Long after the deletion grace hour: a run then reads up to an hour past the end.
const LATER = END + 3 * HOUR;
// A clock ahead of the wall clock the in-memory table compares claim expiries with.
const FAR_FUTURE = Date.parse("2100-01-01T00:00:00.000Z");
// Another broadcast of the same channel, with the same times and room.
const OTHER_SESSION = "b7SgW34FT08jzgpR";
const OTHER_STREAM = "st-9Z8y7X6w5V4u32tsrq1Pomn";

const BY_STREAM: ArchiveRequest = { channelArn: CHANNEL_ARN, streamId: STREAM_ID };

const iso = (ms: number) => new Date(ms).toISOString();

// A busy chat: junk, a blank line, exact and forged copies of ids across slices, deletions late and too late.
const M1 = chatMessage("m1", START + 1 * MINUTE, "first!");
const CHAT: LoggedRecord[] = [
  chatMessage("m0", START - 5 * MINUTE, "before the window: never read"),
  M1,
  chatMessage("m2", START + 2 * MINUTE, "spam spam"),
  chatEvent("e1", START + 3 * MINUTE, "app:poll", { question: "Best map?" }),
  chatMessage("m3", START + 20 * MINUTE, "deleted after the end"),
  { timestampMs: START + 21 * MINUTE, line: M1.line },
  chatDeletion("d1", START + 22 * MINUTE, "m2"),
  { timestampMs: START + 23 * MINUTE, line: "chat logger restarted" },
  { timestampMs: START + 24 * MINUTE, line: "   " },
  chatMessage("m4", START + 30 * MINUTE, "the real m4"),
  chatMessage("x1", START + 35 * MINUTE, "x1 is a message"),
  chatEvent("e2", END - 30 * MINUTE, "app:cheer", { level: "3" }),
  chatMessage("m4", END - 10 * MINUTE, "a later copy of m4's id: a forgery"),
  chatMessage("m5", END - MINUTE, "bye"),
  chatDeletion("d2", END + 10 * MINUTE, "m3"),
  // Reuses x1's id: a duplicate, so it must not delete m1.
  chatDeletion("x1", END + 15 * MINUTE, "m1"),
  chatMessage("m6", END + 20 * MINUTE, "after the end: not in the window"),
  chatDeletion("d3", END + 50 * MINUTE, "m5"),
  chatDeletion("d4", END + 90 * MINUTE, "m1"),
];

/** A recorded broadcast of one stream, its events all tracked and its channel linked to the room. */
function recordedBroadcast({ streamEnd = END }: { streamEnd?: number } = {}): MemorySessionsStore {
  const store = new MemorySessionsStore();
  addRecordedBroadcast(store, SESSION_ID, STREAM_ID, streamEnd);
  store.links.set(CHANNEL_ARN, { roomArn: ROOM_ARN });
  return store;
}

function addRecordedBroadcast(
  store: MemorySessionsStore,
  sessionId: string,
  streamId: string,
  streamEnd = END,
): void {
  store.streams.set(streamName(CHANNEL_ARN, streamId), {
    streamId,
    channelArn: CHANNEL_ARN,
    startAt: iso(START),
    endAt: iso(streamEnd),
    recordingSessionId: sessionId,
  });
  store.recordings.set(sessionId, {
    sessionId,
    channelArn: CHANNEL_ARN,
    streamIds: [streamId],
    bucket: BUCKET,
    prefix: PREFIX,
    startAt: iso(RECORDING_START),
    endAt: iso(END + 10_000),
    durationMs: DURATION_MS,
  });
}

/** A stream that ended with nothing saying it was recorded, and its room linked. */
function unrecordedStream(): { store: MemorySessionsStore; world: World } {
  const store = new MemorySessionsStore();
  store.streams.set(streamName(CHANNEL_ARN, STREAM_ID), {
    streamId: STREAM_ID,
    channelArn: CHANNEL_ARN,
    startAt: iso(START),
    endAt: iso(END),
  });
  store.links.set(CHANNEL_ARN, { roomArn: ROOM_ARN });
  return { store, world: new World(store) };
}

/** The stream's Recording Start, arriving late: the stream is part of that recording from now on. */
async function recordLate(store: MemorySessionsStore, sessionId: string): Promise<void> {
  await store.recordRecording({
    kind: "recordingStart",
    channelArn: CHANNEL_ARN,
    sessionId,
    streamIds: [STREAM_ID],
    at: new Date(RECORDING_START),
    bucket: BUCKET,
    prefix: PREFIX,
  });
  await store.attachStreams(CHANNEL_ARN, [STREAM_ID], sessionId);
}

/** The replay the offline core builds from the records logged in `[START, untilMs)`, with the archive's header. */
function expectedUntil(untilMs: number, windowEnd = END): Promise<string> {
  return expectedReplayText(linesLoggedBetween(CHAT, START, untilMs), {
    window: { start: START, end: windowEnd },
    offsetBase: RECORDING_STARTED_AT,
    channelArn: CHANNEL_ARN,
    roomArn: ROOM_ARN,
    streamIds: [STREAM_ID],
    recording: { bucket: BUCKET, prefix: PREFIX, sessionId: SESSION_ID, durationMs: DURATION_MS },
    // Rule 8 (b): the stream, from the recording's start
    timeline: [{ start: RECORDING_STARTED_AT, end: windowEnd, mediaMs: 0 }],
  });
}

// IVS and IVS Chat have nothing to say: rooms come from links and the log group from CHAT_LOG_GROUP.
const silentLookups: IvsLookups = {
  roomFromChannelTag: async () => undefined,
  roomByChannelName: async () => ({ reason: 'no room is named "gaming-night"' }),
  loggingOfRoom: async () => ({}),
  streamSessionTimes: async () => undefined,
};

/** In which order a fake log hands out the pages of the slices it is asked for. */
type PageOrder = "inOrder" | "lastSliceFirst" | "roundRobinFromLast";

interface FakeChatLogOptions {
  records?: readonly LoggedRecord[];
  pageSize?: number;
  order?: PageOrder;
  /** Thrown by every read before its first page. */
  failure?: Error;
  /** "stuck" answers one empty page that stays where it was, then stops; "silent" answers nothing at all. */
  answer?: "records" | "stuck" | "silent";
  /** Every read waits for this before its first page. */
  gate?: Promise<void>;
}

/**
 * A room's log in memory, read as slices the way the CloudWatch adapter reads it: records of
 * `[start, end)` in log order, pages of `pageSize` behind tokens that name the slice and the
 * offset, `done` on the empty page after the last record. A token that does not match the
 * slice it is sent with is refused, as GetLogEvents refuses a token from another request.
 */
class FakeChatLog implements ChatLog {
  readonly reads: { source: ChatLogSource; slices: SlicePosition[] }[] = [];
  private crashAfter: number | undefined;
  private turn = 0;

  constructor(private readonly options: FakeChatLogOptions = {}) {}

  /** The next read serves `pages` pages, then fails as a dropped connection does. */
  crashNextReadAfter(pages: number): void {
    this.crashAfter = pages;
  }

  async *read(
    source: ChatLogSource,
    slices: readonly SlicePosition[],
    { windDown = () => false }: ReadOptions = {},
  ): AsyncIterable<ChatPage> {
    this.reads.push({ source: structuredClone(source), slices: structuredClone([...slices]) });
    const crashAfter = this.crashAfter;
    this.crashAfter = undefined;
    if (this.options.gate !== undefined) await this.options.gate;
    if (this.options.failure !== undefined) throw this.options.failure;
    const answer = this.options.answer ?? "records";
    if (answer === "silent") return;
    const positions = slices.map((slice) => ({ ...slice }));
    if (answer === "stuck") {
      const index = positions.findIndex((slice) => !slice.done);
      const position = positions[index];
      if (position !== undefined)
        yield { slice: index, seq: position.read, records: [], next: position, retries: 0 };
      return;
    }
    // One page asked for at a time: winding down, none is.
    for (let served = 0; !windDown(); served++) {
      const index = this.pick(positions);
      const position = index === undefined ? undefined : positions[index];
      if (index === undefined || position === undefined) return;
      if (crashAfter !== undefined && served >= crashAfter) {
        throw new ChatLogReadError("reading the chat log failed: socket hang up");
      }
      const page = this.page(index, position);
      positions[index] = page.next;
      yield page;
    }
  }

  private pick(positions: readonly SlicePosition[]): number | undefined {
    const open = positions.flatMap((slice, i) => (slice.done ? [] : [i]));
    const order = this.options.order ?? "inOrder";
    if (order === "inOrder") return open[0];
    if (order === "lastSliceFirst") return open.at(-1);
    return open.reverse()[this.turn++ % open.length];
  }

  private page(index: number, position: SlicePosition): ChatPage {
    const lines = inLogOrder(this.options.records ?? CHAT)
      .filter((r) => r.timestampMs >= position.start && r.timestampMs < position.end)
      .map((r) => r.line);
    const offset = position.token === undefined ? 0 : this.offsetOf(position);
    const records = lines.slice(offset, offset + (this.options.pageSize ?? 2));
    const read = offset + records.length;
    const next = {
      ...position,
      token: `t/${position.start}/${position.end}/${read}`,
      read,
      done: offset >= lines.length,
    };
    // Every page comes after one throttled attempt: the run's metrics count them.
    return { slice: index, seq: position.read, records, next, retries: 1 };
  }

  private offsetOf(position: SlicePosition): number {
    const [, start, end, offset] = (position.token ?? "").split("/");
    if (
      Number(start) !== position.start ||
      Number(end) !== position.end ||
      Number(offset) !== position.read
    ) {
      throw new Error(
        `token ${position.token} does not belong to slice [${position.start}, ${position.end}) at ${position.read}`,
      );
    }
    return Number(offset);
  }
}

/** The replay bucket: what was written, whole; it can be made to fail in the middle of a write. */
class FakeReplayWriter implements ReplayWriter {
  readonly written: { location: ReplayLocation; text: string }[] = [];
  private failures = 0;
  private readonly holds: Promise<void>[] = [];

  failNextWrite(): void {
    this.failures++;
  }

  /** The next write waits for `until` before it sends a byte. */
  holdNextWrite(until: Promise<void>): void {
    this.holds.push(until);
  }

  /** Writes begun, held or not. */
  started = 0;

  async write(location: ReplayLocation, replay: Replay): Promise<number> {
    this.started++;
    const hold = this.holds.shift();
    if (hold !== undefined) await hold;
    const chunks: Buffer[] = [];
    for await (const chunk of replay.chunks(256)) {
      chunks.push(chunk);
      if (this.failures > 0) {
        this.failures--;
        throw new Error("S3 upload aborted: connection reset");
      }
    }
    this.written.push({ location, text: Buffer.concat(chunks).toString("utf8") });
    return Buffer.concat(chunks).length;
  }

  readonly removed: ReplayLocation[] = [];

  async remove(location: ReplayLocation): Promise<void> {
    this.removed.push(location);
  }

  get last(): string | undefined {
    return this.written.at(-1)?.text;
  }
}

/** Checkpoints in memory whose next document saves can be made to fail or to wait. */
class ControlledCheckpoints extends MemoryCheckpoints {
  /** Document saves begun so far. */
  saving = 0;
  private failures = 0;
  private readonly holds: Promise<void>[] = [];

  failNextSave(): void {
    this.failures++;
  }

  holdNextSave(until: Promise<void>): void {
    this.holds.push(until);
  }

  override async save(chain: string, checkpoint: unknown): Promise<void> {
    this.saving++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error("S3 PutObject failed: 503 Slow Down");
    }
    const hold = this.holds.shift();
    if (hold !== undefined) await hold;
    await super.save(chain, checkpoint);
  }
}

/** What successive runs of the archive share: the table, the checkpoints, the replay bucket, the chain ids, the log. */
class World {
  readonly writer = new FakeReplayWriter();
  readonly warnings: string[] = [];
  private chains = 0;

  constructor(
    readonly store: MemorySessionsStore = recordedBroadcast(),
    readonly checkpoints: MemoryCheckpoints = new MemoryCheckpoints(),
  ) {}

  /** Dependencies of one run reading `chatLog`, at `LATER` with plenty of time unless told otherwise. */
  deps(chatLog: ChatLog, overrides: Partial<ArchiveDeps> = {}): ArchiveDeps {
    return {
      store: this.store,
      lookups: silentLookups,
      chatLog,
      replays: this.writer,
      recordings: {
        startedAt: async () => new Date(RECORDING_STARTED_AT),
        mediaPlaylist: async () => undefined,
      },
      checkpoints: this.checkpoints,
      archiveBucket: ARCHIVE_BUCKET,
      logGroupOverride: LOG_GROUP,
      readTps: 3,
      settleSeconds: 60,
      now: () => new Date(LATER),
      newChainId: () => `chain-${++this.chains}`,
      log: { info: () => undefined, warn: (message) => this.warnings.push(message) },
      ...overrides,
    };
  }

  get archive() {
    return this.store.recordings.get(SESSION_ID)?.archive;
  }
}

/** A run's clock that runs low after `pages` pages (each page asks once). */
function timeForPages(pages: number): () => number {
  let asked = 0;
  return () => (++asked < pages ? 15 * MINUTE : 0);
}

/** Runs a request and its continuations to the end, each run with fresh dependencies. */
async function runChain(
  request: ArchiveRequest,
  depsOfRun: () => ArchiveDeps,
): Promise<{ result: ArchiveResult; runs: number }> {
  let result = await archiveBroadcast(request, depsOfRun());
  let runs = 1;
  while (result.status === "continuing" && runs < 500) {
    result = await archiveBroadcast(result.request, depsOfRun());
    runs++;
  }
  return { result, runs };
}

/** The continuation request of a first run that stopped after one page. */
async function interruptedRun(world: World, overrides: Partial<ArchiveDeps> = {}): Promise<ArchiveRequest> {
  const result = await archiveBroadcast(
    BY_STREAM,
    world.deps(new FakeChatLog(), { remainingMs: () => 0, ...overrides }),
  );
  if (result.status !== "continuing")
    throw new Error(`the first run should continue, it is ${result.status}`);
  return result.request;
}

/** Where a read's slices start and end, and whether each one starts where the one before ended. */
function spanOf(slices: readonly SlicePosition[]) {
  return {
    start: slices[0]?.start,
    end: slices.at(-1)?.end,
    contiguous: slices.every((slice, i) => i === 0 || slice.start === slices[i - 1]?.end),
    fresh: slices.every((slice) => slice.token === undefined && slice.read === 0 && !slice.done),
  };
}

function replayJson(text: string | undefined): ReplayJson {
  return JSON.parse(text ?? "null") as ReplayJson;
}

function gate(): { opened: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** Waits (bounded) until `condition` holds, letting other runs make progress. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error("the runs never got there");
}

describe("planSlices", () => {
  it("cuts the read range into contiguous slices of at least a minute, one per request per second", () => {
    // Act
    const slices = planSlices(START, END + HOUR, 6);

    // Assess
    expect(slices).toHaveLength(6);
    expect(spanOf(slices)).toEqual({ start: START, end: END + HOUR, contiguous: true, fresh: true });
    expect(slices.every((slice) => slice.end - slice.start >= MINUTE)).toBe(true);
  });

  it("divides the broadcast's window, the last slice reading on through the hour after it", () => {
    // Act
    const slices = planSlices(START, END + HOUR, 6, END);

    // Assess: six slices over the window, none of them only over the hour after it
    expect(slices).toHaveLength(6);
    expect(spanOf(slices)).toEqual({ start: START, end: END + HOUR, contiguous: true, fresh: true });
    expect(slices.slice(0, -1).every((slice) => slice.end <= END)).toBe(true);
    expect(slices.at(-1)?.start).toBeLessThan(END);
    const lengths = slices.slice(0, -1).map((slice) => slice.end - slice.start);
    expect(Math.max(...lengths) - Math.min(...lengths)).toBeLessThanOrEqual(1);
  });

  it("divides the whole range when the window's end is not a number", () => {
    // Act
    const slices = planSlices(START, END, 6, Number.NaN);

    // Assess
    expect(slices).toHaveLength(6);
    expect(spanOf(slices)).toEqual({ start: START, end: END, contiguous: true, fresh: true });
  });

  it("reads a range shorter than two minutes as one slice", () => {
    // Act
    const slices = planSlices(START, START + 90_000, 10);

    // Assess
    expect(slices).toEqual([{ start: START, end: START + 90_000, read: 0, done: false, rank: 0 }]);
  });
});

describe("archiveBroadcast reading the chat log", () => {
  it("writes the replay of the window, read to an hour past its end, next to the recording", async () => {
    // Prepare: the recording waits in the sweep's index
    const world = new World();
    const chatLog = new FakeChatLog();
    await world.store.setDue({ recordingSessionId: SESSION_ID }, 1);

    // Act
    const result = await archiveBroadcast(BY_STREAM, world.deps(chatLog));

    // Assess
    const location = { bucket: BUCKET, key: `${PREFIX}/chat/replay.json` };
    expect(result).toEqual({
      status: "archived",
      location,
      counts: { records: 16, messages: 3, events: 2, deleted: 3, duplicates: 3, skipped: 1 },
      window: { start: iso(START), end: iso(END) },
      readUntil: iso(END + HOUR),
      stats: {
        run: 1,
        pages: expect.any(Number),
        throttles: expect.any(Number),
        bytes: Buffer.byteLength(world.writer.written[0]?.text ?? ""),
        unreadable: 0,
      },
    });
    // The fake's every page came after one refused attempt.
    const stats = result.status === "archived" ? result.stats : undefined;
    expect(stats?.pages).toBeGreaterThan(0);
    expect(stats?.throttles).toBe(stats?.pages);
    expect(world.writer.written.map((w) => w.location)).toEqual([location]);
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
    const replay = replayJson(world.writer.last);
    expect(replay.messages.map((m) => [m.id, m.content])).toEqual([
      ["m1", "first!"],
      ["m4", "the real m4"],
      ["x1", "x1 is a message"],
    ]);
    expect(replay.offsetBase).toBe(iso(RECORDING_STARTED_AT));
    expect(replay.messages[0]?.offsetMs).toBe(MINUTE - 1500);
    expect(world.archive).toEqual({
      status: "archived",
      at: iso(LATER),
      location,
      window: { start: iso(START), end: iso(END) },
      counts: result.status === "archived" ? result.counts : undefined,
      readUntil: iso(END + HOUR),
      chatLog: `logs:${LOG_GROUP}:${LOG_STREAM}`,
    });
    // Read past the deletions grace: nothing left for the sweep.
    expect([...world.store.due.values()]).toEqual([]);
  });

  it("asks the room's log for slices from the window's start to an hour past its end", async () => {
    // Prepare
    const world = new World();
    const chatLog = new FakeChatLog();

    // Act
    await archiveBroadcast(BY_STREAM, world.deps(chatLog));

    // Assess
    const [first, ...others] = chatLog.reads;
    expect(others).toEqual([]);
    expect(first?.source).toEqual({ kind: "cloudwatch", logGroupName: LOG_GROUP, logStreamName: LOG_STREAM });
    expect(first?.slices).toHaveLength(3);
    expect(spanOf(first?.slices ?? [])).toEqual({
      start: START,
      end: END + HOUR,
      contiguous: true,
      fresh: true,
    });
  });

  it("reads only up to now when it runs within the hour after the end, and says so", async () => {
    // Prepare
    const world = new World();
    const chatLog = new FakeChatLog();
    const now = END + 30 * MINUTE;

    // Act
    const result = await archiveBroadcast(BY_STREAM, world.deps(chatLog, { now: () => new Date(now) }));

    // Assess
    expect(result).toMatchObject({ status: "archived", readUntil: iso(now) });
    expect(spanOf(chatLog.reads[0]?.slices ?? [])).toMatchObject({
      start: START,
      end: now,
      contiguous: true,
    });
    expect(world.writer.last).toBe(await expectedUntil(now));
    // d3 (deleting m5) is logged after `now`: m5 is still in this replay.
    expect(replayJson(world.writer.last).messages.map((m) => m.id)).toContain("m5");
    // The sweep queues the final pass an hour and the settle delay (60 s) after the end.
    expect([...world.store.due.values()]).toEqual([
      { target: { recordingSessionId: SESSION_ID }, dueAt: (END + HOUR) / 1000 + 60, attempts: 0 },
    ]);
  });

  it.each<PageOrder>(["lastSliceFirst", "roundRobinFromLast"])(
    "gives the replay of the log in order when the slices' pages arrive %s",
    async (order) => {
      // Prepare
      const world = new World();

      // Act
      await archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog({ order, pageSize: 1 })));

      // Assess
      expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
    },
  );

  it("measures offsets from the Recording Start event when recording-started.json cannot be read", async () => {
    // Prepare
    const world = new World();

    // Act
    await archiveBroadcast(
      BY_STREAM,
      world.deps(new FakeChatLog(), {
        recordings: { startedAt: async () => undefined, mediaPlaylist: async () => undefined },
      }),
    );

    // Assess
    const replay = replayJson(world.writer.last);
    expect(replay.offsetBase).toBe(iso(RECORDING_START));
    expect(replay.messages[0]?.offsetMs).toBe(MINUTE - 1000);
  });

  it("writes the replay of a broadcast that was not recorded to the archive bucket", async () => {
    // Prepare
    const { store, world } = unrecordedStream();

    // Act
    const result = await archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog()));

    // Assess
    const location = { bucket: ARCHIVE_BUCKET, key: `chat-replays/AbCdef1G2hij/${STREAM_ID}/replay.json` };
    expect(result).toMatchObject({ status: "archived", location });
    expect(store.streams.get(streamName(CHANNEL_ARN, STREAM_ID))?.archive).toMatchObject({
      status: "archived",
      location,
    });
    expect(replayJson(world.writer.last)).toMatchObject({ recording: null, offsetBase: iso(START) });
  });

  it("writes nothing for a stream that turned out, while it was read, to be part of a recording", async () => {
    // Prepare: the Recording Start arrives while the stream's own archive reads the log
    const { store, world } = unrecordedStream();
    const door = gate();
    const running = archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog({ gate: door.opened })));
    await recordLate(store, "lateRecording1");

    // Act
    door.open();
    const result = await running;

    // Assess
    expect(result).toEqual({
      status: "superseded",
      reason: "the stream is part of recording lateRecording1, archived next to it",
      stats: expect.objectContaining({ run: 1, bytes: 0 }),
    });
    expect(world.writer.written).toEqual([]);
    expect(store.archives).toEqual([]);
  });

  it("removes its own replay when its stream became part of a recording while the replay was written", async () => {
    // Prepare: the recording is known (and archived, without this stream's archive to tidy) during the write
    const { store, world } = unrecordedStream();
    const door = gate();
    world.writer.holdNextWrite(door.opened);
    const running = archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog()));
    while (world.writer.started === 0) await new Promise((resolve) => setImmediate(resolve));
    await recordLate(store, "lateRecording2");

    // Act
    door.open();
    const result = await running;

    // Assess: written, then taken back
    const location = { bucket: ARCHIVE_BUCKET, key: `chat-replays/AbCdef1G2hij/${STREAM_ID}/replay.json` };
    expect(result).toMatchObject({ status: "archived", location });
    expect(world.writer.removed).toEqual([location]);
    expect(store.streams.get(streamName(CHANNEL_ARN, STREAM_ID))?.archive).toBeUndefined();
  });

  it("gives an empty replay for a room nobody chatted in", async () => {
    // Prepare
    const world = new World();

    // Act
    const result = await archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog({ records: [] })));

    // Assess
    expect(result).toMatchObject({
      status: "archived",
      counts: { records: 0, messages: 0, events: 0, deleted: 0, duplicates: 0, skipped: 0 },
    });
    expect(world.writer.last).toBe(
      await expectedReplayText([], {
        window: { start: START, end: END },
        offsetBase: RECORDING_STARTED_AT,
        channelArn: CHANNEL_ARN,
        roomArn: ROOM_ARN,
        streamIds: [STREAM_ID],
        recording: { bucket: BUCKET, prefix: PREFIX, sessionId: SESSION_ID, durationMs: DURATION_MS },
        timeline: [{ start: RECORDING_STARTED_AT, end: END, mediaMs: 0 }],
      }),
    );
  });

  it("marks the broadcast failed with the reason when the log group does not exist", async () => {
    // Prepare
    const world = new World();
    const missing = new ChatNotFoundError(`chat log group ${LOG_GROUP} does not exist`);
    await world.store.setDue({ recordingSessionId: SESSION_ID }, 1);

    // Act
    const result = await archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog({ failure: missing })));

    // Assess: recorded at once, and out of the sweep's index
    expect(result).toEqual({ status: "failed", reason: missing.message });
    expect(world.writer.written).toEqual([]);
    expect(world.archive).toEqual({ status: "failed", at: iso(LATER), reason: missing.message });
    expect(world.store.due.size).toBe(0);
  });

  it("throws a read error worth retrying, recording nothing on the broadcast", async () => {
    // Prepare
    const world = new World();
    const chatLog = new FakeChatLog();
    chatLog.crashNextReadAfter(2);

    // Act
    const run = archiveBroadcast(BY_STREAM, world.deps(chatLog));

    // Assess
    await expect(run).rejects.toThrow(ChatLogReadError);
    expect(world.writer.written).toEqual([]);
    expect(world.store.archives).toEqual([]);
  });
});

describe("archiveBroadcast for a broadcast it cannot archive", () => {
  it("marks the broadcast failed with the reason when the channel's room cannot be found, reading no chat", async () => {
    // Prepare
    const world = new World();
    world.store.links.clear();
    const chatLog = new FakeChatLog();

    // Act
    const result = await archiveBroadcast(BY_STREAM, world.deps(chatLog, { logGroupOverride: undefined }));

    // Assess
    expect(result).toEqual({ status: "failed", reason: expect.stringContaining("no chat room") });
    const reason = result.status === "failed" ? result.reason : "";
    expect(reason).toContain(CHANNEL_ARN);
    expect(reason).toContain('no room is named "gaming-night"');
    expect(world.store.archives).toEqual([
      { request: { recordingSessionId: SESSION_ID }, state: { status: "failed", at: iso(LATER), reason } },
    ]);
    expect(world.writer.written).toEqual([]);
    expect(chatLog.reads).toEqual([]);
  });

  it("answers failed for a recording session the table does not know, writing nothing anywhere", async () => {
    // Prepare
    const world = new World();
    const chatLog = new FakeChatLog();

    // Act
    const result = await archiveBroadcast({ recordingSessionId: "unknownSession1" }, world.deps(chatLog));

    // Assess
    expect(result).toEqual({ status: "failed", reason: expect.stringContaining("unknownSession1") });
    expect(world.store.archives).toEqual([]);
    expect(world.writer.written).toEqual([]);
    expect(chatLog.reads).toEqual([]);
  });
});

describe("archiveBroadcast of a recording merged across a reconnect gap (rule 8)", () => {
  const RECONNECT = START + 25 * MINUTE;
  const lines = [
    chatMessage("early", START + MINUTE, "in the first stream"),
    chatMessage("inGap", START + 22 * MINUTE, "while the streamer reconnects"),
    chatMessage("after", RECONNECT + 2 * MINUTE, "after the reconnect"),
  ];

  /** The recording of two streams: START-START+20min, then START+25min-END. */
  function mergedWorld(): World {
    const store = new MemorySessionsStore();
    addRecordedBroadcast(store, SESSION_ID, STREAM_ID, START + 20 * MINUTE);
    store.streams.set(streamName(CHANNEL_ARN, "st-Second"), {
      streamId: "st-Second",
      channelArn: CHANNEL_ARN,
      startAt: iso(RECONNECT),
      endAt: iso(END),
      recordingSessionId: SESSION_ID,
    });
    const recording = store.recordings.get(SESSION_ID);
    if (recording !== undefined) recording.streamIds = [STREAM_ID, "st-Second"];
    store.links.set(CHANNEL_ARN, { roomArn: ROOM_ARN });
    return new World(store);
  }

  const offsets = (text: string | undefined) =>
    (JSON.parse(text ?? "{}") as ReplayJson).messages.map((m) => [m.id, m.offsetMs] as const);

  it("takes the timeline from the streams' times when the recording has no playlist with dates", async () => {
    // Act
    const world = mergedWorld();
    await archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog({ records: lines })));

    // Assess: the second piece starts in the media where the first one ended (20 min less the 1.5 s before the recording)
    const firstLength = START + 20 * MINUTE - RECORDING_STARTED_AT;
    const replay = JSON.parse(world.writer.last ?? "{}") as ReplayJson & { timeline: unknown };
    expect(replay.timeline).toEqual([
      { start: iso(RECORDING_STARTED_AT), end: iso(START + 20 * MINUTE), mediaMs: 0 },
      { start: iso(RECONNECT), end: iso(END), mediaMs: firstLength },
    ]);
    expect(offsets(world.writer.last)).toEqual([
      ["early", MINUTE - 1500],
      ["inGap", firstLength],
      ["after", firstLength + 2 * MINUTE],
    ]);
  });

  it("takes the timeline from the first rendition's playlist when it carries program dates", async () => {
    // Prepare: the media holds 10 s less of the first stream than the events say
    const world = mergedWorld();
    const playlist = [
      "#EXTM3U",
      "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:30:02.000Z",
      "#EXTINF:1188.000,",
      "0.ts",
      "#EXT-X-DISCONTINUITY",
      "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:55:00.500Z",
      "#EXTINF:2099.500,",
      "1.ts",
      "#EXT-X-ENDLIST",
    ].join("\n");

    // Act
    await archiveBroadcast(
      BY_STREAM,
      world.deps(new FakeChatLog({ records: lines }), {
        recordings: {
          startedAt: async () => new Date(RECORDING_STARTED_AT),
          mediaPlaylist: async () => playlist,
        },
      }),
    );

    // Assess
    const replay = JSON.parse(world.writer.last ?? "{}") as ReplayJson & {
      timeline: unknown;
      offsetBase: string;
    };
    expect(replay.offsetBase).toBe("2024-01-05T14:30:02.000Z");
    expect(replay.timeline).toEqual([
      { start: "2024-01-05T14:30:02.000Z", end: "2024-01-05T14:49:50.000Z", mediaMs: 0 },
      { start: "2024-01-05T14:55:00.500Z", end: "2024-01-05T15:30:00.000Z", mediaMs: 1_188_000 },
    ]);
    expect(offsets(world.writer.last)).toEqual([
      ["early", MINUTE - 2000],
      ["inGap", 1_188_000],
      ["after", 1_188_000 + 2 * MINUTE - 500],
    ]);
  });
});

describe("archiveBroadcast of a recording in a bucket the stack is not configured for", () => {
  it("fails at once with the reason, reading and writing nothing", async () => {
    // Prepare
    const world = new World();
    const chatLog = new FakeChatLog();

    // Act
    const result = await archiveBroadcast(
      BY_STREAM,
      world.deps(chatLog, { recordingBuckets: ["other-recordings"] }),
    );

    // Assess
    expect(result).toEqual({
      status: "failed",
      reason: `recording bucket ${BUCKET} is not one this stack is configured for (RECORDING_BUCKETS: other-recordings)`,
    });
    expect(world.store.archives.map((a) => a.state.status)).toEqual(["failed"]);
    expect(world.writer.written).toEqual([]);
    expect(chatLog.reads).toEqual([]);
  });
});

describe("archiveBroadcast given a checkpoint it must not trust", () => {
  interface Attack {
    name: string;
    because: string;
    /** Leaves a bad checkpoint behind; returns the continuation request that will find it. */
    plant(world: World): Promise<ArchiveRequest>;
    /** The window the archive then finds. */
    windowEnd?: number;
    now?: number;
  }

  /** Replaces the document of a real interrupted run with `text`. */
  const rewritten =
    (edit: (text: string) => string) =>
    async (world: World): Promise<ArchiveRequest> => {
      const request = await interruptedRun(world);
      const chain = request.chain ?? "";
      world.checkpoints.documents.set(chain, edit(world.checkpoints.documents.get(chain) ?? ""));
      return request;
    };
  const edited = (change: (json: Record<string, unknown>) => void) =>
    rewritten((text) => {
      const json = JSON.parse(text) as Record<string, unknown>;
      change(json);
      return JSON.stringify(json);
    });

  const attacks: Attack[] = [
    {
      name: "truncated JSON",
      because: "not JSON",
      plant: rewritten((text) => text.slice(0, Math.floor(text.length / 2))),
    },
    { name: "an empty document", because: "not JSON", plant: rewritten(() => "") },
    {
      name: "garbage (an S3 error page)",
      because: "not JSON",
      plant: rewritten(() => "<Error><Code>AccessDenied</Code></Error>\u0000\u00ff"),
    },
    { name: "JSON null", because: "not valid", plant: rewritten(() => "null") },
    {
      name: "a version 1 document (the older format)",
      because: "version 1",
      plant: rewritten(() =>
        JSON.stringify({
          version: 1,
          mark: {
            nextToken: "f/1",
            readUntil: END + 30 * MINUTE,
            window: { start: iso(START), end: iso(END) },
            savedAt: END + 30 * MINUTE,
          },
        }),
      ),
    },
    {
      name: "a version 2 document without slices",
      because: "not valid (slices",
      plant: edited((json) => {
        json.slices = [];
      }),
    },
    {
      name: "a document whose slices leave part of its range unread",
      because: "do not cover",
      plant: edited((json) => {
        (json.slices as unknown[]).pop();
      }),
    },
    {
      name: "a document whose slices' ranks are not in time order",
      because: "ranks are not in time order",
      plant: edited((json) => {
        const slices = json.slices as { rank: number }[];
        const [first, second] = slices;
        if (first !== undefined && second !== undefined)
          [first.rank, second.rank] = [second.rank, first.rank];
      }),
    },
    {
      name: "a version 7 document (slices without ranks)",
      because: "version 7",
      plant: edited((json) => {
        json.version = 7;
        for (const slice of json.slices as { rank?: number }[]) delete slice.rank;
      }),
    },
    {
      name: "a document of another broadcast",
      because: `belongs to recording/${OTHER_SESSION}`,
      plant: async (world) => {
        addRecordedBroadcast(world.store, OTHER_SESSION, OTHER_STREAM);
        const foreign = await archiveBroadcast(
          { recordingSessionId: OTHER_SESSION },
          world.deps(new FakeChatLog(), { remainingMs: () => 0 }),
        );
        const chain = foreign.status === "continuing" ? foreign.request.chain : undefined;
        return { ...BY_STREAM, chain, run: 2 };
      },
    },
    {
      name: "a document taken for another window (a later Stream End arrived since)",
      because: "another window",
      plant: async (world) => {
        const stream = world.store.streams.get(streamName(CHANNEL_ARN, STREAM_ID));
        if (stream !== undefined) stream.endAt = iso(END - 10 * MINUTE);
        const request = await interruptedRun(world);
        if (stream !== undefined) stream.endAt = iso(END);
        return request;
      },
    },
    {
      name: "a document taken reading another log group",
      because: "another chat log",
      plant: (world) => interruptedRun(world, { logGroupOverride: "/aws/vendedlogs/ivschat/old" }),
    },
    {
      name: "a document older than 12 hours",
      because: "older than 12 hours",
      plant: (world) => interruptedRun(world, { now: () => new Date(END + 30 * MINUTE) }),
      now: END + 13 * HOUR,
    },
  ];

  it.each(attacks)(
    "discards $name with a warning and archives as one uninterrupted run would",
    async (attack) => {
      // Prepare
      const world = new World();
      const request = await attack.plant(world);
      const chatLog = new FakeChatLog();
      const now = attack.now ?? LATER;

      // Act
      const result = await archiveBroadcast(request, world.deps(chatLog, { now: () => new Date(now) }));

      // Assess
      expect(request).toMatchObject({ chain: expect.any(String), run: 2 });
      expect(world.warnings).toEqual([expect.stringContaining("checkpoint discarded")]);
      expect(world.warnings[0]).toContain(attack.because);
      expect(spanOf(chatLog.reads[0]?.slices ?? [])).toEqual({
        start: START,
        end: END + HOUR,
        contiguous: true,
        fresh: true,
      });
      expect(result).toMatchObject({ status: "archived", readUntil: iso(END + HOUR) });
      expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
      expect(world.checkpoints.documents.has(request.chain ?? "")).toBe(false);
    },
  );

  it("starts over when a continuation finds no checkpoint at all, with a warning", async () => {
    // Prepare
    const world = new World();
    const chatLog = new FakeChatLog();

    // Act
    const result = await archiveBroadcast({ ...BY_STREAM, chain: "chain-lost", run: 2 }, world.deps(chatLog));

    // Assess
    expect(world.warnings).toEqual([expect.stringContaining("not found")]);
    expect(spanOf(chatLog.reads[0]?.slices ?? [])).toMatchObject({ start: START, fresh: true });
    expect(result).toMatchObject({ status: "archived" });
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
  });

  it("discards a checkpoint whose saved runs are gone (expired or deleted) instead of failing every retry", async () => {
    // Prepare
    const world = new World();
    const request = await interruptedRun(world, { spillBytes: 1 });
    world.checkpoints.stores.get(request.chain ?? "")?.objects.clear();

    // Act
    const result = await archiveBroadcast(request, world.deps(new FakeChatLog()));

    // Assess
    expect(world.warnings).toEqual([expect.stringContaining("checkpoint discarded")]);
    expect(result).toMatchObject({ status: "archived" });
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
  });
});

describe("archiveBroadcast interrupted and run again", () => {
  it("gives the uninterrupted replay from a chain of runs that each stop after one page", async () => {
    // Prepare
    const single = new World();
    await archiveBroadcast(BY_STREAM, single.deps(new FakeChatLog({ order: "roundRobinFromLast" })));
    const world = new World();
    const chatLog = new FakeChatLog({ order: "roundRobinFromLast" });

    // Act
    const { result, runs } = await runChain(BY_STREAM, () =>
      world.deps(chatLog, { remainingMs: () => 0, spillBytes: 1 }),
    );

    // Assess
    expect(result).toMatchObject({ status: "archived", readUntil: iso(END + HOUR) });
    expect(runs).toBe(chatLog.reads.length);
    expect(runs).toBeGreaterThan(10);
    expect(world.writer.written).toHaveLength(1);
    expect(world.writer.last).toBe(single.writer.last);
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
    expect(world.checkpoints.documents.size).toBe(0);
    expect(world.checkpoints.stores.size).toBe(0);
    expect(world.warnings).toEqual([]);
  });

  it("continues each run from where the one before stopped, never reading a page twice", async () => {
    // Prepare
    const world = new World();
    const chatLog = new FakeChatLog({ pageSize: 3 });

    // Act
    await runChain(BY_STREAM, () => world.deps(chatLog, { remainingMs: timeForPages(2) }));

    // Assess
    const positions = chatLog.reads.map((read) => read.slices.map((s) => s.read));
    expect(positions).toEqual([
      [0, 0, 0],
      [3, 0, 0],
      [3, 6, 0],
      [3, 8, 0],
      [3, 8, 6],
      // The run that read the last page had no time left to write: the next one only writes.
      [3, 8, 6],
    ]);
  });

  it("stops waiting for a page that never comes once half its margin is left, and the next run reads on", async () => {
    // Prepare: the first run's second page never comes, and time runs short while it waits
    const world = new World();
    const chatLog = new FakeChatLog();
    let waiting = false;
    const stalling: ChatLog = {
      async *read(source, slices) {
        for await (const page of chatLog.read(source, slices)) {
          yield page;
          waiting = true;
          await new Promise(() => undefined);
        }
      },
    };

    // Act
    const first = await archiveBroadcast(
      BY_STREAM,
      world.deps(stalling, { marginMs: 60_000, remainingMs: () => (waiting ? 10_000 : 45_000) }),
    );
    const next = first.status === "continuing" ? first.request : BY_STREAM;
    const { result } = await runChain(next, () => world.deps(chatLog));

    // Assess
    expect(first).toMatchObject({ status: "continuing" });
    expect(chatLog.reads[1]?.slices.map((slice) => slice.read)).toEqual([2, 0, 0]);
    expect(result).toMatchObject({ status: "archived" });
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
  });

  it("gives the uninterrupted replay when the chat log fails in the middle of every run's first attempt", async () => {
    // Prepare
    const world = new World();
    const chatLog = new FakeChatLog({ order: "lastSliceFirst" });
    let request: ArchiveRequest = BY_STREAM;
    let result: ArchiveResult | undefined;
    const crashes: unknown[] = [];

    // Act
    for (let run = 0; run < 100 && result?.status !== "archived"; run++) {
      chatLog.crashNextReadAfter(1);
      // A run that only has the replay left to write reads no page, so nothing crashes it.
      const attempt = await archiveBroadcast(
        request,
        world.deps(chatLog, { remainingMs: timeForPages(3), spillBytes: 1 }),
      ).catch((error: unknown) => error);
      if (attempt instanceof Error) {
        crashes.push(attempt);
        result = await archiveBroadcast(
          request,
          world.deps(chatLog, { remainingMs: timeForPages(3), spillBytes: 1 }),
        );
      } else result = attempt as ArchiveResult;
      if (result.status === "continuing") request = result.request;
    }

    // Assess
    expect(crashes.length).toBeGreaterThan(2);
    expect(crashes.every((crash) => crash instanceof ChatLogReadError)).toBe(true);
    expect(result).toMatchObject({ status: "archived" });
    expect(world.writer.written).toHaveLength(1);
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
    expect(world.checkpoints.documents.size).toBe(0);
  });

  it("gives the uninterrupted replay when saving a checkpoint fails once and that run is run again", async () => {
    // Prepare
    const checkpoints = new ControlledCheckpoints();
    const world = new World(recordedBroadcast(), checkpoints);
    const chatLog = new FakeChatLog({ order: "roundRobinFromLast" });
    const depsOfRun = () => world.deps(chatLog, { remainingMs: timeForPages(3), spillBytes: 1 });
    const request = await interruptedRun(world, { spillBytes: 1 });
    checkpoints.failNextSave();

    // Act
    await expect(archiveBroadcast(request, depsOfRun())).rejects.toThrow("503 Slow Down");
    const { result } = await runChain(request, depsOfRun);

    // Assess
    expect(result).toMatchObject({ status: "archived" });
    expect(world.writer.written).toHaveLength(1);
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
  });

  it("gives the uninterrupted replay when writing it fails once and the last run of the chain is run again", async () => {
    // Prepare
    const world = new World();
    const chatLog = new FakeChatLog();
    const request = await interruptedRun(world);
    world.writer.failNextWrite();

    // Act
    const failed = archiveBroadcast(request, world.deps(chatLog));
    await expect(failed).rejects.toThrow("S3 upload aborted");
    const statesAfterFailure = structuredClone(world.store.archives);
    const result = await archiveBroadcast(request, world.deps(chatLog));

    // Assess
    expect(statesAfterFailure).toEqual([]);
    expect(result).toMatchObject({ status: "archived", readUntil: iso(END + HOUR) });
    expect(world.writer.written).toHaveLength(1);
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
    expect(world.archive).toMatchObject({ status: "archived", readUntil: iso(END + HOUR) });
  });

  it("gives the uninterrupted replay when the write of a single run fails once and the request is run again", async () => {
    // Prepare
    const world = new World();
    world.writer.failNextWrite();

    // Act
    await expect(archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog()))).rejects.toThrow();
    const result = await archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog()));

    // Assess
    expect(result).toMatchObject({ status: "archived" });
    expect(world.writer.written).toHaveLength(1);
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
  });
});

describe("archiveBroadcast racing another run of the same broadcast", () => {
  const OLDER_NOW = END + 20 * MINUTE;

  /** Starts a run that waits at the chat log until released. */
  function heldRun(world: World, now: number) {
    const door = gate();
    const chatLog = new FakeChatLog({ gate: door.opened });
    const result = archiveBroadcast(BY_STREAM, world.deps(chatLog, { now: () => new Date(now) }));
    return { chatLog, open: door.open, result };
  }

  it("keeps the newer replay when an older run, started before it, finishes after it", async () => {
    // Prepare
    const world = new World();
    const older = heldRun(world, OLDER_NOW);
    const newer = heldRun(world, LATER);
    await until(() => older.chatLog.reads.length === 1 && newer.chatLog.reads.length === 1);

    // Act
    newer.open();
    const newerResult = await newer.result;
    const archivedState = structuredClone(world.archive);
    const statesSaved = world.store.archives.length;
    older.open();
    const olderResult = await older.result;

    // Assess
    expect(newerResult).toMatchObject({ status: "archived", readUntil: iso(END + HOUR) });
    expect(olderResult).toEqual({
      status: "superseded",
      reason: expect.stringContaining(iso(END + HOUR)),
      stats: expect.objectContaining({ bytes: 0 }),
    });
    expect(world.writer.written).toHaveLength(1);
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
    expect(world.archive).toEqual(archivedState);
    expect(world.store.archives).toHaveLength(statesSaved);
  });

  it("replaces the older replay when the newer run finishes last", async () => {
    // Prepare
    const world = new World();
    const older = heldRun(world, OLDER_NOW);
    const newer = heldRun(world, LATER);
    await until(() => older.chatLog.reads.length === 1 && newer.chatLog.reads.length === 1);

    // Act
    older.open();
    const olderResult = await older.result;
    newer.open();
    const newerResult = await newer.result;

    // Assess
    expect(olderResult).toMatchObject({ status: "archived", readUntil: iso(OLDER_NOW) });
    expect(newerResult).toMatchObject({ status: "archived", readUntil: iso(END + HOUR) });
    expect(world.writer.written.map((w) => w.text)).toEqual([
      await expectedUntil(OLDER_NOW),
      await expectedUntil(END + HOUR),
    ]);
    expect(world.archive).toMatchObject({ status: "archived", readUntil: iso(END + HOUR) });
  });

  it("supersedes a duplicate run that read as far while the first one is still writing the replay", async () => {
    // Prepare: a clock ahead of the table's, so the writing run's claim has not expired
    const world = new World();
    const now = () => new Date(FAR_FUTURE);
    const writing = gate();
    world.writer.holdNextWrite(writing.opened);
    const first = archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog(), { now }));
    await until(() => world.store.claims.size === 1);

    // Act
    const duplicate = await archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog(), { now }));
    writing.open();
    const firstResult = await first;

    // Assess
    expect(duplicate).toEqual({
      status: "superseded",
      reason: expect.stringContaining("which read as far, is writing the replay"),
      stats: expect.objectContaining({ bytes: 0 }),
    });
    expect(firstResult).toMatchObject({ status: "archived", readUntil: iso(END + HOUR) });
    expect(world.writer.written).toHaveLength(1);
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
    expect(world.store.archives.map((a) => a.state.status)).toEqual(["archived"]);
  });

  it("keeps a chain's checkpoint whole when two deliveries of the same continuation run at once", async () => {
    // Prepare: SQS delivers run 2 twice; the shorter run saves its document last
    const checkpoints = new ControlledCheckpoints();
    const world = new World(recordedBroadcast(), checkpoints);
    const request = await interruptedRun(world, { spillBytes: 1 });
    const shorterSaved = gate();
    checkpoints.holdNextSave(shorterSaved.opened);
    const shorter = archiveBroadcast(
      request,
      world.deps(new FakeChatLog(), { remainingMs: timeForPages(1), spillBytes: 1 }),
    );
    await until(() => checkpoints.saving === 2);

    // Act
    const longer = await archiveBroadcast(
      request,
      world.deps(new FakeChatLog(), { remainingMs: timeForPages(5), spillBytes: 1 }),
    );
    shorterSaved.open();
    const next = await shorter;
    const { result } = await runChain(next.status === "continuing" ? next.request : request, () =>
      world.deps(new FakeChatLog(), { spillBytes: 1 }),
    );

    // Assess
    expect(longer).toMatchObject({ status: "continuing" });
    expect(next).toMatchObject({ status: "continuing" });
    expect(result).toMatchObject({ status: "archived" });
    expect(world.writer.last).toBe(await expectedUntil(END + HOUR));
  });

  it("supersedes, without marking the broadcast failed, the last run of an older chain that starts after a newer replay landed", async () => {
    // Prepare
    const world = new World();
    const olderChain = await interruptedRun(world, { now: () => new Date(OLDER_NOW) });
    await archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog()));
    const archivedState = structuredClone(world.archive);
    const newerReplay = world.writer.last;

    // Act
    const result = await archiveBroadcast(olderChain, world.deps(new FakeChatLog()));

    // Assess
    expect(result).toEqual({
      status: "superseded",
      reason: expect.stringContaining(iso(END + HOUR)),
      stats: expect.objectContaining({ bytes: 0 }),
    });
    expect(world.writer.written).toHaveLength(1);
    expect(world.writer.last).toBe(newerReplay);
    expect(world.archive).toEqual(archivedState);
  });
});

describe("archiveBroadcast when the chat log is gone before a re-archive", () => {
  /** A broadcast whose replay of the whole chat was archived. */
  async function archivedWorld(): Promise<World> {
    const world = new World();
    await archiveBroadcast(BY_STREAM, world.deps(new FakeChatLog()));
    return world;
  }

  it.each([
    {
      name: "the log yields no records",
      chatLog: () => new FakeChatLog({ records: [] }),
      says: "no records",
    },
    {
      name: "the log holds only its last hour (retention expired)",
      chatLog: () => new FakeChatLog({ records: CHAT.filter((r) => r.timestampMs >= END) }),
      says: "4 records",
    },
    {
      name: "the log group is gone",
      chatLog: () =>
        new FakeChatLog({ failure: new ChatNotFoundError(`chat log group ${LOG_GROUP} does not exist`) }),
      says: LOG_GROUP,
    },
  ])("keeps the archived replay and marks the attempt failed when $name", async ({ chatLog, says }) => {
    // Prepare
    const world = await archivedWorld();
    const before = structuredClone(world.archive);
    const at = LATER + HOUR;

    // Act
    const result = await archiveBroadcast(BY_STREAM, world.deps(chatLog(), { now: () => new Date(at) }));

    // Assess
    expect(result).toEqual({ status: "failed", reason: expect.stringContaining(says) });
    expect(world.writer.written).toHaveLength(1);
    expect(world.archive).toEqual({
      ...before,
      status: "failed",
      at: iso(at),
      reason: result.status === "failed" ? result.reason : "",
    });
    expect(world.archive).toMatchObject({
      location: before?.location,
      counts: before?.counts,
      readUntil: before?.readUntil,
    });
  });

  it("replaces the archived replay with the empty one when forced", async () => {
    // Prepare
    const world = await archivedWorld();

    // Act
    const result = await archiveBroadcast(
      { ...BY_STREAM, force: true },
      world.deps(new FakeChatLog({ records: [] })),
    );

    // Assess
    expect(result).toMatchObject({ status: "archived", counts: { records: 0, messages: 0 } });
    expect(world.writer.written).toHaveLength(2);
    expect(replayJson(world.writer.last).messages).toEqual([]);
    expect(world.archive).toMatchObject({ status: "archived", counts: { records: 0 } });
  });
});

describe("archiveBroadcast redriven", () => {
  it.each([
    { when: "three hours after the end", now: LATER, readsUntil: END + HOUR },
    { when: "40 minutes after the end", now: END + 40 * MINUTE, readsUntil: END + 40 * MINUTE },
  ])(
    "reads up to min(now, an hour past the end), not to a leftover checkpoint's limit, $when",
    async ({ now, readsUntil }) => {
      // Prepare
      const world = new World();
      const leftover = await interruptedRun(world, { now: () => new Date(END + 10 * MINUTE) });
      const chatLog = new FakeChatLog();

      // Act
      const result = await archiveBroadcast(BY_STREAM, world.deps(chatLog, { now: () => new Date(now) }));

      // Assess
      expect(spanOf(chatLog.reads[0]?.slices ?? [])).toEqual({
        start: START,
        end: readsUntil,
        contiguous: true,
        fresh: true,
      });
      expect(result).toMatchObject({ status: "archived", readUntil: iso(readsUntil) });
      expect(world.writer.last).toBe(await expectedUntil(readsUntil));
      expect(world.checkpoints.documents.has(leftover.chain ?? "")).toBe(true);
    },
  );
});

describe("archiveBroadcast making no progress", () => {
  it("fails a chain past its 200th run permanently, with the reason, reading nothing", async () => {
    // Prepare
    const world = new World();
    const request = await interruptedRun(world);
    const chatLog = new FakeChatLog();

    // Act
    const result = await archiveBroadcast({ ...request, run: 201 }, world.deps(chatLog));

    // Assess
    expect(result).toEqual({ status: "failed", reason: expect.stringContaining("200 runs") });
    expect(chatLog.reads).toEqual([]);
    expect(world.writer.written).toEqual([]);
    expect(world.archive).toMatchObject({ status: "failed", reason: expect.stringContaining("200 runs") });
  });

  it("still lets the 200th run of a chain finish", async () => {
    // Prepare
    const world = new World();
    const request = await interruptedRun(world);

    // Act
    const result = await archiveBroadcast({ ...request, run: 200 }, world.deps(new FakeChatLog()));

    // Assess
    expect(result).toMatchObject({ status: "archived" });
  });

  it.each([
    { name: "answers nothing", answer: "silent" as const },
    { name: "answers an empty page that stays where it was", answer: "stuck" as const },
  ])("fails permanently, with the reason, a run whose log $name as its time runs out", async ({ answer }) => {
    // Prepare
    const world = new World();

    // Act
    const result = await archiveBroadcast(
      BY_STREAM,
      world.deps(new FakeChatLog({ answer }), { remainingMs: () => 0 }),
    );

    // Assess
    expect(result).toEqual({ status: "failed", reason: expect.stringContaining("no progress") });
    expect(world.archive).toMatchObject({ status: "failed" });
    expect(world.writer.written).toEqual([]);
  });
});

describe("the archive handler, when a queued archive fails for now", () => {
  it("still reports the archive's own error when the queue cannot arrange the retry", async () => {
    // Prepare: reading fails as a dropped connection does; the queue's attributes cannot be read
    const world = new World();
    const deps = world.deps(new FakeChatLog({ failure: new Error("socket hang up") }));
    const arranged: string[] = [];
    const queue: ArchiveRequests = {
      schedule: async () => undefined,
      maxReceiveCount: async () => {
        throw new Error("not allowed to GetQueueAttributes");
      },
      deadLetter: async (body) => void arranged.push(`dead-lettered ${body}`),
      retryAfter: async (_handle, seconds) => void arranged.push(`retry after ${seconds}`),
    };
    const handler = createArchiveHandler(() => ({ archive: deps, queue }));
    const logged = vi.spyOn(logger, "error");

    // Act
    const response = await handler(
      sqsEvent([{ messageId: "m1", body: JSON.stringify(BY_STREAM) }]),
      lambdaContext("archive"),
    );

    // Assess: SQS retries the message; the logs say what failed, then why the backoff could not be set
    const lines = logged.mock.calls.map(([message, extra]) => [
      message,
      ((extra as { error?: Error } | undefined)?.error as Error | undefined)?.message,
    ]);
    logged.mockRestore();
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "m1" }] });
    expect(arranged).toEqual([]);
    expect(lines).toEqual([
      ["archive request failed on receive 1", "socket hang up"],
      [
        "the retry could not be arranged; SQS retries at the queue's visibility timeout",
        "not allowed to GetQueueAttributes",
      ],
    ]);
  });
});
