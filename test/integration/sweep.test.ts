import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveBroadcast } from "../../src/archive/archive";
import { ArchiveQueue } from "../../src/aws/archiveQueue";
import { createAwsClients } from "../../src/aws/clients";
import { SessionsTable } from "../../src/aws/sessionsTable";
import { provision } from "../../src/cli/provision";
import { parseRecordingStateEvent, parseStreamStateEvent } from "../../src/sessions/events";
import type { ArchiveRequest } from "../../src/sessions/model";
import { STUCK_AFTER_SECONDS, sweep } from "../../src/sessions/sweep";
import { trackRecording, trackStream } from "../../src/sessions/track";
import { archiveDeps } from "../../src/wiring";
import { chatDeletion, chatMessage, putChat, roomLogStream } from "../support/chatRecords";
import {
  BUCKET,
  CHANNEL_ARN,
  PREFIX,
  ROOM_ARN,
  recordingStateEvent,
  streamStateEvent,
} from "../support/ivsEvents";
import { MOTO_ENV, type Moto, motoClientConfig, startMoto } from "../support/moto";
import { drainQueue } from "../support/queue";
import { END, HOUR, MINUTE, START } from "../support/recentBroadcast";
import { getReplayObject } from "../support/replays";

const LOG_GROUP = "/aws/vendedlogs/ivschat/sweep-test";
const SETTLE_SECONDS = 60;
const GRACE_MINUTES = 15;
const iso = (ms: number) => new Date(ms).toISOString();

describe("sweep on moto", () => {
  let moto: Moto;
  let env: Record<string, string>;
  let table: SessionsTable;
  let queue: ArchiveQueue;
  let sqs: SQSClient;
  let s3: S3Client;
  let logs: CloudWatchLogsClient;

  beforeAll(async () => {
    moto = await startMoto();
    env = await provision({ endpoint: moto.endpoint, region: MOTO_ENV.AWS_REGION });
    const clients = createAwsClients({ ...MOTO_ENV, AWS_ENDPOINT_URL: moto.endpoint });
    table = new SessionsTable(env.SESSIONS_TABLE ?? "", clients.documents);
    sqs = new SQSClient(motoClientConfig(moto.endpoint));
    queue = new ArchiveQueue(env.ARCHIVE_QUEUE_URL ?? "", sqs);
    s3 = new S3Client(motoClientConfig(moto.endpoint));
    logs = new CloudWatchLogsClient(motoClientConfig(moto.endpoint));
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  }, 120_000);

  afterAll(async () => {
    sqs?.destroy();
    s3?.destroy();
    logs?.destroy();
    await moto?.stop();
  });

  const sweepAt = (ms: number) =>
    sweep({ store: table, scheduler: queue, now: () => new Date(ms), settleSeconds: SETTLE_SECONDS });

  const drain = async () => (await drainQueue(sqs, env.ARCHIVE_QUEUE_URL ?? "")) as ArchiveRequest[];

  /** Tracks a recorded broadcast whose Recording End never comes: Stream Start, Recording Start, Stream End. */
  async function lostRecordingEnd(sessionId: string, streamId: string): Promise<void> {
    const deps = {
      store: table,
      scheduler: queue,
      settleSeconds: SETTLE_SECONDS,
      recordingEndGraceMinutes: GRACE_MINUTES,
      now: () => new Date(END),
    };
    const recording = { sessionId, streamIds: [streamId], bucket: BUCKET, prefix: `${PREFIX}-${sessionId}` };
    const start = parseStreamStateEvent(streamStateEvent("Stream Start", { streamId, time: iso(START) }));
    const recorded = parseRecordingStateEvent(
      recordingStateEvent("Recording Start", { ...recording, time: iso(START + 1000) }),
    );
    const end = parseStreamStateEvent(streamStateEvent("Stream End", { streamId, time: iso(END) }));
    if (start.kind === "ignored" || recorded.kind === "ignored" || end.kind === "ignored")
      throw new Error("sample");
    await trackStream(start, deps);
    await trackRecording(recorded, deps);
    await trackStream(end, deps);
  }

  it("queues a broadcast whose Recording End never came once, archives it next to the recording, then makes the final pass once", async () => {
    // Prepare
    await table.putLink(CHANNEL_ARN, { roomArn: ROOM_ARN });
    await putChat(logs, LOG_GROUP, roomLogStream(ROOM_ARN), [
      chatMessage("hello", START + MINUTE, "hello"),
      chatMessage("regret", START + 2 * MINUTE, "something to regret"),
    ]);
    await lostRecordingEnd("lostEndSession1", "st-lostEnd1");
    await drain();

    // Act: sweeps before the grace, after it (two at once), and again
    const early = await sweepAt(END + (GRACE_MINUTES - 5) * MINUTE);
    const [first, second] = await Promise.all([
      sweepAt(END + (GRACE_MINUTES + 1) * MINUTE),
      sweepAt(END + (GRACE_MINUTES + 1) * MINUTE),
    ]);
    const queued = await drain();
    const again = await sweepAt(END + (GRACE_MINUTES + 2) * MINUTE);

    // Assess
    expect(early.queued).toEqual([]);
    expect([...(first?.queued ?? []), ...(second?.queued ?? [])]).toEqual([
      { recordingSessionId: "lostEndSession1" },
    ]);
    expect(queued).toEqual([{ recordingSessionId: "lostEndSession1" }]);
    expect(again.queued).toEqual([]);

    // Act: the queued archive runs 20 minutes after the end; a moderator deletes a message 50 minutes after it
    const deps = archiveDeps({
      ...MOTO_ENV,
      ...env,
      AWS_ENDPOINT_URL: moto.endpoint,
      CHAT_LOG_GROUP: LOG_GROUP,
    });
    const archived = await archiveBroadcast(queued[0] as ArchiveRequest, {
      ...deps,
      now: () => new Date(END + 20 * MINUTE),
    });
    await putChat(logs, LOG_GROUP, roomLogStream(ROOM_ARN), [
      chatDeletion("mod1", END + 50 * MINUTE, "regret"),
    ]);
    const beforeFinal = await sweepAt(END + HOUR + SETTLE_SECONDS * 1000 - 1000);
    const atFinal = await sweepAt(END + HOUR + SETTLE_SECONDS * 1000 + 1000);
    const final = await drain();
    const finalPass = await archiveBroadcast(final[0] as ArchiveRequest, {
      ...deps,
      now: () => new Date(END + 2 * HOUR),
    });
    const afterFinal = await sweepAt(END + 3 * HOUR);
    const stored = await getReplayObject(s3, BUCKET, `${PREFIX}-lostEndSession1/chat/replay.json`);

    // Assess
    expect(archived).toMatchObject({ status: "archived", location: { bucket: BUCKET } });
    expect(beforeFinal.queued).toEqual([]);
    expect(atFinal.queued).toEqual([{ recordingSessionId: "lostEndSession1" }]);
    expect(finalPass).toMatchObject({ status: "archived", counts: { messages: 1, deleted: 1 } });
    expect(stored.json.messages.map((m) => m.id)).toEqual(["hello"]);
    expect(afterFinal).toMatchObject({ queued: [], due: 0 });
  }, 120_000);

  it("queues an archive again while it is not done, then records the broadcast as failed", async () => {
    // Prepare: a recording whose Recording End came, queued, never archived
    await lostRecordingEnd("stuckSession1", "st-stuck1");
    const ended = parseRecordingStateEvent(
      recordingStateEvent("Recording End", {
        sessionId: "stuckSession1",
        streamIds: ["st-stuck1"],
        bucket: BUCKET,
        prefix: `${PREFIX}-stuckSession1`,
        time: iso(END + 10_000),
      }),
    );
    if (ended.kind === "ignored") throw new Error("sample");
    const queuedAt = END + 20 * MINUTE;
    await trackRecording(ended, {
      store: table,
      scheduler: queue,
      settleSeconds: 0,
      recordingEndGraceMinutes: GRACE_MINUTES,
      now: () => new Date(queuedAt),
    });
    await drain();
    const stuck = STUCK_AFTER_SECONDS * 1000;

    // Act
    const notYet = await sweepAt(queuedAt + stuck - MINUTE);
    const sweeps = [];
    for (let i = 1; i <= 4; i++) sweeps.push(await sweepAt(queuedAt + i * (stuck + MINUTE)));
    const recording = await table.getRecording("stuckSession1");

    // Assess
    expect(notYet.queued).toEqual([]);
    expect(sweeps.map((s) => [s.queued.length, s.failed])).toEqual([
      [1, 0],
      [1, 0],
      [1, 0],
      [0, 1],
    ]);
    expect(recording?.archive).toMatchObject({
      status: "failed",
      reason: expect.stringContaining("not archived after the sweep queued it 3 times"),
    });
    expect((await sweepAt(queuedAt + 30 * stuck)).due).toBe(0);
  }, 120_000);

  it("queues the final pass of a stream archived by a redrive before any event about it, by channel and stream", async () => {
    // Prepare: the archive's writes create the stream's item
    const key = { channelArn: CHANNEL_ARN, streamId: "st-redrivenOnly1" };
    const finalAt = Math.floor((END + HOUR) / 1000) + SETTLE_SECONDS;
    const claim = {
      owner: "run-1",
      readUntil: iso(END + 20 * MINUTE),
      expiresAt: iso(END + HOUR),
      force: false,
    };
    await table.claimArchive(key, claim);
    const state = {
      status: "archived" as const,
      at: iso(END + 20 * MINUTE),
      window: { start: iso(START), end: iso(END) },
      readUntil: claim.readUntil,
    };
    await table.completeArchive(key, state, "run-1", finalAt);

    // Act
    const swept = await sweepAt(finalAt * 1000 + 1000);
    await drain();

    // Assess
    expect(swept.queued).toEqual([key]);
    expect(await table.getStream(key.channelArn, key.streamId)).toMatchObject({
      ...key,
      archive: { status: "archived" },
    });
  });
});
