import { execFile } from "node:child_process";
import { cp, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveQueue } from "../../src/aws/archiveQueue";
import { createDocumentClient, SessionsTable } from "../../src/aws/sessionsTable";
import { provision } from "../../src/cli/provision";
import { parseRecordingStateEvent, parseStreamStateEvent } from "../../src/sessions/events";
import { trackRecording, trackStream } from "../../src/sessions/track";
import {
  chatDeletion,
  chatEvent,
  chatMessage,
  linesLoggedBetween,
  putChat,
  roomLogStream,
} from "../support/chatRecords";
import {
  BUCKET,
  CHANNEL_ARN,
  type IvsEvent,
  PREFIX,
  ROOM_ARN,
  recordingStateEvent,
  SESSION_ID,
  STREAM_ID,
  streamStateEvent,
} from "../support/ivsEvents";
import { MOTO_ENV, type Moto, motoClientConfig, startMoto } from "../support/moto";
import { DURATION_MS, END, HOUR, MINUTE, RECORDING_START, START } from "../support/recentBroadcast";
import { expectedReplayText, getReplayObject } from "../support/replays";

const run = promisify(execFile);
const root = resolve(__dirname, "..", "..");

const KEY = `${PREFIX}/chat/replay.json`;
const LOG_GROUP = "/aws/vendedlogs/ivschat/redrive-test";

const iso = (ms: number) => new Date(ms).toISOString();

const CHAT = [
  chatMessage("hello", START + MINUTE, "hello"),
  chatMessage("regret", START + 2 * MINUTE, "something to regret"),
  chatEvent("poll", START + 3 * MINUTE, "app:poll", { question: "Best map?" }),
  chatMessage("spam", START + 4 * MINUTE, "buy followers"),
  chatDeletion("modSpam", START + 5 * MINUTE, "spam"),
  chatMessage("bye", END - MINUTE, "bye"),
];

describe("redrive of the archive with serverless invoke local on moto", () => {
  let moto: Moto;
  let dir: string;
  let env: Record<string, string>;
  let s3: S3Client;
  let logs: CloudWatchLogsClient;

  beforeAll(async () => {
    moto = await startMoto();
    // provision creates the stack osls resolves the functions' `!Ref`s from, as after a deployment.
    env = await provision({ endpoint: moto.endpoint, region: MOTO_ENV.AWS_REGION });
    s3 = new S3Client(motoClientConfig(moto.endpoint));
    logs = new CloudWatchLogsClient(motoClientConfig(moto.endpoint));
    const sqs = new SQSClient(motoClientConfig(moto.endpoint));
    const dynamodb = new DynamoDBClient(motoClientConfig(moto.endpoint));
    const table = new SessionsTable(env.SESSIONS_TABLE ?? "", createDocumentClient(dynamodb));
    const deps = {
      store: table,
      scheduler: new ArchiveQueue(env.ARCHIVE_QUEUE_URL ?? "", sqs),
      settleSeconds: 0,
      recordingEndGraceMinutes: 15,
      now: () => new Date(),
    };
    // The broadcast as the tracking functions leave it: its window, its recording, its channel's room.
    const recording = { sessionId: SESSION_ID, streamIds: [STREAM_ID], bucket: BUCKET, prefix: PREFIX };
    const events: IvsEvent[] = [
      streamStateEvent("Stream Start", { streamId: STREAM_ID, time: iso(START) }),
      recordingStateEvent("Recording Start", { ...recording, time: iso(RECORDING_START) }),
      streamStateEvent("Stream End", { streamId: STREAM_ID, time: iso(END) }),
      recordingStateEvent("Recording End", {
        ...recording,
        time: iso(END + 10_000),
        durationMs: DURATION_MS,
      }),
    ];
    for (const event of events) {
      if (event["detail-type"] === "IVS Stream State Change") {
        const fact = parseStreamStateEvent(event);
        if (fact.kind !== "ignored") await trackStream(fact, deps);
      } else {
        const fact = parseRecordingStateEvent(event);
        if (fact.kind !== "ignored") await trackRecording(fact, deps);
      }
    }
    await table.putLink(CHANNEL_ARN, { roomArn: ROOM_ARN });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await putChat(logs, LOG_GROUP, roomLogStream(ROOM_ARN), CHAT);
    sqs.destroy();
    dynamodb.destroy();

    // A private copy of the service: serverless-esbuild bundles into a work folder next to serverless.yml,
    // which would collide with another serverless run in the checkout.
    dir = await mkdtemp(join(tmpdir(), "ivs-chat-archiver-redrive-"));
    for (const entry of ["serverless.yml", "serverless", "package.json", "tsconfig.json", "src", "events"]) {
      await cp(join(root, entry), join(dir, entry), { recursive: true });
    }
    await symlink(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  }, 120_000);

  afterAll(async () => {
    s3?.destroy();
    logs?.destroy();
    await moto?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** `serverless invoke local -f archive --data <payload>` with the provisioned variables exported, as the README does it. */
  async function redrive(payload: unknown): Promise<string> {
    const variables = {
      ...env,
      SETTLE_SECONDS: "0",
      CHAT_LOG_GROUP: LOG_GROUP,
      POWERTOOLS_LOG_LEVEL: "WARN",
    };
    const { stdout } = await run(
      join(root, "node_modules", ".bin", "serverless"),
      ["invoke", "local", "--function", "archive", "--data", JSON.stringify(payload)],
      {
        cwd: dir,
        env: { ...process.env, ...MOTO_ENV, AWS_ENDPOINT_URL: moto.endpoint, ...variables },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    return stdout;
  }

  it("archives a broadcast named by channel and stream next to its recording, then by recording session after a late deletion", async () => {
    // Act
    const byStream = await redrive({ channelArn: CHANNEL_ARN, streamId: STREAM_ID });
    const first = await getReplayObject(s3, BUCKET, KEY);
    await putChat(logs, LOG_GROUP, roomLogStream(ROOM_ARN), [
      chatDeletion("lateModeration", END + 40 * MINUTE, "regret"),
    ]);
    const bySession = await redrive({ recordingSessionId: SESSION_ID });
    const second = await getReplayObject(s3, BUCKET, KEY);

    // Assess
    expect(byStream).toContain('"status": "archived"');
    expect(first.contentEncoding).toBe("gzip");
    expect(first.json.counts).toEqual({
      records: 6,
      messages: 3,
      events: 1,
      deleted: 1,
      duplicates: 0,
      skipped: 0,
    });
    expect(first.text).toBe(
      await expectedReplayText(linesLoggedBetween(CHAT, START, END + HOUR), {
        window: { start: START, end: END },
        offsetBase: RECORDING_START,
        channelArn: CHANNEL_ARN,
        roomArn: ROOM_ARN,
        streamIds: [STREAM_ID],
        recording: { bucket: BUCKET, prefix: PREFIX, sessionId: SESSION_ID, durationMs: DURATION_MS },
        timeline: [{ start: RECORDING_START, end: END, mediaMs: 0 }],
      }),
    );
    expect(bySession).toContain('"status": "archived"');
    expect(second.json.counts).toMatchObject({ records: 7, messages: 2, deleted: 2 });
    expect(second.json.messages.map((m) => m.id)).toEqual(["hello", "bye"]);
  }, 180_000);

  it("fails on a malformed payload with a message naming the payloads it takes and what is wrong", async () => {
    // Act
    const failure = async (payload: unknown) => {
      const error = (await redrive(payload).then(
        () => undefined,
        (reason: unknown) => reason,
      )) as { code?: unknown; stdout?: string; stderr?: string } | undefined;
      // The message is printed inside JSON (the error report, the log line): compare it unescaped.
      return {
        code: error?.code,
        output: `${error?.stdout ?? ""}\n${error?.stderr ?? ""}`.replaceAll('\\"', '"'),
      };
    };
    const noChannel = await failure({ streamId: STREAM_ID });
    const misspelt = await failure({ recordingSessionId: SESSION_ID, forse: true });

    // Assess
    for (const { code, output } of [noChannel, misspelt]) {
      expect(code).toBeGreaterThan(0);
      expect(output).toContain("ValidationError");
      expect(output).toContain(
        'archive needs {"channelArn": "arn:aws:ivs:...:channel/...", "streamId": "st-..."} or {"recordingSessionId": "..."}',
      );
    }
    expect(noChannel.output).toContain('(and optionally "force": true): channelArn is missing; got');
    // A misspelt key is not dropped: nobody believes the archive was forced
    expect(misspelt.output).toContain('(and optionally "force": true): unknown key "forse"; got');
  }, 120_000);
});
