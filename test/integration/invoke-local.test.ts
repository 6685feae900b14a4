import { execFile } from "node:child_process";
import { cp, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDocumentClient } from "../../src/aws/sessionsTable";
import { provision } from "../../src/cli/provision";
import { putIvsChatObjects } from "../../src/local/ivsChatObjects";
import { chatDeletion, chatEvent, chatMessage } from "../support/chatRecords";
import { CHANNEL_ARN, ROOM_ARN } from "../support/ivsEvents";
import { MOTO_ENV, type Moto, motoClientConfig, startMoto } from "../support/moto";
import { drainQueue } from "../support/queue";
import { getReplayObject } from "../support/replays";

const run = promisify(execFile);
const root = resolve(__dirname, "..", "..");

const STREAM_ID = "st-1A2b3c4D5e6F78ghij9Klmn";
const SESSION_ID = "a6RfV23ES97iyfoQ";

describe("serverless invoke local on moto", () => {
  let moto: Moto;
  let dir: string;
  let env: Record<string, string>;
  let sqs: SQSClient;
  let dynamodb: DynamoDBClient;
  let s3: S3Client;

  beforeAll(async () => {
    moto = await startMoto();
    // provision creates the stack osls resolves the functions' `!Ref`s from, as after a deployment.
    env = await provision({ endpoint: moto.endpoint, region: MOTO_ENV.AWS_REGION });
    sqs = new SQSClient(motoClientConfig(moto.endpoint));
    dynamodb = new DynamoDBClient(motoClientConfig(moto.endpoint));
    s3 = new S3Client(motoClientConfig(moto.endpoint));

    // A private copy of the service: serverless-esbuild bundles into a work folder next to serverless.yml,
    // which would collide with another serverless run in the checkout.
    dir = await mkdtemp(join(tmpdir(), "ivs-chat-archiver-invoke-"));
    for (const entry of ["serverless.yml", "serverless", "package.json", "tsconfig.json", "src", "events"]) {
      await cp(join(root, entry), join(dir, entry), { recursive: true });
    }
    await symlink(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  }, 120_000);

  afterAll(async () => {
    sqs?.destroy();
    dynamodb?.destroy();
    s3?.destroy();
    await moto?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * Runs one function on one sample of events/ with the provisioned environment, SETTLE_SECONDS 0;
   * `exported` are variables of the shell that runs it.
   */
  async function invokeLocal(
    functionName: string,
    eventFile: string,
    exported: Record<string, string> = {},
  ): Promise<string> {
    const variables = { ...env, SETTLE_SECONDS: "0" };
    const { stdout } = await run(
      join(root, "node_modules", ".bin", "serverless"),
      [
        "invoke",
        "local",
        "--function",
        functionName,
        "--path",
        join("events", eventFile),
        ...Object.entries(variables).flatMap(([key, value]) => ["--env", `${key}=${value}`]),
      ],
      {
        cwd: dir,
        env: { ...process.env, ...MOTO_ENV, AWS_ENDPOINT_URL: moto.endpoint, ...exported },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    return stdout;
  }

  const drain = () => drainQueue(sqs, env.ARCHIVE_QUEUE_URL ?? "");

  async function item(pk: string): Promise<Record<string, unknown> | undefined> {
    const out = await createDocumentClient(dynamodb).send(
      new GetCommand({ TableName: env.SESSIONS_TABLE, Key: { pk }, ConsistentRead: true }),
    );
    return out.Item;
  }

  it("tracks a recorded broadcast through the real handlers and queues its archive at Recording End", async () => {
    const streamStart = await invokeLocal("streamState", "stream-start.json");
    await invokeLocal("recordingState", "recording-started.json");
    const streamEnd = await invokeLocal("streamState", "stream-end.json");
    const queuedBeforeRecordingEnd = await drain();
    const recordingEnd = await invokeLocal("recordingState", "recording-ended.json");

    expect(streamStart).toContain('"waitingFor": "Stream End"');
    expect(streamEnd).toContain('"waitingFor": "Recording End"');
    expect(recordingEnd).toContain('"recordingSessionId": "a6RfV23ES97iyfoQ"');
    expect(queuedBeforeRecordingEnd).toEqual([]);
    expect(await drain()).toEqual([{ recordingSessionId: SESSION_ID }]);
    expect(await item(`STREAM#${CHANNEL_ARN}#${STREAM_ID}`)).toMatchObject({
      kind: "stream",
      channelArn: CHANNEL_ARN,
      streamId: STREAM_ID,
      startAt: "2024-01-05T14:30:00.000Z",
      endAt: "2024-01-05T15:30:00.000Z",
      recordingSessionId: SESSION_ID,
    });
    expect(await item(`RECORDING#${SESSION_ID}`)).toMatchObject({
      kind: "recording",
      channelArn: CHANNEL_ARN,
      sessionId: SESSION_ID,
      streamIds: new Set([STREAM_ID]),
      bucket: "ivs-recordings-example",
      prefix: "ivs/v1/123456789012/AbCdef1G2hij/2024/1/5/14/30/a6RfV23ES97iyfoQ",
      startAt: "2024-01-05T14:30:01.000Z",
      endAt: "2024-01-05T15:30:10.000Z",
      durationMs: 3_600_000,
    });
  }, 180_000);

  it("archives that broadcast from chat in S3 in IVS's layout, with CHAT_LOG_S3_URI exported and the room linked by the CLI", async () => {
    // Prepare
    const start = Date.parse("2024-01-05T14:30:00.000Z");
    const end = Date.parse("2024-01-05T15:30:00.000Z");
    const chat = [
      chatMessage("early", start - 60_000, "before the start"),
      chatMessage("hello", start + 60_000, "hello"),
      chatMessage("regret", start + 120_000, "something to regret"),
      chatEvent("poll", start + 30 * 60_000, "app:poll", { question: "Best map?" }),
      chatMessage("bye", end - 60_000, "bye"),
      chatDeletion("mod", end + 10 * 60_000, "regret"),
    ];
    await s3.send(new CreateBucketCommand({ Bucket: "ivs-recordings-example" }));
    await s3.send(new CreateBucketCommand({ Bucket: "ivs-chat-logs-example" }));
    await putIvsChatObjects(s3, { bucket: "ivs-chat-logs-example", prefix: "" }, ROOM_ARN, chat);
    const shell = { ...process.env, ...MOTO_ENV, ...env, AWS_ENDPOINT_URL: moto.endpoint };
    await run(
      "npm",
      ["run", "--silent", "cli", "--", "link", "--channel-arn", CHANNEL_ARN, "--room-arn", ROOM_ARN],
      {
        cwd: root,
        env: shell,
      },
    );

    // Act
    const stdout = await invokeLocal("archive", "archive-redrive-recording.json", {
      CHAT_LOG_S3_URI: "s3://ivs-chat-logs-example",
    });

    // Assess
    expect(stdout).toContain('"status": "archived"');
    const stored = await getReplayObject(
      s3,
      "ivs-recordings-example",
      "ivs/v1/123456789012/AbCdef1G2hij/2024/1/5/14/30/a6RfV23ES97iyfoQ/chat/replay.json",
    );
    expect(stored.json.counts).toEqual({
      records: 5,
      messages: 2,
      events: 1,
      deleted: 1,
      duplicates: 0,
      skipped: 0,
    });
    expect(stored.json.messages.map((m) => m.id)).toEqual(["hello", "bye"]);
    expect(stored.json.events.map((e) => e.id)).toEqual(["poll"]);
  }, 180_000);
});
