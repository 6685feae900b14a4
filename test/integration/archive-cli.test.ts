import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDocumentClient, SessionsTable } from "../../src/aws/sessionsTable";
import { provision } from "../../src/cli/provision";
import { syntheticChatLog } from "../../src/cli/synthetic";
import { CloudWatchLogsStandIn } from "../../src/local/cloudWatchLogsStandIn";
import { linesLoggedBetween, roomLogStream } from "../support/chatRecords";
import { CHANNEL_ARN, ROOM_ARN, STREAM_ID } from "../support/ivsEvents";
import { MOTO_ENV, type Moto, motoClientConfig, startMoto } from "../support/moto";
import { END, HOUR, START } from "../support/recentBroadcast";
import { expectedReplayText, getReplayObject } from "../support/replays";

const run = promisify(execFile);
const root = resolve(__dirname, "..", "..");
const LOG_GROUP = "/aws/vendedlogs/ivschat/cli-test";
const CHAT = [
  ...syntheticChatLog({ records: 3000, start: new Date(START), durationMs: END - START, seed: 3 }),
];

describe("npm run cli -- archive, on moto with CloudWatch Logs behind a stand-in", () => {
  let moto: Moto;
  let standIn: CloudWatchLogsStandIn;
  let env: NodeJS.ProcessEnv;
  let s3: S3Client;
  let table: SessionsTable;

  beforeAll(async () => {
    moto = await startMoto();
    // Small pages and a low quota, so the read takes many pages and some throttling.
    standIn = new CloudWatchLogsStandIn({ quotaTps: 20, maxEvents: 40, baseLatencyMs: 5, emptyPageEvery: 5 });
    standIn.add(LOG_GROUP, roomLogStream(ROOM_ARN), CHAT);
    const logsEndpoint = await standIn.start();
    const provisioned = await provision({ endpoint: moto.endpoint, region: MOTO_ENV.AWS_REGION });
    s3 = new S3Client(motoClientConfig(moto.endpoint));
    table = new SessionsTable(
      provisioned.SESSIONS_TABLE ?? "",
      createDocumentClient(new DynamoDBClient(motoClientConfig(moto.endpoint))),
    );
    await table.recordStream({
      kind: "streamStart",
      channelArn: CHANNEL_ARN,
      streamId: STREAM_ID,
      at: new Date(START),
    });
    await table.recordStream({
      kind: "streamEnd",
      channelArn: CHANNEL_ARN,
      streamId: STREAM_ID,
      at: new Date(END),
    });
    await table.putLink(CHANNEL_ARN, { roomArn: ROOM_ARN });
    env = {
      ...process.env,
      ...MOTO_ENV,
      ...provisioned,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logsEndpoint,
      CHAT_LOG_GROUP: LOG_GROUP,
      // Faster than the quota: the account throttles, and the reader's one retry layer must absorb it.
      CHAT_LOG_READ_TPS: "40",
    };
  }, 120_000);

  afterAll(async () => {
    s3?.destroy();
    await standIn?.stop();
    await moto?.stop();
  });

  async function archive(...extra: string[]) {
    return archiveStream(env, CHANNEL_ARN, STREAM_ID, extra);
  }

  async function archiveStream(
    runEnv: NodeJS.ProcessEnv,
    channelArn: string,
    streamId: string,
    extra: string[],
  ) {
    const args = [
      "run",
      "--silent",
      "cli",
      "--",
      "archive",
      "--channel-arn",
      channelArn,
      "--stream-id",
      streamId,
    ];
    try {
      const { stdout, stderr } = await run("npm", [...args, ...extra], { cwd: root, env: runEnv });
      return { code: 0, result: JSON.parse(stdout), stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, result: JSON.parse(failed.stdout), stderr: failed.stderr };
    }
  }

  it("archives in a chain of short runs the replay of one pass, then keeps it when the log has expired", async () => {
    // Act
    const chained = await archive("--max-run-seconds", "2");
    const location = chained.result.location as { bucket: string; key: string };
    const stored = await getReplayObject(s3, location.bucket, location.key);
    const throttledSoFar = standIn.stats.throttled;
    standIn.deleteGroup(LOG_GROUP);
    const expired = await archive();
    const after = await getReplayObject(s3, location.bucket, location.key);
    const item = await table.getStream(CHANNEL_ARN, STREAM_ID);

    // Assess
    expect(chained.code).toBe(0);
    expect(chained.result).toMatchObject({ status: "archived", counts: { records: CHAT.length } });
    expect(chained.result.runs).toBeGreaterThan(1);
    expect(chained.stderr).toMatch(/checkpoint restored/);
    expect(throttledSoFar).toBeGreaterThan(0);
    expect(stored.text).toBe(
      await expectedReplayText(linesLoggedBetween(CHAT, START, END + HOUR), {
        window: { start: START, end: END },
        offsetBase: START,
        channelArn: CHANNEL_ARN,
        roomArn: ROOM_ARN,
        streamIds: [STREAM_ID],
        recording: null,
      }),
    );
    expect(expired.code).toBe(2);
    expect(expired.result).toMatchObject({ status: "failed", reason: expect.stringContaining(LOG_GROUP) });
    expect(after.stored.equals(stored.stored)).toBe(true);
    expect(item?.archive).toMatchObject({ status: "failed", location, counts: { records: CHAT.length } });
  });

  it("splits the slices at the chat's peak while reading, checkpoints them, and archives the replay of one pass", async () => {
    // Prepare: another channel and room; 80% of its chat in the middle tenth of the broadcast (in
    // the second of three slices), and answers slow enough (700 ms) that a slice alone cannot use
    // 3 requests a second
    const channelArn = `${CHANNEL_ARN.slice(0, CHANNEL_ARN.lastIndexOf("/"))}/PeakChannel1`;
    const roomArn = `${ROOM_ARN.slice(0, ROOM_ARN.lastIndexOf("/"))}/PeakRoom1234`;
    const streamId = "st-PeakStream0000000000001";
    const chat = [
      ...syntheticChatLog({
        records: 20_000,
        start: new Date(START),
        durationMs: END - START,
        seed: 5,
        burst: 0.8,
      }),
    ];
    const slow = new CloudWatchLogsStandIn({ baseLatencyMs: 700 });
    slow.add(LOG_GROUP, roomLogStream(roomArn), chat);
    const logsEndpoint = await slow.start();
    try {
      await table.recordStream({ kind: "streamStart", channelArn, streamId, at: new Date(START) });
      await table.recordStream({ kind: "streamEnd", channelArn, streamId, at: new Date(END) });
      await table.putLink(channelArn, { roomArn });
      const slowEnv = { ...env, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logsEndpoint, CHAT_LOG_READ_TPS: "3" };

      // Act
      const chained = await archiveStream(slowEnv, channelArn, streamId, ["--max-run-seconds", "3"]);
      const location = chained.result.location as { bucket: string; key: string };
      const stored = await getReplayObject(s3, location.bucket, location.key);

      // Assess: the runs read more slices than the three planned, and the chain carried them over
      const reads = chained.stderr
        .split("\n")
        .filter((line) => line.includes("chat read"))
        .map((line) => JSON.parse(line.slice(line.indexOf("{"))) as { run: number; slices: number });
      expect(chained.code).toBe(0);
      expect(chained.result).toMatchObject({ status: "archived", counts: { records: chat.length } });
      expect(chained.result.runs).toBeGreaterThan(1);
      expect(Math.max(...reads.map((read) => read.slices))).toBeGreaterThan(3);
      expect(chained.stderr).toMatch(/checkpoint restored/);
      expect(stored.text).toBe(
        await expectedReplayText(linesLoggedBetween(chat, START, END + HOUR), {
          window: { start: START, end: END },
          offsetBase: START,
          channelArn,
          roomArn,
          streamIds: [streamId],
          recording: null,
        }),
      );
    } finally {
      await slow.stop();
    }
  });
});
