import { gunzipSync } from "node:zlib";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { DeleteMessageCommand, type Message, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse } from "aws-lambda";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { hourFolder } from "../../src/archive/chat";
import { createAwsClients } from "../../src/aws/clients";
import { createDocumentClient, SessionsTable } from "../../src/aws/sessionsTable";
import { provision } from "../../src/cli/provision";
import { syntheticChatLog } from "../../src/cli/synthetic";
import { createArchiveHandler } from "../../src/handlers/archive";
import { createRecordingStateHandler } from "../../src/handlers/recordingState";
import { metrics } from "../../src/handlers/shared";
import { createStreamStateHandler } from "../../src/handlers/streamState";
import { putIvsChatObjects } from "../../src/local/ivsChatObjects";
import { once } from "../../src/once";
import { archiveHandlerDeps, trackingDeps } from "../../src/wiring";
import {
  chatDeletion,
  chatEvent,
  chatMessage,
  ensureLogGroup,
  type LoggedRecord,
  linesLoggedBetween,
  putChat,
  roomLogStream,
} from "../support/chatRecords";
import { BUCKET, type IvsEvent, ivsEvent, recordingStateEvent, streamStateEvent } from "../support/ivsEvents";
import { type LambdaHandler, lambdaContext, sqsEvent } from "../support/lambda";
import { MOTO_ENV, type Moto, motoClientConfig, startMoto } from "../support/moto";
import { DURATION_MS, END, HOUR, MINUTE, RECORDING_START, START } from "../support/recentBroadcast";
import { expectedReplayText, getReplayObject, objectExists } from "../support/replays";

const LOG_GROUP = "/aws/vendedlogs/ivschat/archive-test";

const iso = (ms: number) => new Date(ms).toISOString();

/** The names of one broadcast; each test has its own channel, room, stream and recording session. */
interface Broadcast {
  channelId: string;
  channelArn: string;
  roomArn: string;
  streamId: string;
  sessionId: string;
  prefix: string;
}

function broadcast(name: string): Broadcast {
  const channelId = `${name}Ch1G2hij`;
  const sessionId = `${name}RfV23ES97iyfoQ`;
  return {
    channelId,
    channelArn: `arn:aws:ivs:us-east-1:123456789012:channel/${channelId}`,
    roomArn: `arn:aws:ivschat:us-east-1:123456789012:room/${name}Rm0wgOPVl4`,
    streamId: `st-${name}1A2b3c4D5e6F78ghij`,
    sessionId,
    prefix: `ivs/v1/123456789012/${channelId}/${new Date(START).toISOString().slice(0, 16).replace(/[-T:]/g, "/")}/${sessionId}`,
  };
}

/** The IVS events of a broadcast recorded from just after its Stream Start until its Stream End. */
function eventsOf(b: Broadcast) {
  const stream = { streamId: b.streamId, channelArn: b.channelArn };
  const recording = {
    sessionId: b.sessionId,
    streamIds: [b.streamId],
    bucket: BUCKET,
    prefix: b.prefix,
    channelArn: b.channelArn,
  };
  return {
    sessionCreated: ivsEvent("session-created.json", {
      time: iso(START - 2000),
      channelArn: b.channelArn,
      detail: { stream_id: b.streamId },
    }),
    streamStart: streamStateEvent("Stream Start", { ...stream, time: iso(START) }),
    streamEnd: streamStateEvent("Stream End", { ...stream, time: iso(END) }),
    recordingStart: recordingStateEvent("Recording Start", { ...recording, time: iso(RECORDING_START) }),
    recordingEnd: recordingStateEvent("Recording End", {
      ...recording,
      time: iso(END + 10_000),
      durationMs: DURATION_MS,
    }),
  };
}

/**
 * The replay of a broadcast recorded from `startedAt` (its Recording Start, unless
 * recording-started.json says otherwise), read to an hour past its end: rule 8 (b), its stream is
 * the timeline, from the recording's start.
 */
function recordedReplay(
  b: Broadcast,
  logged: readonly LoggedRecord[],
  startedAt: number = RECORDING_START,
): Promise<string> {
  return expectedReplayText(linesLoggedBetween(logged, START, END + HOUR), {
    window: { start: START, end: END },
    offsetBase: startedAt,
    channelArn: b.channelArn,
    roomArn: b.roomArn,
    streamIds: [b.streamId],
    recording: recordingRef(b),
    timeline: [{ start: startedAt, end: END, mediaMs: 0 }],
  });
}

function recordingRef(b: Broadcast) {
  return { bucket: BUCKET, prefix: b.prefix, sessionId: b.sessionId, durationMs: DURATION_MS };
}

describe("archiving broadcasts through the real handlers and the archive queue (moto)", () => {
  let moto: Moto;
  let env: Record<string, string>;
  let s3: S3Client;
  let sqs: SQSClient;
  let logs: CloudWatchLogsClient;
  let dynamodb: DynamoDBClient;
  let table: SessionsTable;
  let streamState: LambdaHandler;
  let recordingState: LambdaHandler;
  let archive: LambdaHandler;
  let handlerEnv: Record<string, string>;

  beforeAll(async () => {
    moto = await startMoto();
    env = await provision({ endpoint: moto.endpoint, region: MOTO_ENV.AWS_REGION });
    s3 = new S3Client(motoClientConfig(moto.endpoint));
    sqs = new SQSClient(motoClientConfig(moto.endpoint));
    logs = new CloudWatchLogsClient(motoClientConfig(moto.endpoint));
    dynamodb = new DynamoDBClient(motoClientConfig(moto.endpoint));
    table = new SessionsTable(env.SESSIONS_TABLE ?? "", createDocumentClient(dynamodb));
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await ensureLogGroup(logs, LOG_GROUP);
    // The handlers as deployed, built over this environment instead of process.env.
    handlerEnv = {
      ...MOTO_ENV,
      ...env,
      AWS_ENDPOINT_URL: moto.endpoint,
      SETTLE_SECONDS: "0",
      CHAT_LOG_GROUP: LOG_GROUP,
    };
    const clients = createAwsClients(handlerEnv);
    const tracking = trackingDeps(handlerEnv, clients);
    const archiving = archiveHandlerDeps(handlerEnv, clients);
    streamState = createStreamStateHandler(() => tracking);
    recordingState = createRecordingStateHandler(() => tracking);
    archive = createArchiveHandler(() => archiving);
  }, 120_000);

  afterAll(async () => {
    for (const client of [s3, sqs, logs, dynamodb]) client?.destroy();
    await moto?.stop();
  });

  /** Receives (and, with `remove`, deletes) every archive request now visible on the queue. */
  async function receiveAll({ remove }: { remove: boolean }): Promise<Message[]> {
    const received: Message[] = [];
    for (;;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: env.ARCHIVE_QUEUE_URL,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
        }),
      );
      if (Messages.length === 0) return received;
      received.push(...Messages);
      if (remove) await Promise.all(Messages.map(deleteMessage));
    }
  }

  async function deleteMessage(message: Message): Promise<void> {
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: env.ARCHIVE_QUEUE_URL, ReceiptHandle: message.ReceiptHandle }),
    );
  }

  /** Runs the archive on queued messages as the SQS event source does, deleting those it did not report. */
  async function archiveFromQueue(messages: readonly Message[]): Promise<SQSBatchResponse> {
    const event = sqsEvent(messages.map((m) => ({ messageId: m.MessageId ?? "", body: m.Body ?? "" })));
    const response = (await archive(event, lambdaContext("archive"))) as SQSBatchResponse;
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    await Promise.all(messages.filter((m) => !failed.has(m.MessageId ?? "")).map(deleteMessage));
    return response;
  }

  /** Delivers EventBridge events to their handler, as the rules do. */
  async function deliver(...events: IvsEvent[]): Promise<void> {
    for (const event of events) {
      const stream = event["detail-type"] === "IVS Stream State Change";
      const handler = stream ? streamState : recordingState;
      await handler(structuredClone(event), lambdaContext(stream ? "streamState" : "recordingState"));
    }
  }

  /** Writes the metadata file IVS puts next to a recording, with its exact start. */
  async function putRecordingStarted(b: Broadcast, startedAt: number): Promise<void> {
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `${b.prefix}/events/recording-started.json`,
        ContentType: "application/json",
        Body: JSON.stringify({
          version: "v1",
          recording_started_at: iso(startedAt),
          recording_status: "RECORDING_STARTED",
          media: { hls: { path: "media/hls" } },
        }),
      }),
    );
  }

  beforeEach(async () => {
    await receiveAll({ remove: true });
  });

  it("writes next to the recording the replay the offline core builds from the chat read, from out-of-order, duplicated events", async () => {
    // Prepare
    const b = broadcast("Flow");
    const e = eventsOf(b);
    const recordingStartedAt = RECORDING_START + 234;
    await putRecordingStarted(b, recordingStartedAt);
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    const synthetic = [
      ...syntheticChatLog({
        records: 300,
        start: new Date(START),
        durationMs: HOUR,
        seed: 11,
        deleteRate: 0.05,
        duplicateRate: 0.05,
        junkRate: 0.03,
        customEventRate: 0.05,
        lateRate: 0.05,
      }),
    ].map(({ timestampMs, line }): LoggedRecord => ({ timestampMs, line }));
    const outOfRange = [
      chatMessage("beforeStart", START - 5 * MINUTE, "before the stream started"),
      chatMessage("loggedTooLate", END + 2 * HOUR, "two hours after the end"),
      chatDeletion("lateDeletion", END + 2 * HOUR + 1, "deletedTooLate"),
    ];
    const chosen = [
      chatMessage("deletedAfterEnd", START + 10 * MINUTE, "deleted by a moderator after the stream"),
      chatMessage("deletedTooLate", START + 20 * MINUTE, "deleted too late to matter"),
      chatEvent("customEvent", START + 30 * MINUTE, "app:poll", { question: "Best map?" }),
      chatDeletion("deletionAfterEnd", END + 30 * MINUTE, "deletedAfterEnd"),
    ];
    const logged = [...synthetic, ...chosen, ...outOfRange];
    await putChat(logs, LOG_GROUP, roomLogStream(b.roomArn), logged);
    await deliver(
      e.recordingStart,
      e.streamStart,
      e.sessionCreated,
      e.recordingEnd,
      e.streamStart,
      e.streamEnd,
      e.recordingEnd,
      e.streamEnd,
    );
    const queued = await receiveAll({ remove: false });

    // Act
    const response = await archiveFromQueue(queued);

    // Assess
    expect(queued.length).toBeGreaterThan(0);
    for (const message of queued)
      expect(JSON.parse(message.Body ?? "")).toEqual({ recordingSessionId: b.sessionId });
    expect(response).toEqual({ batchItemFailures: [] });
    const stored = await getReplayObject(s3, BUCKET, `${b.prefix}/chat/replay.json`);
    expect(stored.contentType).toBe("application/json; charset=utf-8");
    expect(stored.contentEncoding).toBe("gzip");
    expect(stored.cacheControl).toMatch(/max-age=\d+/);
    expect(stored.text).toBe(await recordedReplay(b, logged, recordingStartedAt));
    const replay = stored.json;
    expect(replay.window).toEqual({ start: iso(START), end: iso(END) });
    expect(replay.offsetBase).toBe(iso(recordingStartedAt));
    expect(replay.counts.records).toBe(logged.length - outOfRange.length);
    const ids = replay.messages.map((m) => m.id);
    expect(ids).not.toContain("deletedAfterEnd");
    expect(ids).toContain("deletedTooLate");
    expect(ids).not.toContain("loggedTooLate");
    expect(ids).not.toContain("beforeStart");
    expect(replay.events.find((event) => event.id === "customEvent")).toMatchObject({
      name: "app:poll",
      offsetMs: START + 30 * MINUTE - recordingStartedAt,
    });
  });

  it("marks the recording archived with location and counts; a redrive rewrites the same bytes, and removes a message deleted since", async () => {
    // Prepare
    const b = broadcast("Redrive");
    const e = eventsOf(b);
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    const logged = [
      chatMessage("hello", START + MINUTE, "hello"),
      chatMessage("regret", START + 2 * MINUTE, "something to regret"),
      chatMessage("bye", END - MINUTE, "bye"),
    ];
    await putChat(logs, LOG_GROUP, roomLogStream(b.roomArn), logged);
    await deliver(e.streamStart, e.recordingStart, e.streamEnd, e.recordingEnd);
    const key = `${b.prefix}/chat/replay.json`;

    // Act
    await archiveFromQueue(await receiveAll({ remove: false }));
    const archived = await table.getRecording(b.sessionId);
    const first = await getReplayObject(s3, BUCKET, key);
    const redrive = await archive({ recordingSessionId: b.sessionId }, lambdaContext("archive"));
    const again = await getReplayObject(s3, BUCKET, key);
    await putChat(logs, LOG_GROUP, roomLogStream(b.roomArn), [
      chatDeletion("lateModeration", END + 45 * MINUTE, "regret"),
    ]);
    const afterDeletion = await archive(
      { channelArn: b.channelArn, streamId: b.streamId },
      lambdaContext("archive"),
    );
    const cleaned = await getReplayObject(s3, BUCKET, key);

    // Assess
    expect(archived?.archive).toEqual({
      status: "archived",
      at: expect.any(String),
      readUntil: expect.any(String),
      location: { bucket: BUCKET, key },
      window: { start: iso(START), end: iso(END) },
      counts: { records: 3, messages: 3, events: 0, deleted: 0, duplicates: 0, skipped: 0 },
      chatLog: `logs:${LOG_GROUP}:${roomLogStream(b.roomArn)}`,
    });
    expect(redrive).toMatchObject({ status: "archived", location: { bucket: BUCKET, key } });
    expect(Buffer.from(again.text).equals(Buffer.from(first.text))).toBe(true);
    expect(afterDeletion).toMatchObject({
      status: "archived",
      counts: { records: 4, messages: 2, deleted: 1 },
    });
    expect(cleaned.json.messages.map((m) => m.id)).toEqual(["hello", "bye"]);
    expect((await table.getRecording(b.sessionId))?.archive?.counts).toMatchObject({ deleted: 1 });
  });

  it("archives the same chat from S3 (CHAT_LOG_S3_URI, IVS's layout) byte for byte as from CloudWatch Logs", async () => {
    // Prepare
    const b = broadcast("FromS3");
    const e = eventsOf(b);
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    const logged = [
      ...syntheticChatLog({
        records: 400,
        start: new Date(START),
        durationMs: HOUR,
        seed: 23,
        deleteRate: 0.05,
        duplicateRate: 0.05,
        junkRate: 0.03,
        customEventRate: 0.05,
      }),
      chatMessage("beforeStart", START - 5 * MINUTE, "before the stream started"),
      chatDeletion("deletionAfterEnd", END + 30 * MINUTE, "beforeStart"),
      chatMessage("loggedTooLate", END + 2 * HOUR, "two hours after the end"),
    ].map(({ timestampMs, line }): LoggedRecord => ({ timestampMs, line }));
    await putChat(logs, LOG_GROUP, roomLogStream(b.roomArn), logged);
    const base = { bucket: BUCKET, prefix: "chat-logs/" };
    const objects = await putIvsChatObjects(s3, base, b.roomArn, logged);
    await deliver(e.streamStart, e.recordingStart, e.streamEnd, e.recordingEnd);
    const key = `${b.prefix}/chat/replay.json`;
    const fromS3 = createArchiveHandler(
      once(() => archiveHandlerDeps({ ...handlerEnv, CHAT_LOG_S3_URI: `s3://${BUCKET}/chat-logs` })),
    );

    // Act
    await archiveFromQueue(await receiveAll({ remove: false }));
    const fromLogs = await getReplayObject(s3, BUCKET, key);
    const result = await fromS3({ recordingSessionId: b.sessionId, force: true }, lambdaContext("archive"));
    const fromObjects = await getReplayObject(s3, BUCKET, key);

    // Assess
    expect(objects.length).toBeGreaterThan(10);
    expect(result).toMatchObject({ status: "archived", stats: { unreadable: 0 } });
    expect(fromObjects.text).toBe(fromLogs.text);
    // Out of the read range: the message before the start, the one two hours after the end.
    expect(fromLogs.json.counts.records).toBe(logged.length - 2);
    expect((await table.getRecording(b.sessionId))?.archive?.chatLog).toBe(
      `s3://${BUCKET}/chat-logs/AWSLogs/123456789012/IVSChatLogs/1.0/us-east-1/room_FromS3Rm0wgOPVl4/`,
    );
  });

  it("offsets a recording without events/recording-started.json from its Recording Start", async () => {
    // Prepare
    const b = broadcast("NoMeta");
    const e = eventsOf(b);
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    const logged = [chatMessage("early", START + 500), chatMessage("later", RECORDING_START + 1500)];
    await putChat(logs, LOG_GROUP, roomLogStream(b.roomArn), logged);
    await deliver(e.recordingEnd, e.streamEnd, e.recordingStart, e.streamStart);

    // Act
    const response = await archiveFromQueue(await receiveAll({ remove: false }));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const stored = await getReplayObject(s3, BUCKET, `${b.prefix}/chat/replay.json`);
    expect(stored.json.offsetBase).toBe(iso(RECORDING_START));
    expect(stored.json.messages.map((m) => [m.id, m.offsetMs])).toEqual([
      ["early", -500],
      ["later", 1500],
    ]);
    expect(stored.text).toBe(await recordedReplay(b, logged));
  });

  it("continues an archive that ran low on time in a new run, from a checkpoint in the archive bucket", async () => {
    // Prepare
    const b = broadcast("Long");
    const e = eventsOf(b);
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    const logged = [
      chatMessage("m1", START + MINUTE),
      chatMessage("m2", START + 2 * MINUTE),
      { timestampMs: START + 3 * MINUTE, line: chatMessage("m1", START + MINUTE).line },
      chatDeletion("d1", END + 5 * MINUTE, "m2"),
    ];
    await putChat(logs, LOG_GROUP, roomLogStream(b.roomArn), logged);
    await deliver(e.streamStart, e.recordingStart, e.streamEnd, e.recordingEnd);
    await receiveAll({ remove: true });
    const checkpoints = () =>
      s3
        .send(new ListObjectsV2Command({ Bucket: env.ARCHIVE_BUCKET, Prefix: "checkpoints/" }))
        .then((out) => (out.Contents ?? []).map((object) => object.Key));
    const request = { recordingSessionId: b.sessionId };

    // Act
    const stopped = await archive(request, lambdaContext("archive", 30_000));
    const savedCheckpoints = await checkpoints();
    const continuation = await receiveAll({ remove: false });
    const response = await archiveFromQueue(continuation);

    // Assess
    // One page per run when time is this short: the chain takes as many runs as there are pages.
    expect(stopped).toMatchObject({ status: "continuing" });
    expect(savedCheckpoints).toContainEqual(expect.stringMatching(/^checkpoints\/[\w-]+\/checkpoint\.json$/));
    expect(continuation.map((m) => JSON.parse(m.Body ?? ""))).toEqual([
      { ...request, chain: expect.any(String), run: 2 },
    ]);
    expect(response).toEqual({ batchItemFailures: [] });
    const stored = await getReplayObject(s3, BUCKET, `${b.prefix}/chat/replay.json`);
    expect(stored.text).toBe(await recordedReplay(b, logged));
    expect(stored.json.counts).toMatchObject({ records: 4, messages: 1, deleted: 1, duplicates: 1 });
    expect(await checkpoints()).toEqual([]);
  });

  it("continues an archive of a room linked to its Firehose's S3 location run after run, from S3 checkpoints", async () => {
    // Prepare: Firehose delivers plain objects into hour folders below the location it was given.
    const b = broadcast("Hose");
    const e = eventsOf(b);
    await table.putLink(b.channelArn, {
      roomArn: b.roomArn,
      chatLogS3Uri: `s3://${BUCKET}/firehose/hose-room`,
    });
    const logged = [
      chatMessage("m1", START + MINUTE),
      chatMessage("m2", START + 2 * MINUTE),
      { timestampMs: START + 3 * MINUTE, line: chatMessage("m1", START + MINUTE).line },
      chatMessage("m3", END - MINUTE),
      chatDeletion("d1", END + 5 * MINUTE, "m2"),
    ];
    for (const [i, record] of logged.entries()) {
      await s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: `${hourFolder("firehose/hose-room/", record.timestampMs + MINUTE)}hose-${i}`,
          Body: `${record.line}\n`,
        }),
      );
    }
    await deliver(e.streamStart, e.recordingStart, e.streamEnd, e.recordingEnd);
    await receiveAll({ remove: true });
    const request = { recordingSessionId: b.sessionId };

    // Act: every run has 30 s left, below the margin: one page a run.
    const runs = [await archive(request, lambdaContext("archive", 30_000))];
    for (
      let more = await receiveAll({ remove: true });
      more.length > 0;
      more = await receiveAll({ remove: true })
    ) {
      for (const message of more)
        runs.push(await archive(JSON.parse(message.Body ?? ""), lambdaContext("archive", 30_000)));
    }

    // Assess
    expect(runs.length).toBeGreaterThan(2);
    expect(runs.slice(0, -1).every((run) => (run as { status: string }).status === "continuing")).toBe(true);
    expect(runs.at(-1)).toMatchObject({ status: "archived", stats: { run: runs.length } });
    const stored = await getReplayObject(s3, BUCKET, `${b.prefix}/chat/replay.json`);
    expect(stored.text).toBe(await recordedReplay(b, logged));
    expect(stored.json.counts).toMatchObject({ records: 5, messages: 2, deleted: 1, duplicates: 1 });
  });

  it("writes the replay of a broadcast never recorded to the archive bucket under its channel and stream", async () => {
    // Prepare
    const b = broadcast("Unrec");
    const e = eventsOf(b);
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    const logged = [
      chatMessage("m1", START + MINUTE),
      chatEvent("ev1", START + 2 * MINUTE, "app:reaction", { emoji: "🔥" }),
      chatMessage("m2", END - MINUTE),
    ];
    await putChat(logs, LOG_GROUP, roomLogStream(b.roomArn), logged);
    await deliver(e.streamEnd, e.streamStart, e.streamEnd);
    const queued = await receiveAll({ remove: false });
    const recorded = vi.spyOn(metrics, "addMetric");

    // Act
    const response = await archiveFromQueue(queued);

    // Assess
    expect(recorded.mock.calls).toEqual(
      expect.arrayContaining([
        ["ArchiveArchived", "Count", 1],
        ["ArchiveRunDuration", "Milliseconds", expect.any(Number)],
        ["Records", "Count", 3],
        ["Messages", "Count", 2],
        ["Events", "Count", 1],
        ["Throttles", "Count", 0],
        ["UnreadableLogObjects", "Count", 0],
        ["Runs", "Count", 1],
      ]),
    );
    const calls = [...recorded.mock.calls];
    const metric = (name: string) => calls.find(([n]) => n === name)?.[2];
    recorded.mockRestore();
    expect(queued.map((m) => JSON.parse(m.Body ?? ""))).toContainEqual({
      channelArn: b.channelArn,
      streamId: b.streamId,
    });
    expect(response).toEqual({ batchItemFailures: [] });
    const key = `chat-replays/${b.channelId}/${b.streamId}/replay.json`;
    const stored = await getReplayObject(s3, env.ARCHIVE_BUCKET ?? "", key);
    expect(stored.contentEncoding).toBe("gzip");
    const { Contents = [] } = await s3.send(
      new ListObjectsV2Command({ Bucket: env.ARCHIVE_BUCKET, Prefix: key.replace(/replay\.json$/, "") }),
    );
    expect(Contents.map((object) => object.Key?.slice(key.length - "replay.json".length)).sort()).toEqual([
      "index.json",
      "replay.json",
      "replay.vtt",
      "segments/120000.json",
      "segments/3540000.json",
      "segments/60000.json",
    ]);
    expect(metric("BytesWritten")).toBe(Contents.reduce((sum, object) => sum + (object.Size ?? 0), 0));
    expect(metric("Pages")).toBeGreaterThanOrEqual(1);
    expect(stored.text).toBe(
      await expectedReplayText(linesLoggedBetween(logged, START, END + HOUR), {
        window: { start: START, end: END },
        offsetBase: START,
        channelArn: b.channelArn,
        roomArn: b.roomArn,
        streamIds: [b.streamId],
        recording: null,
      }),
    );
    expect((await table.getStream(b.channelArn, b.streamId))?.archive).toMatchObject({
      status: "archived",
      location: { bucket: env.ARCHIVE_BUCKET, key },
      counts: { records: 3, messages: 2, events: 1 },
    });
  });

  it("marks a broadcast whose room cannot be found failed, naming the problem, without asking SQS to retry it", async () => {
    // Prepare: no link, and moto has neither the channel's tags nor IVS Chat rooms
    const b = broadcast("NoRoom");
    const e = eventsOf(b);
    await deliver(e.streamStart, e.streamEnd);
    const queued = await receiveAll({ remove: false });
    const recorded = vi.spyOn(metrics, "addMetric");

    // Act
    const response = await archiveFromQueue(queued);

    // Assess: the failed-archive alarm watches ArchiveFailed
    expect(recorded.mock.calls.map(([name]) => name)).toEqual(["ArchiveFailed", "ArchiveRunDuration"]);
    recorded.mockRestore();
    expect(queued).toHaveLength(1);
    expect(response).toEqual({ batchItemFailures: [] });
    const state = (await table.getStream(b.channelArn, b.streamId))?.archive;
    expect(state).toMatchObject({ status: "failed", reason: expect.stringContaining("no chat room") });
    expect(state?.reason).toContain(b.channelArn);
    const key = `chat-replays/${b.channelId}/${b.streamId}/replay.json`;
    expect(await objectExists(s3, env.ARCHIVE_BUCKET ?? "", key)).toBe(false);
  });

  it("places offsets in the media time of a recording merged across a reconnect gap, from its playlist in S3", async () => {
    // Prepare: two streams, 14:xx+0-20 min and +25 min-end; the first rendition's playlist dates both
    const b = broadcast("Merged");
    const e = eventsOf(b);
    const second = "st-MergedSecondAbcdefghij";
    const reconnect = START + 25 * MINUTE;
    const recording = {
      sessionId: b.sessionId,
      streamIds: [b.streamId, second],
      bucket: BUCKET,
      prefix: b.prefix,
      channelArn: b.channelArn,
    };
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    const logged = [
      chatMessage("early", START + MINUTE),
      chatMessage("inGap", START + 22 * MINUTE),
      chatMessage("after", reconnect + 2 * MINUTE),
    ];
    await putChat(logs, LOG_GROUP, roomLogStream(b.roomArn), logged);
    const put = (key: string, body: string) =>
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${b.prefix}/${key}`, Body: body }));
    await put(
      "events/recording-ended.json",
      JSON.stringify({
        version: "v1",
        recording_status: "RECORDING_ENDED",
        media: {
          hls: {
            path: "media/hls",
            playlist: "master.m3u8",
            renditions: [
              { path: "720p30", playlist: "playlist.m3u8", resolution_height: 720, resolution_width: 1280 },
              { path: "160p30", playlist: "playlist.m3u8", resolution_height: 160, resolution_width: 284 },
            ],
          },
        },
      }),
    );
    await put(
      "media/hls/720p30/playlist.m3u8",
      [
        "#EXTM3U",
        "#EXT-X-TARGETDURATION:1200",
        `#EXT-X-PROGRAM-DATE-TIME:${iso(START + 2000)}`,
        "#EXTINF:1198.000,",
        "0.ts",
        "#EXT-X-DISCONTINUITY",
        `#EXT-X-PROGRAM-DATE-TIME:${iso(reconnect)}`,
        `#EXTINF:${(END - reconnect) / 1000}.000,`,
        "1.ts",
        "#EXT-X-ENDLIST",
      ].join("\n"),
    );
    await deliver(
      e.streamStart,
      recordingStateEvent("Recording Start", { ...recording, time: iso(RECORDING_START) }),
      streamStateEvent("Stream End", {
        streamId: b.streamId,
        channelArn: b.channelArn,
        time: iso(START + 20 * MINUTE),
      }),
      streamStateEvent("Stream Start", { streamId: second, channelArn: b.channelArn, time: iso(reconnect) }),
      streamStateEvent("Stream End", { streamId: second, channelArn: b.channelArn, time: iso(END) }),
      recordingStateEvent("Recording End", {
        ...recording,
        time: iso(END + 10_000),
        durationMs: DURATION_MS,
      }),
    );

    // Act
    const response = await archiveFromQueue(await receiveAll({ remove: false }));

    // Assess: in the gap, the join point; after it, the first piece's 1198 s plus the time since the reconnect
    expect(response).toEqual({ batchItemFailures: [] });
    const replay = await getReplayObject(s3, BUCKET, `${b.prefix}/chat/replay.json`);
    const json = replay.json as typeof replay.json & { timeline: unknown; offsetBase: string };
    expect(json.offsetBase).toBe(iso(START + 2000));
    expect(json.timeline).toEqual([
      { start: iso(START + 2000), end: iso(START + 1_200_000), mediaMs: 0 },
      { start: iso(reconnect), end: iso(END), mediaMs: 1_198_000 },
    ]);
    expect(json.messages.map((m) => [m.id, m.offsetMs])).toEqual([
      ["early", MINUTE - 2000],
      ["inGap", 1_198_000],
      ["after", 1_198_000 + 2 * MINUTE],
    ]);
    expect(json.streamIds).toEqual([b.streamId, second]);
    // Beside it: the index (its header as version 2), the segments in media time, and the transcript
    const folder = `${b.prefix}/chat/`;
    const index = (await getReplayObject(s3, BUCKET, `${folder}index.json`)).json as unknown as {
      version: number;
      timeline: unknown;
      segments: { startMs: number; messages: number; events: number; key: string }[];
    };
    expect(index).toMatchObject({ version: 2, segmentMs: 60000, timeline: json.timeline });
    expect(index.segments.map((segment) => [segment.key, segment.messages])).toEqual([
      ["segments/0.json", 1],
      ["segments/1140000.json", 1],
      ["segments/1260000.json", 1],
    ]);
    const segments = await Promise.all(
      index.segments.map(
        async (segment) => (await getReplayObject(s3, BUCKET, `${folder}${segment.key}`)).json,
      ),
    );
    expect(segments.flatMap((segment) => segment.messages)).toEqual(json.messages);
    const vtt = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${folder}replay.vtt` }));
    expect(vtt.ContentType).toBe("text/vtt; charset=utf-8");
    expect(vtt.ContentEncoding).toBe("gzip");
    const transcript = gunzipSync(Buffer.from((await vtt.Body?.transformToByteArray()) ?? [])).toString(
      "utf8",
    );
    expect(
      transcript
        .split("\n\n")
        .slice(1)
        .map((cue) => cue.split("\n")[0]),
    ).toEqual([
      "00:00:58.000 --> 00:01:03.000",
      "00:19:58.000 --> 00:20:03.000",
      "00:21:58.000 --> 00:22:03.000",
    ]);
  });

  it("leaves no stray replay nor stale failure of a stream once its recording, known late, is archived", async () => {
    // Prepare: the stream ends before anything says it was recorded, so it is archived on its own;
    // a second stream of the session only ever sent Stream End, so its own archive fails
    const b = broadcast("Late");
    const e = eventsOf(b);
    const lone = "st-LateLoneAbcdefghijklmn";
    const recording = {
      sessionId: b.sessionId,
      streamIds: [b.streamId, lone],
      bucket: BUCKET,
      prefix: b.prefix,
      channelArn: b.channelArn,
    };
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    await putChat(logs, LOG_GROUP, roomLogStream(b.roomArn), [chatMessage("m1", START + MINUTE)]);
    await deliver(
      e.streamStart,
      e.streamEnd,
      streamStateEvent("Stream End", { streamId: lone, channelArn: b.channelArn, time: iso(END) }),
    );
    await archiveFromQueue(await receiveAll({ remove: false }));
    const strayKey = `chat-replays/${b.channelId}/${b.streamId}/replay.json`;
    const strayBefore = await objectExists(s3, env.ARCHIVE_BUCKET ?? "", strayKey);
    const loneBefore = (await table.getStream(b.channelArn, lone))?.archive;

    // Act: the recording's events come late
    await deliver(
      recordingStateEvent("Recording Start", { ...recording, time: iso(RECORDING_START) }),
      recordingStateEvent("Recording End", {
        ...recording,
        time: iso(END + 10_000),
        durationMs: DURATION_MS,
      }),
    );
    const response = await archiveFromQueue(await receiveAll({ remove: false }));

    // Assess
    expect(strayBefore).toBe(true);
    expect(loneBefore).toMatchObject({
      status: "failed",
      reason: expect.stringContaining("start is unknown"),
    });
    expect(response).toEqual({ batchItemFailures: [] });
    expect((await table.getRecording(b.sessionId))?.archive).toMatchObject({ status: "archived" });
    const replay = await getReplayObject(s3, BUCKET, `${b.prefix}/chat/replay.json`);
    expect(replay.json.messages.map((m) => m.id)).toEqual(["m1"]);
    expect(await objectExists(s3, env.ARCHIVE_BUCKET ?? "", strayKey)).toBe(false);
    expect((await table.getStream(b.channelArn, b.streamId))?.archive).toBeUndefined();
    expect((await table.getStream(b.channelArn, lone))?.archive).toBeUndefined();
  });

  /** Receives (and deletes) every message of the archive dead-letter queue, with its `reason`. */
  async function deadLetters(): Promise<{ body: string; reason: string | undefined }[]> {
    const found: { body: string; reason: string | undefined }[] = [];
    for (;;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: env.ARCHIVE_DLQ_URL,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ["All"],
        }),
      );
      if (Messages.length === 0) return found;
      for (const m of Messages) {
        found.push({ body: m.Body ?? "", reason: m.MessageAttributes?.reason?.StringValue });
        await sqs.send(
          new DeleteMessageCommand({ QueueUrl: env.ARCHIVE_DLQ_URL, ReceiptHandle: m.ReceiptHandle }),
        );
      }
    }
  }

  it("sends malformed queue messages to the dead-letter queue at once with the reason, and archives the other message of the batch", async () => {
    // Prepare
    const b = broadcast("Batch");
    const e = eventsOf(b);
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    await putChat(logs, LOG_GROUP, roomLogStream(b.roomArn), [chatMessage("m1", START + MINUTE)]);
    await deliver(e.streamStart, e.recordingStart, e.streamEnd, e.recordingEnd);
    const [good, ...others] = await receiveAll({ remove: true });
    const wrongShape = JSON.stringify({ streamId: b.streamId });
    const batch = [
      { messageId: "not-json", body: "{recordingSessionId: oops" },
      { messageId: good?.MessageId ?? "good", body: good?.Body ?? "" },
      { messageId: "wrong-shape", body: wrongShape },
    ];

    // Act
    const response = (await archive(sqsEvent(batch), lambdaContext("archive"))) as SQSBatchResponse;

    // Assess: no retries for what can never succeed (SQS would deliver it 5 times, 90 minutes apart)
    expect(others).toEqual([]);
    expect(response.batchItemFailures).toEqual([]);
    const stored = await getReplayObject(s3, BUCKET, `${b.prefix}/chat/replay.json`);
    expect(stored.json.messages.map((m) => m.id)).toEqual(["m1"]);
    const dead = await deadLetters();
    expect(dead).toEqual([
      {
        body: "{recordingSessionId: oops",
        reason: "the archive queue message is not JSON: {recordingSessionId: oops",
      },
      { body: wrongShape, reason: expect.stringMatching(/^archive needs \{"channelArn"/) },
    ]);
  });

  it("retries a broadcast that failed for now after a backoff delay, and dead-letters it with the reason on its last receive", async () => {
    // Prepare: the recording's bucket does not exist, so writing the replay fails (NoSuchBucket), not for good
    const b = broadcast("Later");
    const lost = { ...eventsOf(b) };
    const recording = {
      sessionId: b.sessionId,
      streamIds: [b.streamId],
      prefix: b.prefix,
      channelArn: b.channelArn,
    };
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    await deliver(
      lost.streamStart,
      recordingStateEvent("Recording Start", {
        ...recording,
        bucket: "no-such-bucket",
        time: iso(RECORDING_START),
      }),
      lost.streamEnd,
      recordingStateEvent("Recording End", {
        ...recording,
        bucket: "no-such-bucket",
        time: iso(END + 10_000),
        durationMs: DURATION_MS,
      }),
    );
    const { Messages: [message] = [] } = await sqs.send(
      // Visible again at once unless the handler hides it.
      new ReceiveMessageCommand({ QueueUrl: env.ARCHIVE_QUEUE_URL, VisibilityTimeout: 0 }),
    );
    const received = {
      messageId: message?.MessageId ?? "",
      body: message?.Body ?? "",
      receiptHandle: message?.ReceiptHandle,
    };

    // Act
    const first = (await archive(sqsEvent([received]), lambdaContext("archive"))) as SQSBatchResponse;
    const visibleAfterFirst = await receiveAll({ remove: false });
    const last = (await archive(
      sqsEvent([{ ...received, receiveCount: 5 }]),
      lambdaContext("archive"),
    )) as SQSBatchResponse;

    // Assess: hidden for the first backoff step (a minute), not retried at the queue's 90 minutes or at once
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: received.messageId }]);
    expect(visibleAfterFirst).toEqual([]);
    expect(last.batchItemFailures).toEqual([]);
    const dead = await deadLetters();
    expect(dead).toEqual([
      { body: received.body, reason: expect.stringContaining("failed on each of 5 receives") },
    ]);
    expect(dead[0]?.reason).toMatch(/bucket/i);
    await deleteMessage(message ?? {});
  });

  it("writes an empty replay, not a failure, for a room whose log group has no log stream yet (nobody chatted)", async () => {
    // Prepare
    const b = broadcast("Quiet");
    const e = eventsOf(b);
    await table.putLink(b.channelArn, { roomArn: b.roomArn });
    await deliver(e.streamStart, e.recordingStart, e.streamEnd, e.recordingEnd);

    // Act
    const response = await archiveFromQueue(await receiveAll({ remove: false }));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect((await table.getRecording(b.sessionId))?.archive).toEqual({
      status: "archived",
      at: expect.any(String),
      readUntil: expect.any(String),
      location: { bucket: BUCKET, key: `${b.prefix}/chat/replay.json` },
      window: { start: iso(START), end: iso(END) },
      counts: { records: 0, messages: 0, events: 0, deleted: 0, duplicates: 0, skipped: 0 },
      chatLog: `logs:${LOG_GROUP}:${roomLogStream(b.roomArn)}`,
    });
    const stored = await getReplayObject(s3, BUCKET, `${b.prefix}/chat/replay.json`);
    expect(stored.json).toMatchObject({ messages: [], events: [], counts: { records: 0 } });
  });
});
