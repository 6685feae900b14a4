import {
  type CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ChatLogPage,
  type ChatLogReadRequest,
  createCloudWatchLogsClient,
  readChatLogPages,
} from "../../src/aws/chatLog";
import { ChatNotFoundError } from "../../src/errors";
import { chatMessage } from "../support/chatRecords";
import { type Moto, motoClientConfig, startMoto } from "../support/moto";

const LOG_GROUP = "/aws/vendedlogs/ivschat/chat-archiver-test";
const ROOM_STREAM = "aws/IVSChatLogs/1.0/room_0wgOPVl4ZRdu";
// moto, like AWS, only accepts events from the last 14 days.
const BASE = Math.floor(Date.now() / 1000) * 1000 - 60 * 60 * 1000;

function chatRecord(id: string, timestamp: number): string {
  return chatMessage(id, timestamp).line;
}

function idsOf(pages: ChatLogPage[]): string[] {
  return pages.flatMap((p) =>
    p.messages.map((m) => (JSON.parse(m) as { payload: { Id: string } }).payload.Id),
  );
}

async function readAll(request: ChatLogReadRequest, pageLimit?: number): Promise<ChatLogPage[]> {
  const pages: ChatLogPage[] = [];
  for await (const p of readChatLogPages(request, { client, pageLimit })) pages.push(p);
  return pages;
}

async function putChat(logStreamName: string, events: { id: string; at: number }[]): Promise<void> {
  await client.send(new CreateLogStreamCommand({ logGroupName: LOG_GROUP, logStreamName }));
  await client.send(
    new PutLogEventsCommand({
      logGroupName: LOG_GROUP,
      logStreamName,
      logEvents: events.map(({ id, at }) => ({ timestamp: at, message: chatRecord(id, at) })),
    }),
  );
}

let moto: Moto;
let client: CloudWatchLogsClient;

describe("readChatLogPages on moto", () => {
  beforeAll(async () => {
    moto = await startMoto();
    client = createCloudWatchLogsClient(motoClientConfig(moto.endpoint));
    await client.send(new CreateLogGroupCommand({ logGroupName: LOG_GROUP }));
    await putChat(ROOM_STREAM, [
      { id: "before-start", at: BASE - 1 },
      { id: "at-start", at: BASE },
      { id: "middle", at: BASE + 30_000 },
      { id: "just-before-end", at: BASE + 59_999 },
      { id: "at-end", at: BASE + 60_000 },
      { id: "after-end", at: BASE + 90_000 },
    ]);
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  it("reads exactly the records of [startTime, endTime) in log order", async () => {
    // Act
    const pages = await readAll({
      logGroupName: LOG_GROUP,
      logStreamName: ROOM_STREAM,
      startTime: BASE,
      endTime: BASE + 60_000,
    });

    // Assess
    expect(idsOf(pages)).toEqual(["at-start", "middle", "just-before-end"]);
  });

  it("follows tokens across small pages, detects the end, and resumes from a checkpoint", async () => {
    // Prepare
    const stream = "aws/IVSChatLogs/1.0/room_pagedRoom01";
    const ids = ["p1", "p2", "p3", "p4", "p5", "p6", "p7"];
    await putChat(
      stream,
      ids.map((id, i) => ({ id, at: BASE + i * 1000 })),
    );
    const request = {
      logGroupName: LOG_GROUP,
      logStreamName: stream,
      startTime: BASE,
      endTime: BASE + 60_000,
    };

    // Act
    const pages = await readAll(request, 3);
    const resumed = await readAll({ ...request, nextToken: pages[0]?.nextToken }, 3);

    // Assess
    expect(pages.map((p) => p.messages.length)).toEqual([3, 3, 1]);
    expect(idsOf(pages)).toEqual(ids);
    expect(idsOf(resumed)).toEqual(ids.slice(3));
  });

  it("reads nothing from a room without a log stream yet", async () => {
    // Act
    const messages = await readAll({
      logGroupName: LOG_GROUP,
      logStreamName: "aws/IVSChatLogs/1.0/room_doesNotExist",
      startTime: BASE,
      endTime: BASE + 60_000,
    });

    // Assess
    expect(messages).toEqual([]);
  });

  it("reports a missing log group as ChatNotFoundError", async () => {
    // Act
    const reading = readAll({
      logGroupName: "/aws/vendedlogs/ivschat/no-such-group",
      logStreamName: "aws/IVSChatLogs/1.0/room_0wgOPVl4ZRdu",
      startTime: BASE,
      endTime: BASE + 60_000,
    });

    // Assess
    await expect(reading).rejects.toBeInstanceOf(ChatNotFoundError);
  });
});
