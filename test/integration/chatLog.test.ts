import {
  type CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planSlices } from "../../src/archive/archive";
import type { ChatPage, SlicePosition } from "../../src/archive/ports";
import { CloudWatchChatLog, createCloudWatchLogsClient } from "../../src/aws/chatLog";
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

/** Ids in log order: slices in time order, each slice's pages in the order read. */
/** The records' ids in log order: by slice rank (a slice split while read ranks between its neighbours), then place. */
function idsOf(pages: ChatPage[]): string[] {
  return [...pages]
    .sort((a, b) => a.next.rank - b.next.rank || a.seq - b.seq)
    .flatMap((p) => p.records.map((m) => (JSON.parse(m) as { payload: { Id: string } }).payload.Id));
}

interface Request {
  logGroupName: string;
  logStreamName: string;
  startTime: number;
  endTime: number;
}

async function readAll(request: Request, pageLimit?: number, slices?: SlicePosition[]): Promise<ChatPage[]> {
  const pages: ChatPage[] = [];
  const reader = new CloudWatchChatLog({ client, pageLimit, readTps: 50 });
  const source = {
    kind: "cloudwatch" as const,
    logGroupName: request.logGroupName,
    logStreamName: request.logStreamName,
  };
  const positions = slices ?? [
    { start: request.startTime, end: request.endTime, read: 0, done: false, rank: 0 },
  ];
  for await (const p of reader.read(source, positions)) pages.push(p);
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
    const first = pages[0]?.next as SlicePosition;
    const resumed = await readAll(request, 3, [first]);

    // Assess
    expect(pages.filter((p) => p.records.length > 0).map((p) => p.records.length)).toEqual([3, 3, 1]);
    expect(pages.at(-1)?.next.done).toBe(true);
    expect(idsOf(pages)).toEqual(ids);
    expect(idsOf(resumed)).toEqual(ids.slice(3));
  });

  it("reads time slices concurrently, together exactly the records of the range", async () => {
    // Prepare
    const stream = "aws/IVSChatLogs/1.0/room_slicedRoom1";
    const ids = Array.from({ length: 40 }, (_, i) => `s${String(i).padStart(2, "0")}`);
    await putChat(
      stream,
      ids.map((id, i) => ({ id, at: BASE + i * 15_000 })),
    );
    const request = {
      logGroupName: LOG_GROUP,
      logStreamName: stream,
      startTime: BASE,
      endTime: BASE + 600_000,
    };
    const slices = planSlices(request.startTime, request.endTime, 6);

    // Act
    const pages = await readAll(request, 2, slices);

    // Assess
    expect(slices).toHaveLength(6);
    expect(idsOf(pages)).toEqual(ids);
  });

  it("reads nothing from a room without a log stream yet", async () => {
    // Act
    const pages = await readAll({
      logGroupName: LOG_GROUP,
      logStreamName: "aws/IVSChatLogs/1.0/room_doesNotExist",
      startTime: BASE,
      endTime: BASE + 60_000,
    });

    // Assess
    expect(idsOf(pages)).toEqual([]);
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
