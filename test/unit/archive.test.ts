import {
  CloudWatchLogsClient,
  DescribeLogStreamsCommand,
  GetLogEventsCommand,
  type GetLogEventsCommandInput,
  type GetLogEventsCommandOutput,
  InvalidParameterException,
  ResourceNotFoundException,
  ServiceUnavailableException,
  ThrottlingException,
} from "@aws-sdk/client-cloudwatch-logs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { type ArchiveDeps, archiveBroadcast } from "../../src/archive/archive";
import { readChatLogPages } from "../../src/aws/chatLog";
import type { IvsLookups } from "../../src/aws/ivs";
import type { ReplayLocation } from "../../src/aws/replayStore";
import type { Replay } from "../../src/replay";
import type { ArchiveRequest } from "../../src/sessions/model";
import { chatDeletion, chatEvent, chatMessage, type LoggedRecord } from "../support/chatRecords";
import { BUCKET, CHANNEL_ARN, PREFIX, ROOM_ARN, SESSION_ID, STREAM_ID } from "../support/ivsEvents";
import { MemoryCheckpoints, MemorySessionsStore } from "../support/memory";
import { expectedReplayText, type ReplayJson } from "../support/replays";

const cwl = mockClient(CloudWatchLogsClient);

const LOG_GROUP = "/aws/vendedlogs/ivschat/unit";
const LOG_STREAM = "aws/IVSChatLogs/1.0/room_0wgOPVl4ZRdu";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const START = Date.parse("2024-01-05T14:30:00.000Z");
const END = Date.parse("2024-01-05T15:30:00.000Z");
const RECORDING_START = START + 1000;
const DURATION_MS = HOUR - 1000;
// Below the archive's margin (two minutes): time to checkpoint and stop.
const LITTLE_TIME_MS = 60_000;
const PLENTY_OF_TIME_MS = 900_000;

const BY_STREAM: ArchiveRequest = { channelArn: CHANNEL_ARN, streamId: STREAM_ID };

const iso = (ms: number) => new Date(ms).toISOString();

/** A recorded broadcast of one stream, its events all tracked and its channel linked to the room. */
function recordedBroadcast({ streamEnd = END }: { streamEnd?: number } = {}): MemorySessionsStore {
  const store = new MemorySessionsStore();
  store.streams.set(STREAM_ID, {
    streamId: STREAM_ID,
    channelArn: CHANNEL_ARN,
    startAt: iso(START),
    endAt: iso(streamEnd),
    recordingSessionId: SESSION_ID,
  });
  store.recordings.set(SESSION_ID, {
    sessionId: SESSION_ID,
    channelArn: CHANNEL_ARN,
    streamIds: [STREAM_ID],
    bucket: BUCKET,
    prefix: PREFIX,
    startAt: iso(RECORDING_START),
    endAt: iso(END + 10_000),
    durationMs: DURATION_MS,
  });
  store.links.set(CHANNEL_ARN, ROOM_ARN);
  return store;
}

/** What the archive of the recorded broadcast should write for these lines, computed by the offline core. */
function expectedFor(lines: readonly string[], windowEnd = END): Promise<string> {
  return expectedReplayText(lines, {
    window: { start: START, end: windowEnd },
    offsetBase: RECORDING_START,
    channelArn: CHANNEL_ARN,
    roomArn: ROOM_ARN,
    streamIds: [STREAM_ID],
    recording: { bucket: BUCKET, prefix: PREFIX, sessionId: SESSION_ID, durationMs: DURATION_MS },
  });
}

// IVS and IVS Chat have nothing to say: rooms come from links and the log group from CHAT_LOG_GROUP.
const silentLookups: IvsLookups = {
  roomFromChannelTag: async () => undefined,
  roomByChannelName: async () => ({ reason: 'no room is named "gaming-night"' }),
  logGroupOfRoom: async () => undefined,
  streamSessionTimes: async () => undefined,
};

interface Harness {
  deps: ArchiveDeps;
  written: { location: ReplayLocation; text: string }[];
}

/** Archive dependencies on fakes, reading the chat log through the real reader on the mocked client. */
function harness(store: MemorySessionsStore, overrides: Partial<ArchiveDeps> = {}): Harness {
  const client = new CloudWatchLogsClient({ region: "us-east-1" });
  const written: Harness["written"] = [];
  const deps: ArchiveDeps = {
    store,
    lookups: silentLookups,
    readChat: (request) => readChatLogPages(request, { client, sleep: async () => undefined }),
    replays: {
      write: async (location: ReplayLocation, replay: Replay) => {
        written.push({ location, text: replay.toString() });
      },
      recordingStartedAt: async () => undefined,
    },
    checkpoints: new MemoryCheckpoints(),
    archiveBucket: "ivs-chat-archiver-dev-archive-123456789012",
    logGroupOverride: LOG_GROUP,
    now: () => new Date(END + 3 * HOUR),
    remainingMs: () => PLENTY_OF_TIME_MS,
    ...overrides,
  };
  return { deps, written };
}

function page(records: readonly LoggedRecord[], nextForwardToken: string): GetLogEventsCommandOutput {
  return {
    $metadata: {},
    events: records.map((r) => ({ timestamp: r.timestampMs, message: r.line, ingestionTime: r.timestampMs })),
    nextForwardToken,
    nextBackwardToken: "b/0",
  };
}

/** Answers GetLogEvents from pages keyed by the token sent ("head" for none); the last token repeats. */
function servePages(pages: Record<string, GetLogEventsCommandOutput>): void {
  cwl.on(GetLogEventsCommand).callsFake((input: GetLogEventsCommandInput) => {
    const answer = pages[input.nextToken ?? "head"];
    if (answer === undefined) throw new Error(`no page behind token ${input.nextToken}`);
    return answer;
  });
}

function sentRequests(): GetLogEventsCommandInput[] {
  return cwl.commandCalls(GetLogEventsCommand).map((call) => call.args[0].input);
}

function lines(...pages: (readonly LoggedRecord[])[]): string[] {
  return pages.flat().map((r) => r.line);
}

function replayOf(harnessed: Harness): ReplayJson {
  const [only, ...others] = harnessed.written;
  expect(others).toEqual([]);
  return JSON.parse(only?.text ?? "null") as ReplayJson;
}

const throttled = () =>
  new ThrottlingException({ message: "Rate exceeded", $metadata: { httpStatusCode: 400 } });

// Three pages of a busy chat: duplicates, deletions before and after the end, a custom event, junk.
const M1 = chatMessage("m1", START + 1 * MINUTE, "first!");
const PAGE_1 = [
  M1,
  chatMessage("m2", START + 2 * MINUTE, "spam spam"),
  chatEvent("e1", START + 3 * MINUTE, "app:poll", { question: "Best map?" }),
];
const PAGE_2 = [
  chatMessage("m3", START + 20 * MINUTE, "to be deleted after the end"),
  { timestampMs: START + 21 * MINUTE, line: M1.line },
  chatDeletion("d1", START + 22 * MINUTE, "m2"),
  { timestampMs: START + 23 * MINUTE, line: "chat logger restarted" },
];
const PAGE_3 = [
  chatMessage("m4", END - MINUTE, "bye"),
  chatDeletion("d2", END + 10 * MINUTE, "m3"),
  chatMessage("m5", END + 20 * MINUTE, "after the end: not in the window"),
];
const THREE_PAGES = {
  head: page(PAGE_1, "f/1"),
  "f/1": page(PAGE_2, "f/2"),
  "f/2": page(PAGE_3, "f/3"),
  "f/3": page([], "f/3"),
};

describe("archiveBroadcast reading the chat log", () => {
  beforeEach(() => {
    cwl.reset();
  });

  it("writes the full replay through a burst of throttling in the middle of the read", async () => {
    // Prepare
    const harnessed = harness(recordedBroadcast());
    cwl
      .on(GetLogEventsCommand)
      .resolvesOnce(page(PAGE_1, "f/1"))
      .rejectsOnce(throttled())
      .rejectsOnce(throttled())
      .rejectsOnce(new ServiceUnavailableException({ message: "busy", $metadata: { httpStatusCode: 503 } }))
      .rejectsOnce(throttled())
      .rejectsOnce(throttled())
      .resolvesOnce(page(PAGE_2, "f/2"))
      .rejectsOnce(throttled())
      .resolvesOnce(page(PAGE_3, "f/3"))
      .resolvesOnce(page([], "f/3"));

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(result).toMatchObject({ status: "archived" });
    expect(harnessed.written[0]?.text).toBe(await expectedFor(lines(PAGE_1, PAGE_2, PAGE_3)));
    expect(replayOf(harnessed).counts).toEqual({
      records: 10,
      messages: 2,
      events: 1,
      deleted: 2,
      duplicates: 1,
      skipped: 1,
    });
    expect(sentRequests().map((input) => input.nextToken)).toEqual([
      undefined,
      ...Array(6).fill("f/1"),
      "f/2",
      "f/2",
      "f/3",
    ]);
  });

  it("follows empty pages that carry a new token to the chat behind them", async () => {
    // Prepare
    const harnessed = harness(recordedBroadcast());
    servePages({
      head: page([], "f/empty-1"),
      "f/empty-1": page([], "f/empty-2"),
      "f/empty-2": page(PAGE_1, "f/1"),
      "f/1": page([], "f/empty-3"),
      "f/empty-3": page(PAGE_2, "f/2"),
      "f/2": page([], "f/2"),
    });

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(result).toMatchObject({ status: "archived", counts: { records: 7, messages: 2 } });
    expect(harnessed.written[0]?.text).toBe(await expectedFor(lines(PAGE_1, PAGE_2)));
    expect(sentRequests()).toHaveLength(6);
  });

  it("ends the read when the service hands back the token it was sent", async () => {
    // Prepare
    const harnessed = harness(recordedBroadcast());
    cwl.on(GetLogEventsCommand).resolvesOnce(page(PAGE_1, "f/1")).resolves(page([], "f/1"));

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(result).toMatchObject({ status: "archived", counts: { records: 3 } });
    expect(sentRequests().map((input) => input.nextToken)).toEqual([undefined, "f/1"]);
    expect(harnessed.written[0]?.text).toBe(await expectedFor(lines(PAGE_1)));
  });

  it("reads the window from its start to an hour past its end when the archive runs later than that", async () => {
    // Prepare
    const harnessed = harness(recordedBroadcast());
    servePages(THREE_PAGES);

    // Act
    await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(sentRequests()[0]).toMatchObject({
      logGroupName: LOG_GROUP,
      logStreamName: LOG_STREAM,
      startTime: START,
      endTime: END + HOUR,
      startFromHead: true,
    });
  });

  it("processes a page of about a megabyte, 10,000 events, whole", async () => {
    // Prepare: compact but valid records, so the page holds the service's 10,000-event maximum
    const big = Array.from({ length: 10_000 }, (_, i): LoggedRecord => {
      const at = START + 300 * i;
      const line = JSON.stringify({
        event_timestamp: iso(at),
        type: "MESSAGE",
        payload: { Id: `m${String(i).padStart(5, "0")}`, SendTime: iso(at), Content: "gg" },
      });
      return { timestampMs: at, line };
    });
    const harnessed = harness(recordedBroadcast());
    servePages({ head: page(big, "f/big"), "f/big": page([], "f/big") });

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(big.reduce((bytes, r) => bytes + Buffer.byteLength(r.line), 0)).toBeGreaterThan(1_000_000);
    expect(result).toMatchObject({ status: "archived", counts: { records: 10_000, messages: 10_000 } });
    const replay = replayOf(harnessed);
    expect(replay.messages.map((m) => m.id)).toEqual(big.map((_, i) => `m${String(i).padStart(5, "0")}`));
    expect(harnessed.written[0]?.text).toBe(await expectedFor(lines(big)));
  });

  it("gives an empty replay for a room nobody chatted in (its log group has no stream for it yet)", async () => {
    // Prepare
    const harnessed = harness(recordedBroadcast());
    cwl.on(GetLogEventsCommand).rejects(
      new ResourceNotFoundException({
        message: "The specified log stream does not exist.",
        $metadata: { httpStatusCode: 400 },
      }),
    );
    cwl.on(DescribeLogStreamsCommand).resolves({ logStreams: [] });

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(result).toMatchObject({
      status: "archived",
      counts: { records: 0, messages: 0, events: 0, deleted: 0, duplicates: 0, skipped: 0 },
    });
    expect(harnessed.written[0]?.text).toBe(await expectedFor([]));
  });

  it("marks the broadcast failed when the log group itself does not exist", async () => {
    // Prepare
    const store = recordedBroadcast();
    const harnessed = harness(store);
    const missing = new ResourceNotFoundException({
      message: "The specified log group does not exist.",
      $metadata: { httpStatusCode: 400 },
    });
    cwl.on(GetLogEventsCommand).rejects(missing);
    cwl.on(DescribeLogStreamsCommand).rejects(missing);

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(result).toEqual({ status: "failed", reason: expect.stringContaining(LOG_GROUP) });
    expect(harnessed.written).toEqual([]);
    expect(store.recordings.get(SESSION_ID)?.archive).toMatchObject({ status: "failed" });
  });
});

describe("archiveBroadcast continuing a long read from a checkpoint", () => {
  beforeEach(() => {
    cwl.reset();
  });

  it("stops after the first page when time runs low, then continues from the saved token to the replay of one uninterrupted run", async () => {
    // Prepare
    servePages(THREE_PAGES);
    const firstRunNow = END + 30 * MINUTE;
    const uninterrupted = harness(recordedBroadcast(), { now: () => new Date(firstRunNow) });
    await archiveBroadcast(BY_STREAM, uninterrupted.deps);
    cwl.resetHistory();
    const store = recordedBroadcast();
    const checkpoints = new MemoryCheckpoints();
    const first = harness(store, {
      checkpoints,
      now: () => new Date(firstRunNow),
      remainingMs: () => LITTLE_TIME_MS,
    });

    // Act
    const stopped = await archiveBroadcast(BY_STREAM, first.deps);
    const firstRunRequests = sentRequests();
    const statesAfterFirstRun = [...store.archives];
    cwl.resetHistory();
    const second = harness(store, { checkpoints, now: () => new Date(END + 3 * HOUR) });
    const finished = await archiveBroadcast(BY_STREAM, second.deps);

    // Assess
    expect(stopped).toEqual({ status: "continuing", records: PAGE_1.length });
    expect(firstRunRequests).toHaveLength(1);
    expect(first.written).toEqual([]);
    expect(statesAfterFirstRun).toEqual([]);
    expect(finished).toMatchObject({ status: "archived" });
    const resumed = sentRequests();
    expect(resumed[0]?.nextToken).toBe("f/1");
    // The token is a position in the first run's request: the same bounds go with it.
    expect(resumed.map((input) => [input.startTime, input.endTime])).toEqual(
      resumed.map(() => [START, firstRunNow]),
    );
    expect(second.written[0]?.text).toBe(uninterrupted.written[0]?.text);
    expect(second.written[0]?.text).toBe(await expectedFor(lines(PAGE_1, PAGE_2, PAGE_3)));
    expect(checkpoints.saved.size).toBe(0);
    expect(store.recordings.get(SESSION_ID)?.archive).toMatchObject({
      status: "archived",
      location: { bucket: BUCKET, key: `${PREFIX}/chat/replay.json` },
    });
  });

  it("saves the read position and the window it was read for", async () => {
    // Prepare
    servePages(THREE_PAGES);
    const checkpoints = new MemoryCheckpoints();
    const harnessed = harness(recordedBroadcast(), {
      checkpoints,
      now: () => new Date(END + 30 * MINUTE),
      remainingMs: () => LITTLE_TIME_MS,
    });

    // Act
    await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect([...checkpoints.saved.values()].map((c) => c.mark)).toEqual([
      {
        nextToken: "f/1",
        readUntil: END + 30 * MINUTE,
        window: { start: iso(START), end: iso(END) },
        savedAt: END + 30 * MINUTE,
      },
    ]);
  });

  it("makes no checkpoint call but the load when there is no checkpoint", async () => {
    // Prepare
    servePages(THREE_PAGES);
    const checkpoints = new MemoryCheckpoints();
    const harnessed = harness(recordedBroadcast(), { checkpoints, now: () => new Date(END + 30 * MINUTE) });

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(result).toMatchObject({ status: "archived" });
    expect(checkpoints.removed).toEqual([]);
    expect(checkpoints.saved.size).toBe(0);
  });

  it("starts afresh from a leftover checkpoint older than 12 hours", async () => {
    // Prepare
    servePages(THREE_PAGES);
    const checkpoints = new MemoryCheckpoints();
    await archiveBroadcast(
      BY_STREAM,
      harness(recordedBroadcast(), {
        checkpoints,
        now: () => new Date(END + 30 * MINUTE),
        remainingMs: () => LITTLE_TIME_MS,
      }).deps,
    );
    cwl.resetHistory();
    const harnessed = harness(recordedBroadcast(), { checkpoints, now: () => new Date(END + 13 * HOUR) });

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(result).toMatchObject({ status: "archived" });
    expect(sentRequests()[0]?.nextToken).toBeUndefined();
    expect(checkpoints.saved.size).toBe(0);
  });

  it("reads the window again when the service no longer accepts a saved token", async () => {
    // Prepare
    servePages(THREE_PAGES);
    const checkpoints = new MemoryCheckpoints();
    const now = () => new Date(END + 30 * MINUTE);
    await archiveBroadcast(
      BY_STREAM,
      harness(recordedBroadcast(), { checkpoints, now, remainingMs: () => LITTLE_TIME_MS }).deps,
    );
    cwl.reset();
    let expired = false;
    cwl.on(GetLogEventsCommand).callsFake((input: GetLogEventsCommandInput) => {
      if (input.nextToken === "f/1" && !expired) {
        expired = true;
        throw new InvalidParameterException({
          message: "The specified nextToken is invalid.",
          $metadata: {},
        });
      }
      return (THREE_PAGES as Record<string, GetLogEventsCommandOutput>)[input.nextToken ?? "head"];
    });
    const harnessed = harness(recordedBroadcast(), { checkpoints, now });

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(result).toMatchObject({ status: "archived" });
    expect(sentRequests().map((r) => r.nextToken)).toEqual(["f/1", undefined, "f/1", "f/2", "f/3"]);
    expect(checkpoints.saved.size).toBe(0);
  });

  it("does not reuse a checkpoint taken for another window (a later Stream End arrived since)", async () => {
    // Prepare: the first run knows an earlier end, so m2 (near the real end) is outside its window
    const early = [chatMessage("m1", START + MINUTE), chatMessage("m2", END - 5 * MINUTE)];
    const late = [chatMessage("m3", END + 5 * MINUTE), chatDeletion("d1", END + 6 * MINUTE, "m1")];
    servePages({ head: page(early, "f/1"), "f/1": page(late, "f/2"), "f/2": page([], "f/2") });
    const store = recordedBroadcast({ streamEnd: END - 10 * MINUTE });
    const checkpoints = new MemoryCheckpoints();
    await archiveBroadcast(
      BY_STREAM,
      harness(store, { checkpoints, remainingMs: () => LITTLE_TIME_MS }).deps,
    );
    const stream = store.streams.get(STREAM_ID);
    if (stream !== undefined) stream.endAt = iso(END);
    cwl.resetHistory();
    const harnessed = harness(store, { checkpoints });

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(checkpoints.saved.size).toBe(0);
    expect(result).toMatchObject({ status: "archived", window: { start: iso(START), end: iso(END) } });
    expect(sentRequests()[0]?.nextToken).toBeUndefined();
    expect(harnessed.written[0]?.text).toBe(await expectedFor(lines(early, late)));
    expect(replayOf(harnessed).messages.map((m) => m.id)).toEqual(["m2"]);
  });
});

describe("archiveBroadcast for a channel whose room cannot be found", () => {
  beforeEach(() => {
    cwl.reset();
  });

  it("marks the broadcast failed with the reason, reads no chat and writes no replay", async () => {
    // Prepare
    const store = recordedBroadcast();
    store.links.clear();
    const now = new Date(END + 3 * HOUR);
    const harnessed = harness(store, { logGroupOverride: undefined, now: () => now });

    // Act
    const result = await archiveBroadcast(BY_STREAM, harnessed.deps);

    // Assess
    expect(result).toEqual({ status: "failed", reason: expect.stringContaining("no chat room") });
    const reason = result.status === "failed" ? result.reason : "";
    expect(reason).toContain(CHANNEL_ARN);
    expect(reason).toContain('no room is named "gaming-night"');
    expect(store.archives).toEqual([
      {
        request: { recordingSessionId: SESSION_ID },
        state: { status: "failed", at: now.toISOString(), reason },
      },
    ]);
    expect(harnessed.written).toEqual([]);
    expect(sentRequests()).toEqual([]);
  });
});
