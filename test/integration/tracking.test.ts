import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ArchiveQueue } from "../../src/aws/archiveQueue";
import { createDocumentClient, SessionsTable } from "../../src/aws/sessionsTable";
import { provision } from "../../src/cli/provision";
import { ValidationError } from "../../src/errors";
import { parseRecordingStateEvent, parseStreamStateEvent } from "../../src/sessions/events";
import { broadcastTimes, isRecorded } from "../../src/sessions/model";
import { trackRecording, trackStream } from "../../src/sessions/track";
import {
  CHANNEL_ARN,
  type IvsEvent,
  ivsEvent,
  recordingStateEvent,
  streamStateEvent,
} from "../support/ivsEvents";
import { type Moto, motoClientConfig, startMoto } from "../support/moto";
import { drainQueue } from "../support/queue";

type Deps = Parameters<typeof trackStream>[1];

const BUCKET = "ivs-recordings-example";
const HOUR_MS = 3_600_000;
const prefixOf = (sessionId: string) => `ivs/v1/123456789012/AbCdef1G2hij/2024/1/5/14/30/${sessionId}`;

const ONE_BROADCAST = ["Stream Start", "Stream End", "Recording Start", "Recording End"] as const;
type BroadcastEvent = (typeof ONE_BROADCAST)[number];

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, index) =>
    permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]),
  );
}

/** The four events of one recorded broadcast of one stream, as IVS sends them. */
function broadcastEvents(streamId: string, sessionId: string): Record<BroadcastEvent, IvsEvent> {
  const recording = { sessionId, streamIds: [streamId], bucket: BUCKET, prefix: prefixOf(sessionId) };
  return {
    "Stream Start": streamStateEvent("Stream Start", { streamId, time: "2024-01-05T14:30:00Z" }),
    "Stream End": streamStateEvent("Stream End", { streamId, time: "2024-01-05T15:30:00Z" }),
    "Recording Start": recordingStateEvent("Recording Start", { ...recording, time: "2024-01-05T14:30:01Z" }),
    "Recording End": recordingStateEvent("Recording End", {
      ...recording,
      time: "2024-01-05T15:30:10Z",
      durationMs: HOUR_MS,
    }),
  };
}

describe("tracking IVS events into the sessions table and the archive queue (moto)", () => {
  let moto: Moto;
  let queueUrl: string;
  let sqs: SQSClient;
  let dynamodb: DynamoDBClient;
  let table: SessionsTable;
  let deps: Deps;

  beforeAll(async () => {
    moto = await startMoto();
    const env = await provision({ endpoint: moto.endpoint, region: "us-east-1" });
    queueUrl = env.ARCHIVE_QUEUE_URL ?? "";
    sqs = new SQSClient(motoClientConfig(moto.endpoint));
    dynamodb = new DynamoDBClient(motoClientConfig(moto.endpoint));
    table = new SessionsTable(env.SESSIONS_TABLE ?? "", createDocumentClient(dynamodb));
    // SETTLE_SECONDS 0: a scheduled archive is visible at once.
    deps = {
      store: table,
      scheduler: new ArchiveQueue(queueUrl, sqs),
      settleSeconds: 0,
      recordingEndGraceMinutes: 15,
      now: () => new Date(),
    };
  });

  afterAll(async () => {
    sqs?.destroy();
    dynamodb?.destroy();
    await moto?.stop();
  });

  /** Parses an event as its handler does and tracks it; ignored events stop at the parser. */
  async function deliver(event: IvsEvent, using: Deps = deps) {
    if (event["detail-type"] === "IVS Stream State Change") {
      const fact = parseStreamStateEvent(event);
      return fact.kind === "ignored" ? fact : trackStream(fact, using);
    }
    const fact = parseRecordingStateEvent(event);
    return fact.kind === "ignored" ? fact : trackRecording(fact, using);
  }

  const drain = () => drainQueue(sqs, queueUrl);

  beforeEach(async () => {
    await drain();
  });

  describe("one recorded broadcast, its four events in every order, each delivered twice", () => {
    const orders = permutations(ONE_BROADCAST).map((order, index) => ({
      order,
      index,
      label: order.join(" > "),
    }));

    it.each(orders)(
      "converges and leaves an archive of the final state pending: $label",
      async ({ order, index }) => {
        const streamId = `st-Permutation${String(index).padStart(2, "0")}Abcdefgh`;
        const sessionId = `perm${String(index).padStart(2, "0")}RfV23ES97iy`;
        const events = broadcastEvents(streamId, sessionId);
        const deliveries = [...order, ...order];
        const scheduled: Array<{ step: number; request: unknown }> = [];

        for (const [step, name] of deliveries.entries()) {
          await deliver(structuredClone(events[name]));
          for (const request of await drain()) scheduled.push({ step, request });
        }

        const stream = await table.getStream(CHANNEL_ARN, streamId);
        const recording = await table.getRecording(sessionId);
        expect(stream).toEqual({
          streamId,
          channelArn: CHANNEL_ARN,
          startAt: "2024-01-05T14:30:00.000Z",
          endAt: "2024-01-05T15:30:00.000Z",
          recordingSessionId: sessionId,
        });
        expect(recording).toEqual({
          sessionId,
          channelArn: CHANNEL_ARN,
          streamIds: [streamId],
          bucket: BUCKET,
          prefix: prefixOf(sessionId),
          startAt: "2024-01-05T14:30:01.000Z",
          endAt: "2024-01-05T15:30:10.000Z",
          durationMs: HOUR_MS,
        });
        for (const { request } of scheduled) {
          expect([{ recordingSessionId: sessionId }, { channelArn: CHANNEL_ARN, streamId }]).toContainEqual(
            request,
          );
        }
        expect(scheduled.map(({ request }) => request)).toContainEqual({ recordingSessionId: sessionId });
        // The fourth delivery is the last one that changes anything: the last archive must come at or after it.
        const completedAt = order.length - 1;
        expect(scheduled.at(-1)?.request).toEqual({ recordingSessionId: sessionId });
        expect(scheduled.at(-1)?.step).toBeGreaterThanOrEqual(completedAt);
        expect(completedAt).toBeGreaterThanOrEqual(order.indexOf("Recording End"));
      },
    );
  });

  it("keeps the earliest of duplicated starts and the latest of duplicated ends, with that end's duration", async () => {
    const streamId = "st-DuplicatedTimesAbcdefghi";
    const sessionId = "dupTimesES97iyfoQ";
    const recording = { sessionId, streamIds: [streamId], bucket: BUCKET, prefix: prefixOf(sessionId) };
    const events = [
      streamStateEvent("Stream Start", { streamId, time: "2024-01-05T14:30:05Z" }),
      streamStateEvent("Stream Start", { streamId, time: "2024-01-05T14:30:00Z" }),
      streamStateEvent("Stream Start", { streamId, time: "2024-01-05T14:30:10Z" }),
      recordingStateEvent("Recording Start", { ...recording, time: "2024-01-05T14:30:03Z" }),
      recordingStateEvent("Recording Start", { ...recording, time: "2024-01-05T14:30:01Z" }),
      streamStateEvent("Stream End", { streamId, time: "2024-01-05T15:29:00Z" }),
      streamStateEvent("Stream End", { streamId, time: "2024-01-05T15:31:00Z" }),
      streamStateEvent("Stream End", { streamId, time: "2024-01-05T15:30:00Z" }),
      recordingStateEvent("Recording End", {
        ...recording,
        time: "2024-01-05T15:31:10Z",
        durationMs: HOUR_MS,
      }),
      recordingStateEvent("Recording End", {
        ...recording,
        time: "2024-01-05T15:30:05Z",
        durationMs: 3_590_000,
      }),
    ];

    for (const event of events) await deliver(event);

    expect(await table.getStream(CHANNEL_ARN, streamId)).toMatchObject({
      startAt: "2024-01-05T14:30:00.000Z",
      endAt: "2024-01-05T15:31:00.000Z",
    });
    expect(await table.getRecording(sessionId)).toMatchObject({
      startAt: "2024-01-05T14:30:01.000Z",
      endAt: "2024-01-05T15:31:10.000Z",
      durationMs: HOUR_MS,
    });
  });

  it("takes no harm from Session Created, Session Ended and Stream Failure events", async () => {
    const streamId = "st-SessionEventsAbcdefghij";
    const noise = (time: string) => [
      ivsEvent("session-created.json", { time, detail: { stream_id: streamId } }),
      ivsEvent("stream-failure.json", { time, detail: { stream_id: streamId } }),
      ivsEvent("session-ended.json", { time, detail: { stream_id: streamId } }),
    ];

    const early = await Promise.all(noise("2024-01-05T14:00:00Z").map((event) => deliver(event)));
    const before = await table.getStream(CHANNEL_ARN, streamId);
    await deliver(streamStateEvent("Stream Start", { streamId, time: "2024-01-05T14:30:00Z" }));
    await deliver(streamStateEvent("Stream End", { streamId, time: "2024-01-05T15:30:00Z" }));
    const late = await Promise.all(noise("2024-01-05T16:00:00Z").map((event) => deliver(event)));

    expect([...early, ...late]).toEqual(Array(6).fill(expect.objectContaining({ kind: "ignored" })));
    expect(before).toBeUndefined();
    expect(await table.getStream(CHANNEL_ARN, streamId)).toEqual({
      streamId,
      channelArn: CHANNEL_ARN,
      startAt: "2024-01-05T14:30:00.000Z",
      endAt: "2024-01-05T15:30:00.000Z",
    });
    expect(await drain()).toEqual([{ channelArn: CHANNEL_ARN, streamId }]);
  });

  it("merges two streams of one recording session into one window", async () => {
    const [first, second] = ["st-MergedFirstAbcdefghijkl", "st-MergedSecondAbcdefghijk"] as const;
    const sessionId = "mergedES97iyfoQa";
    const recording = { sessionId, bucket: BUCKET, prefix: prefixOf(sessionId) };

    await deliver(
      recordingStateEvent("Recording Start", {
        ...recording,
        streamIds: [first],
        time: "2024-01-05T14:30:01Z",
      }),
    );
    await deliver(streamStateEvent("Stream Start", { streamId: first, time: "2024-01-05T14:30:00Z" }));
    await deliver(streamStateEvent("Stream End", { streamId: first, time: "2024-01-05T14:40:00Z" }));
    await deliver(streamStateEvent("Stream Start", { streamId: second, time: "2024-01-05T14:41:00Z" }));
    await deliver(streamStateEvent("Stream End", { streamId: second, time: "2024-01-05T15:30:00Z" }));
    // Until Recording End names the second stream nothing ties it to the session; only what that end schedules counts.
    await drain();
    await deliver(
      recordingStateEvent("Recording End", {
        ...recording,
        streamIds: [first, second],
        time: "2024-01-05T15:30:10Z",
        durationMs: HOUR_MS,
      }),
    );

    const streams = await table.getStreams(CHANNEL_ARN, [first, second]);
    const stored = await table.getRecording(sessionId);
    expect(streams.map((stream) => stream.recordingSessionId)).toEqual([sessionId, sessionId]);
    expect(stored?.streamIds).toEqual([first, second]);
    expect(broadcastTimes(streams, stored)).toEqual({
      window: { start: "2024-01-05T14:30:00.000Z", end: "2024-01-05T15:30:00.000Z" },
      offsetBase: "2024-01-05T14:30:01.000Z",
    });
    expect(await drain()).toEqual([{ recordingSessionId: sessionId }]);
  });

  describe("a channel without recording", () => {
    it("archives a stream on its own once it ended", async () => {
      const streamId = "st-NotRecordedAbcdefghijkl";

      const started = await deliver(
        streamStateEvent("Stream Start", { streamId, time: "2024-01-05T14:30:00Z" }),
      );
      const scheduledAtStart = await drain();
      const ended = await deliver(streamStateEvent("Stream End", { streamId, time: "2024-01-05T15:30:00Z" }));

      expect(started).toEqual({ changed: true, waitingFor: "Stream End" });
      expect(scheduledAtStart).toEqual([]);
      expect(ended).toMatchObject({ scheduled: { channelArn: CHANNEL_ARN, streamId } });
      expect(await drain()).toEqual([{ channelArn: CHANNEL_ARN, streamId }]);
    });

    it("is not made recorded by a Recording Start Failure alone", async () => {
      const streamId = "st-StartFailedAbcdefghijkl";
      const sessionId = "failedES97iyfoQa";

      const failure = await deliver(
        recordingStateEvent("Recording Start Failure", {
          sessionId,
          streamIds: [streamId],
          time: "2024-01-05T14:30:01Z",
          bucket: BUCKET,
          prefix: prefixOf(sessionId),
          reason: "InternalServerException",
        }),
      );
      await deliver(streamStateEvent("Stream Start", { streamId, time: "2024-01-05T14:30:00Z" }));
      await deliver(streamStateEvent("Stream End", { streamId, time: "2024-01-05T15:30:00Z" }));

      const recording = await table.getRecording(sessionId);
      expect(failure).not.toHaveProperty("scheduled");
      expect(recording?.startFailure).toEqual({
        at: "2024-01-05T14:30:01.000Z",
        reason: "InternalServerException",
      });
      expect(isRecorded(recording)).toBe(false);
      expect(await drain()).toEqual([{ channelArn: CHANNEL_ARN, streamId }]);
    });
  });

  describe("a recording field is never erased by a later, emptier event", () => {
    it("when Recording End comes without bucket, prefix or stream ids after Recording Start had them", async () => {
      const streamId = "st-EmptierEndAbcdefghijklm";
      const sessionId = "emptyEndS97iyfoQ";

      await deliver(
        recordingStateEvent("Recording Start", {
          sessionId,
          streamIds: [streamId],
          time: "2024-01-05T14:30:01Z",
          bucket: BUCKET,
          prefix: prefixOf(sessionId),
        }),
      );
      await deliver(
        recordingStateEvent("Recording End", {
          sessionId,
          streamIds: [],
          time: "2024-01-05T15:30:10Z",
          durationMs: HOUR_MS,
        }),
      );
      await deliver(
        recordingStateEvent("Recording End Failure", {
          sessionId,
          streamIds: [],
          time: "2024-01-05T15:30:20Z",
        }),
      );

      expect(await table.getRecording(sessionId)).toEqual({
        sessionId,
        channelArn: CHANNEL_ARN,
        streamIds: [streamId],
        bucket: BUCKET,
        prefix: prefixOf(sessionId),
        startAt: "2024-01-05T14:30:01.000Z",
        endAt: "2024-01-05T15:30:10.000Z",
        durationMs: HOUR_MS,
        endFailure: { at: "2024-01-05T15:30:20.000Z" },
      });
      expect(await table.getStream(CHANNEL_ARN, streamId)).toMatchObject({ recordingSessionId: sessionId });
    });

    it("when a late Recording Start without bucket or prefix follows the Recording End", async () => {
      const streamId = "st-EmptierStartAbcdefghijk";
      const sessionId = "emptyStartS97iyf";

      await deliver(
        recordingStateEvent("Recording End", {
          sessionId,
          streamIds: [streamId],
          time: "2024-01-05T15:30:10Z",
          bucket: BUCKET,
          prefix: prefixOf(sessionId),
          durationMs: HOUR_MS,
        }),
      );
      await deliver(
        recordingStateEvent("Recording Start", { sessionId, streamIds: [], time: "2024-01-05T14:30:01Z" }),
      );

      expect(await table.getRecording(sessionId)).toEqual({
        sessionId,
        channelArn: CHANNEL_ARN,
        streamIds: [streamId],
        bucket: BUCKET,
        prefix: prefixOf(sessionId),
        startAt: "2024-01-05T14:30:01.000Z",
        endAt: "2024-01-05T15:30:10.000Z",
        durationMs: HOUR_MS,
      });
    });
  });

  describe("a redelivery after the archive could not be scheduled (EventBridge retries a failed invocation)", () => {
    const unreachable = (): Deps => ({
      ...deps,
      scheduler: new ArchiveQueue(`${moto.endpoint}/123456789012/no-such-queue`, sqs),
    });

    it("still schedules the archive of a stream when the retried Stream End was already stored", async () => {
      const streamId = "st-RetriedEndAbcdefghijklm";
      const end = streamStateEvent("Stream End", { streamId, time: "2024-01-05T15:30:00Z" });
      await deliver(streamStateEvent("Stream Start", { streamId, time: "2024-01-05T14:30:00Z" }));

      const failed = deliver(structuredClone(end), unreachable());
      await expect(failed).rejects.toThrow();
      await deliver(structuredClone(end));

      expect(await drain()).toEqual([{ channelArn: CHANNEL_ARN, streamId }]);
    });

    it("still schedules the archive of a recording when the retried Recording End was already stored", async () => {
      const streamId = "st-RetriedRecordingAbcdefg";
      const sessionId = "retriedS97iyfoQa";
      const recording = { sessionId, streamIds: [streamId], bucket: BUCKET, prefix: prefixOf(sessionId) };
      const end = recordingStateEvent("Recording End", {
        ...recording,
        time: "2024-01-05T15:30:10Z",
        durationMs: HOUR_MS,
      });
      await deliver(recordingStateEvent("Recording Start", { ...recording, time: "2024-01-05T14:30:01Z" }));

      const failed = deliver(structuredClone(end), unreachable());
      await expect(failed).rejects.toThrow();
      await deliver(structuredClone(end));

      expect(await drain()).toEqual([{ recordingSessionId: sessionId }]);
    });
  });

  describe("a recording in a bucket the stack is not configured for", () => {
    it("is refused with the reason, and nothing of it is stored or queued", async () => {
      const sessionId = "foreignS97iyfoQa";
      const recording = { sessionId, streamIds: ["st-ForeignAbcdefghijklmno"], prefix: prefixOf(sessionId) };
      const configured = { ...deps, recordingBuckets: [BUCKET, "ivs-recordings-eu"] };

      const refused = await deliver(
        recordingStateEvent("Recording End", {
          ...recording,
          bucket: "someone-elses-bucket",
          time: "2024-01-05T15:30:10Z",
          durationMs: HOUR_MS,
        }),
        configured,
      ).then(
        () => undefined,
        (error: unknown) => error,
      );
      const accepted = await deliver(
        recordingStateEvent("Recording Start", {
          ...recording,
          bucket: "ivs-recordings-eu",
          time: "2024-01-05T14:30:01Z",
        }),
        configured,
      );

      expect(refused).toBeInstanceOf(ValidationError);
      expect((refused as Error).message).toBe(
        "recording bucket someone-elses-bucket is not one this stack is configured for (RECORDING_BUCKETS: ivs-recordings-example, ivs-recordings-eu)",
      );
      expect(accepted).toMatchObject({ changed: true });
      expect(await table.getRecording(sessionId)).toMatchObject({ bucket: "ivs-recordings-eu" });
      expect((await table.getRecording(sessionId))?.endAt).toBeUndefined();
      expect(await drain()).toEqual([]);
    });
  });

  describe("a stream id another channel reuses", () => {
    it("is another stream: each channel keeps its own window and archive", async () => {
      const streamId = "st-ReusedAbcdefghijklmnop";
      const other = "arn:aws:ivs:us-east-1:123456789012:channel/OtherCh1G2hij";
      const times = { start: "2024-01-05T14:30:00Z", end: "2024-01-05T15:30:00Z" };

      await deliver(streamStateEvent("Stream Start", { streamId, time: times.start }));
      await deliver(
        streamStateEvent("Stream Start", { streamId, channelArn: other, time: "2024-01-06T09:00:00Z" }),
      );
      await deliver(
        streamStateEvent("Stream End", { streamId, channelArn: other, time: "2024-01-06T10:00:00Z" }),
      );
      await deliver(streamStateEvent("Stream End", { streamId, time: times.end }));

      expect(await table.getStream(CHANNEL_ARN, streamId)).toMatchObject({
        channelArn: CHANNEL_ARN,
        startAt: "2024-01-05T14:30:00.000Z",
        endAt: "2024-01-05T15:30:00.000Z",
      });
      expect(await table.getStream(other, streamId)).toMatchObject({
        channelArn: other,
        startAt: "2024-01-06T09:00:00.000Z",
        endAt: "2024-01-06T10:00:00.000Z",
      });
      expect(await drain()).toEqual([
        { channelArn: other, streamId },
        { channelArn: CHANNEL_ARN, streamId },
      ]);
    });
  });
});
