import {
  CloudWatchLogsClient,
  CloudWatchLogsServiceException,
  DescribeLogStreamsCommand,
  GetLogEventsCommand,
  type GetLogEventsCommandOutput,
  InvalidParameterException,
  ResourceNotFoundException,
  ServiceUnavailableException,
  ThrottlingException,
} from "@aws-sdk/client-cloudwatch-logs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type ChatLogPage,
  type ChatLogReaderDeps,
  type ChatLogReadRequest,
  createCloudWatchLogsClient,
  readChatLogPages,
} from "../../src/aws/chatLog";
import { ChatLogReadError, ChatNotFoundError } from "../../src/errors";
import { chatMessage } from "../support/chatRecords";

const cwl = mockClient(CloudWatchLogsClient);

const START = Date.parse("2024-01-05T14:30:00.000Z");
const END = Date.parse("2024-01-05T15:30:00.000Z");

function window(overrides: Partial<ChatLogReadRequest> = {}): ChatLogReadRequest {
  return {
    logGroupName: "/aws/ivschat/rooms",
    logStreamName: "aws/IVSChatLogs/1.0/room_0wgOPVl4ZRdu",
    startTime: START,
    endTime: END,
    ...overrides,
  };
}

function chatRecord(id: string, timestamp: number): string {
  return chatMessage(id, timestamp).line;
}

function page(
  ids: string[],
  nextForwardToken: string | undefined,
  atMs = START + 1000,
): GetLogEventsCommandOutput {
  return {
    $metadata: {},
    events: ids.map((id, i) => ({
      timestamp: atMs + i,
      message: chatRecord(id, atMs + i),
      ingestionTime: atMs + i,
    })),
    nextForwardToken,
    nextBackwardToken: "b/0",
  };
}

function idsOf(pages: ChatLogPage[]): string[] {
  return pages.flatMap((p) =>
    p.messages.map((m) => (JSON.parse(m) as { payload: { Id: string } }).payload.Id),
  );
}

function throttling(): ThrottlingException {
  return new ThrottlingException({ message: "Rate exceeded", $metadata: { httpStatusCode: 400 } });
}

function recordingSleep(): { delays: number[]; sleep: (ms: number) => Promise<void> } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms) };
}

function deps(overrides: Partial<ChatLogReaderDeps> = {}): ChatLogReaderDeps {
  return {
    client: new CloudWatchLogsClient({ region: "us-east-1" }),
    sleep: recordingSleep().sleep,
    ...overrides,
  };
}

async function readAll(request: ChatLogReadRequest, readerDeps: ChatLogReaderDeps): Promise<ChatLogPage[]> {
  const pages: ChatLogPage[] = [];
  for await (const p of readChatLogPages(request, readerDeps)) pages.push(p);
  return pages;
}

function sentTokens(): (string | undefined)[] {
  return cwl.commandCalls(GetLogEventsCommand).map((call) => call.args[0].input.nextToken);
}

describe("readChatLogPages", () => {
  beforeEach(() => {
    cwl.reset();
  });

  it("yields each page's messages in order and stops when the service hands back the token it was sent", async () => {
    // Prepare
    cwl
      .on(GetLogEventsCommand)
      .resolvesOnce(page(["m1", "m2"], "f/1"))
      .resolvesOnce(page(["m3"], "f/2"))
      .resolvesOnce(page([], "f/2"));

    // Act
    const pages = await readAll(window(), deps());

    // Assess
    expect(idsOf(pages)).toEqual(["m1", "m2", "m3"]);
    expect(pages.map((p) => p.nextToken)).toEqual(["f/1", "f/2"]);
    expect(sentTokens()).toEqual([undefined, "f/1", "f/2"]);
    const first = cwl.commandCalls(GetLogEventsCommand)[0]?.args[0].input;
    expect(first).toMatchObject({ startFromHead: true, startTime: START, endTime: END });
  });

  it("follows an empty page with a new token to the events behind it, yielding the empty page as a checkpoint", async () => {
    // Prepare
    cwl
      .on(GetLogEventsCommand)
      .resolvesOnce(page([], "f/empty"))
      .resolvesOnce(page(["m1"], "f/1"))
      .resolvesOnce(page([], "f/1"));

    // Act
    const pages = await readAll(window(), deps());

    // Assess
    expect(pages).toEqual([
      { messages: [], nextToken: "f/empty" },
      { messages: [expect.any(String)], nextToken: "f/1" },
    ]);
    expect(idsOf(pages)).toEqual(["m1"]);
  });

  it("ends an empty log after the token repeats, without looping", async () => {
    // Prepare
    cwl.on(GetLogEventsCommand).resolves(page([], "f/end"));

    // Act
    const pages = await readAll(window(), deps());

    // Assess
    expect(idsOf(pages)).toEqual([]);
    expect(sentTokens()).toEqual([undefined, "f/end"]);
  });

  it("passes a full 1 MB page whole and follows its token", async () => {
    // Prepare: as many real-shaped records as fit in the service's 1 MB page (26 bytes overhead per event)
    const eventBytes = Buffer.byteLength(chatRecord("id0000", START)) + 26;
    const ids = Array.from(
      { length: Math.floor(1_048_576 / eventBytes) },
      (_, i) => `id${String(i).padStart(4, "0")}`,
    );
    cwl
      .on(GetLogEventsCommand)
      .resolvesOnce(page(ids, "f/full"))
      .resolvesOnce(page(["after"], "f/after"))
      .resolvesOnce(page([], "f/after"));

    // Act
    const pages = await readAll(window(), deps());

    // Assess
    expect(pages[0]?.messages).toHaveLength(ids.length);
    expect(idsOf(pages)).toEqual([...ids, "after"]);
    expect(sentTokens()).toEqual([undefined, "f/full", "f/after"]);
  });

  it("passes a page at the 10,000-event cap whole and follows its token", async () => {
    // Prepare
    const ids = Array.from({ length: 10_000 }, (_, i) => `id${i}`);
    cwl
      .on(GetLogEventsCommand)
      .resolvesOnce(page(ids, "f/full"))
      .resolvesOnce(page(["after"], "f/after"))
      .resolvesOnce(page([], "f/after"));

    // Act
    const pages = await readAll(window(), deps());

    // Assess
    expect(pages.map((p) => p.messages.length)).toEqual([10_000, 1]);
    expect(sentTokens()).toEqual([undefined, "f/full", "f/after"]);
  });

  it("resumes after a checkpointed token, sending it with the same window", async () => {
    // Prepare
    cwl
      .on(GetLogEventsCommand)
      .resolvesOnce(page(["m9"], "f/9"))
      .resolvesOnce(page([], "f/9"));

    // Act
    const pages = await readAll(window({ nextToken: "f/8" }), deps());

    // Assess
    expect(idsOf(pages)).toEqual(["m9"]);
    expect(sentTokens()).toEqual(["f/8", "f/9"]);
    expect(cwl.commandCalls(GetLogEventsCommand)[0]?.args[0].input).toMatchObject({
      startTime: START,
      endTime: END,
      startFromHead: true,
    });
  });

  it("drops events at or after endTime, as AWS does and moto does not", async () => {
    // Prepare
    cwl
      .on(GetLogEventsCommand)
      .resolvesOnce(page(["last-inside", "at-end", "after-end"], "f/1", END - 1))
      .resolvesOnce(page([], "f/1"));

    // Act
    const pages = await readAll(window(), deps());

    // Assess
    expect(idsOf(pages)).toEqual(["last-inside"]);
  });

  it("requests the next page only when the caller asks for it", async () => {
    // Prepare
    cwl
      .on(GetLogEventsCommand)
      .resolvesOnce(page(["m1"], "f/1"))
      .resolvesOnce(page(["m2"], "f/2"));

    // Act
    for await (const first of readChatLogPages(window(), deps())) {
      expect(first.nextToken).toBe("f/1");
      break;
    }

    // Assess
    expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(1);
  });

  it("rides out a burst of throttling with growing, jittered delays and yields every event", async () => {
    // Prepare
    const { delays, sleep } = recordingSleep();
    cwl
      .on(GetLogEventsCommand)
      .rejectsOnce(throttling())
      .rejectsOnce(throttling())
      .rejectsOnce(throttling())
      .resolvesOnce(page(["m1"], "f/1"))
      .rejectsOnce(throttling())
      .resolvesOnce(page([], "f/1"));

    // Act
    const pages = await readAll(window(), deps({ sleep, random: () => 0.5 }));

    // Assess
    expect(idsOf(pages)).toEqual(["m1"]);
    expect(delays).toEqual([100, 200, 400, 100]);
  });

  it("retries ServiceUnavailableException and 5xx answers like throttling", async () => {
    // Prepare
    const { delays, sleep } = recordingSleep();
    const serverError = new CloudWatchLogsServiceException({
      name: "InternalFailure",
      $fault: "server",
      $metadata: { httpStatusCode: 502 },
      message: "Bad Gateway",
    });
    cwl
      .on(GetLogEventsCommand)
      .rejectsOnce(
        new ServiceUnavailableException({ message: "try later", $metadata: { httpStatusCode: 503 } }),
      )
      .rejectsOnce(serverError)
      .resolvesOnce(page(["m1"], "f/1"))
      .resolvesOnce(page([], "f/1"));

    // Act
    const pages = await readAll(window(), deps({ sleep, random: () => 0.5 }));

    // Assess
    expect(idsOf(pages)).toEqual(["m1"]);
    expect(delays).toHaveLength(2);
  });

  it("gives up after maxThrottleRetries with ChatLogReadError carrying the throttling error, delays capped", async () => {
    // Prepare
    const { delays, sleep } = recordingSleep();
    const throttled = throttling();
    cwl.on(GetLogEventsCommand).rejects(throttled);

    // Act
    const reading = readAll(window(), deps({ sleep, random: () => 0.5 }));

    // Assess
    const error = await reading.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatLogReadError);
    expect((error as ChatLogReadError).cause).toBe(throttled);
    expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(9);
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 10_000]);
  });

  it("honours a smaller retry budget", async () => {
    // Prepare
    cwl.on(GetLogEventsCommand).rejects(throttling());

    // Act
    const reading = readAll(window(), deps({ maxThrottleRetries: 2 }));

    // Assess
    await expect(reading).rejects.toBeInstanceOf(ChatLogReadError);
    expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(3);
  });

  it("maps a missing log group to ChatNotFoundError with the SDK error as cause", async () => {
    // Prepare
    const missing = new ResourceNotFoundException({
      message: "The specified log group does not exist.",
      $metadata: { httpStatusCode: 400 },
    });
    cwl.on(GetLogEventsCommand).rejects(missing);
    cwl.on(DescribeLogStreamsCommand).rejects(missing);

    // Act
    const error = await readAll(window(), deps()).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ChatNotFoundError);
    expect((error as ChatNotFoundError).cause).toBe(missing);
    expect((error as Error).message).toContain(window().logGroupName);
  });

  it("reads nothing when the group exists but the room's stream does not, without parsing error texts", async () => {
    // Prepare: moto words this error as if the group were missing.
    cwl
      .on(GetLogEventsCommand)
      .rejects(
        new ResourceNotFoundException({ message: "The specified log group does not exist.", $metadata: {} }),
      );
    cwl.on(DescribeLogStreamsCommand).resolves({ logStreams: [] });

    // Act
    const messages = await readAll(window(), deps());

    // Assess
    expect(messages).toEqual([]);
    expect(cwl.commandCalls(DescribeLogStreamsCommand)[0]?.args[0].input).toMatchObject({
      logGroupName: window().logGroupName,
      logStreamNamePrefix: window().logStreamName,
    });
  });

  it("rethrows any other error unchanged and without retrying", async () => {
    // Prepare
    const { delays, sleep } = recordingSleep();
    const invalid = new InvalidParameterException({
      message: "The specified nextToken is invalid.",
      $metadata: { httpStatusCode: 400 },
    });
    cwl.on(GetLogEventsCommand).rejects(invalid);

    // Act
    const error = await readAll(window({ nextToken: "f/expired" }), deps({ sleep })).catch((e: unknown) => e);

    // Assess
    expect(error).toBe(invalid);
    expect(delays).toEqual([]);
    expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(1);
  });

  it("fails with ChatLogReadError instead of looping when the service returns no token", async () => {
    // Prepare
    cwl.on(GetLogEventsCommand).resolves(page(["m1"], undefined));

    // Act
    const reading = readAll(window(), deps());

    // Assess
    await expect(reading).rejects.toThrow(ChatLogReadError);
    expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(1);
  });
});

describe("createCloudWatchLogsClient", () => {
  it("builds a client with adaptive retries and lets callers override the rest", async () => {
    // Act
    const client = createCloudWatchLogsClient({ region: "eu-west-1" });

    // Assess
    expect(client.config.retryMode).toBe("adaptive");
    expect(await client.config.maxAttempts()).toBe(3);
    expect(await client.config.region()).toBe("eu-west-1");
  });
});
