import { Readable } from "node:stream";
import {
  CloudWatchLogsServiceException,
  DescribeLogStreamsCommand,
  GetLogEventsCommand,
  type GetLogEventsCommandInput,
  type GetLogEventsCommandOutput,
  InvalidParameterException,
  type OutputLogEvent,
  ResourceNotFoundException,
  ServiceUnavailableException,
  ThrottlingException,
} from "@aws-sdk/client-cloudwatch-logs";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { planSlices, takePage } from "../../src/archive/archive";
import { type ChatLogSource, type ChatPage, logPosition, type SlicePosition } from "../../src/archive/ports";
import {
  type ChatLogReaderDeps,
  CloudWatchChatLog,
  createCloudWatchLogsClient,
  RateLimiter,
} from "../../src/aws/chatLog";
import { mulberry32 } from "../../src/cli/synthetic";
import { ChatLogReadError, ChatNotFoundError } from "../../src/errors";
import { chatMessage } from "../support/chatRecords";

const SOURCE: ChatLogSource = {
  kind: "cloudwatch",
  logGroupName: "/aws/ivschat/rooms",
  logStreamName: "aws/IVSChatLogs/1.0/room_0wgOPVl4ZRdu",
};
const START = Date.parse("2024-01-05T14:30:00.000Z");
const END = Date.parse("2024-01-05T15:30:00.000Z");

function slice(overrides: Partial<SlicePosition> = {}): SlicePosition {
  return { start: START, end: END, read: 0, done: false, rank: 0, ...overrides };
}

function chatRecord(id: string, timestamp: number): string {
  return chatMessage(id, timestamp).line;
}

function event(id: string, timestamp: number): OutputLogEvent {
  return { timestamp, message: chatRecord(id, timestamp), ingestionTime: timestamp };
}

function page(
  ids: string[],
  nextForwardToken: string | undefined,
  atMs = START + 1000,
): GetLogEventsCommandOutput {
  return {
    $metadata: {},
    events: ids.map((id, i) => event(id, atMs + i)),
    nextForwardToken,
    nextBackwardToken: "b/0",
  };
}

function idOf(record: string): string {
  return (JSON.parse(record) as { payload: { Id: string } }).payload.Id;
}

function idsOf(pages: ChatPage[]): string[] {
  return pages.flatMap((p) => p.records.map(idOf));
}

function throttling(): ThrottlingException {
  return new ThrottlingException({ message: "Rate exceeded", $metadata: { httpStatusCode: 400 } });
}

/** An injected clock that sleeping moves on at once, so backoff and pacing cost no real time. */
function fakeTime(startMs = START) {
  let clock = startMs;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => clock,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock += ms;
    },
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

/** A reader over a mocked client built by the production factory, on a fake clock. */
function setup(overrides: Partial<ChatLogReaderDeps> = {}) {
  const client = createCloudWatchLogsClient({ region: "us-east-1" });
  const cwl = mockClient(client);
  const time = fakeTime();
  const chatLog = new CloudWatchChatLog({
    client,
    now: time.now,
    sleep: time.sleep,
    random: () => 0.5,
    ...overrides,
  });
  const read = async (slices: SlicePosition[] = [slice()]): Promise<ChatPage[]> => {
    const pages: ChatPage[] = [];
    for await (const p of chatLog.read(SOURCE, slices)) pages.push(p);
    return pages;
  };
  const requests = (): GetLogEventsCommandInput[] =>
    cwl.commandCalls(GetLogEventsCommand).map((call) => call.args[0].input);
  const sentTokens = () => requests().map((input) => input.nextToken);
  return { cwl, time, chatLog, read, requests, sentTokens };
}

/**
 * GetLogEvents over `events` as AWS answers it: pages of at most `limit` events of the range asked,
 * tokens that are positions within that range, and the sent token handed back at the end.
 */
function logService(events: OutputLogEvent[]) {
  return (input: GetLogEventsCommandInput): GetLogEventsCommandOutput => {
    const { startTime = 0, endTime = Number.POSITIVE_INFINITY, nextToken, limit = 10_000 } = input;
    const inRange = events.filter(({ timestamp = 0 }) => timestamp >= startTime && timestamp < endTime);
    const from = nextToken === undefined ? 0 : Number(nextToken.split("/")[2]);
    const answer = inRange.slice(from, from + limit);
    const atEnd = answer.length === 0 && nextToken !== undefined;
    return {
      $metadata: {},
      events: answer,
      nextForwardToken: atEnd ? nextToken : `f/${startTime}/${from + answer.length}`,
      nextBackwardToken: `b/${startTime}/${from}`,
    };
  };
}

/** The pages of one slice, in the order they came. */
function bySlice(pages: ChatPage[], index: number): ChatPage[] {
  return pages.filter((p) => p.slice === index);
}

/**
 * A client built by the production factory over a stand-in HTTP handler, so the SDK's whole stack
 * (its retries included) runs; `answer` gets the token sent and the request's number.
 */
function overHttp(
  answer: (nextToken: string | undefined, count: number) => { status: number; body: object },
) {
  const sent: (string | undefined)[] = [];
  const client = createCloudWatchLogsClient({
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    requestHandler: {
      handle: async (request: { body?: Uint8Array | string }) => {
        const text = typeof request.body === "string" ? request.body : new TextDecoder().decode(request.body);
        const { nextToken } = JSON.parse(text || "{}") as { nextToken?: string };
        sent.push(nextToken);
        const { status, body } = answer(nextToken, sent.length);
        const errorType = (body as { __type?: string }).__type;
        return {
          response: {
            statusCode: status,
            headers: {
              "content-type": "application/x-amz-json-1.1",
              ...(errorType === undefined ? {} : { "x-amzn-errortype": errorType }),
            },
            body: Readable.from([Buffer.from(JSON.stringify(body))]),
          },
        };
      },
    },
  });
  return { client, sent };
}

describe("CloudWatchChatLog", () => {
  describe("reading one slice", () => {
    it("yields each page's records in order and ends the slice when the service hands back the token it was sent", async () => {
      // Prepare
      const { cwl, read, sentTokens, requests } = setup();
      cwl
        .on(GetLogEventsCommand)
        .resolvesOnce(page(["m1", "m2"], "f/1"))
        .resolvesOnce(page(["m3"], "f/2"))
        .resolvesOnce(page([], "f/2"));

      // Act
      const pages = await read();

      // Assess
      expect(idsOf(pages)).toEqual(["m1", "m2", "m3"]);
      expect(pages.map((p) => [p.slice, p.seq, p.next.token, p.next.read, p.next.done])).toEqual([
        [0, 0, "f/1", 2, false],
        [0, 2, "f/2", 3, false],
        [0, 3, "f/2", 3, true],
      ]);
      expect(sentTokens()).toEqual([undefined, "f/1", "f/2"]);
      expect(requests()[0]).toMatchObject({
        logGroupName: SOURCE.logGroupName,
        logStreamName: SOURCE.logStreamName,
        startFromHead: true,
        startTime: START,
        endTime: END,
      });
    });

    it("follows empty pages that carry a new token to the events behind them", async () => {
      // Prepare
      const { cwl, read, sentTokens } = setup();
      cwl
        .on(GetLogEventsCommand)
        .resolvesOnce(page([], "f/empty1"))
        .resolvesOnce(page([], "f/empty2"))
        .resolvesOnce(page(["m1"], "f/1"))
        .resolvesOnce(page([], "f/1"));

      // Act
      const pages = await read();

      // Assess
      expect(idsOf(pages)).toEqual(["m1"]);
      expect(sentTokens()).toEqual([undefined, "f/empty1", "f/empty2", "f/1"]);
      expect(pages.map((p) => p.next.done)).toEqual([false, false, false, true]);
      expect(pages.at(-1)?.next).toMatchObject({ token: "f/1", read: 1, done: true });
    });

    it("ends an empty log once the token repeats, without looping", async () => {
      // Prepare
      const { cwl, read, sentTokens } = setup();
      cwl.on(GetLogEventsCommand).resolves(page([], "f/end"));

      // Act
      const pages = await read();

      // Assess
      expect(idsOf(pages)).toEqual([]);
      expect(sentTokens()).toEqual([undefined, "f/end"]);
      expect(pages.at(-1)?.next).toEqual({
        start: START,
        end: END,
        token: "f/end",
        read: 0,
        done: true,
        rank: 0,
      });
    });

    it("passes a full 1 MB page whole and follows its token", async () => {
      // Prepare: as many real-shaped records as fit in the service's 1 MB page (26 bytes overhead per event)
      const { cwl, read, sentTokens } = setup();
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

      // Act: a slice that ends soon after its records, so none is worth splitting
      const pages = await read([slice({ end: START + 15_000 })]);

      // Assess
      expect(pages[0]?.records).toHaveLength(ids.length);
      expect(idsOf(pages)).toEqual([...ids, "after"]);
      expect(pages[1]?.seq).toBe(ids.length);
      expect(sentTokens()).toEqual([undefined, "f/full", "f/after"]);
    });

    it("passes a page at the 10,000-event cap whole and follows its token", async () => {
      // Prepare
      const { cwl, read, sentTokens } = setup();
      const ids = Array.from({ length: 10_000 }, (_, i) => `id${i}`);
      cwl
        .on(GetLogEventsCommand)
        .resolvesOnce(page(ids, "f/full"))
        .resolvesOnce(page(["after"], "f/after"))
        .resolvesOnce(page([], "f/after"));

      // Act: a slice that ends soon after its records, so none is worth splitting
      const pages = await read([slice({ end: START + 15_000 })]);

      // Assess
      expect(pages.map((p) => p.records.length)).toEqual([10_000, 1, 0]);
      expect(pages.at(-1)?.next.read).toBe(10_001);
      expect(sentTokens()).toEqual([undefined, "f/full", "f/after"]);
    });

    it("resumes a checkpointed slice after its token, with the slice's bounds and its count of records read", async () => {
      // Prepare
      const { cwl, read, sentTokens, requests } = setup({ pageLimit: 500 });
      cwl
        .on(GetLogEventsCommand)
        .resolvesOnce(page(["m9"], "f/9"))
        .resolvesOnce(page([], "f/9"));

      // Act
      const pages = await read([slice({ token: "f/8", read: 8 })]);

      // Assess
      expect(idsOf(pages)).toEqual(["m9"]);
      expect(pages.map((p) => p.seq)).toEqual([8, 9]);
      expect(pages.at(-1)?.next).toMatchObject({ token: "f/9", read: 9, done: true });
      expect(sentTokens()).toEqual(["f/8", "f/9"]);
      for (const input of requests()) {
        expect(input).toMatchObject({ startTime: START, endTime: END, startFromHead: true, limit: 500 });
      }
    });

    it("reads nothing for slices already done", async () => {
      // Prepare
      const { cwl, read } = setup();

      // Act
      const pages = await read([slice({ token: "f/9", read: 9, done: true })]);

      // Assess
      expect(pages).toEqual([]);
      expect(cwl.calls()).toHaveLength(0);
    });

    it("drops records outside the slice's [start, end), as AWS does and moto (inclusive endTime) does not", async () => {
      // Prepare
      const { cwl, read } = setup();
      const bounds = slice({ start: START + 1000, end: START + 2000 });
      cwl
        .on(GetLogEventsCommand)
        .resolvesOnce({
          $metadata: {},
          events: [
            event("before-start", START + 999),
            event("at-start", START + 1000),
            event("last-inside", START + 1999),
            event("at-end", START + 2000),
            event("after-end", START + 2001),
          ],
          nextForwardToken: "f/1",
        })
        .resolvesOnce(page([], "f/1"));

      // Act
      const pages = await read([bounds]);

      // Assess
      expect(idsOf(pages)).toEqual(["at-start", "last-inside"]);
      expect(pages.at(-1)?.next.read).toBe(2);
    });

    it("fails with ChatLogReadError instead of looping when the service returns no token", async () => {
      // Prepare
      const { cwl, read } = setup();
      cwl.on(GetLogEventsCommand).resolves(page(["m1"], undefined));

      // Act
      const error = await read().catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ChatLogReadError);
      expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(1);
    });

    it("stops with a permanent ChatLogReadError when a token comes back that the slice was given before", async () => {
      // Prepare: t1 -> t2 -> t1 would loop for ever
      const { cwl, read, sentTokens } = setup();
      cwl
        .on(GetLogEventsCommand)
        .resolvesOnce(page(["m1"], "t1"))
        .resolvesOnce(page(["m2"], "t2"))
        .resolvesOnce(page(["m1"], "t1"));

      // Act
      const error = await read().catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ChatLogReadError);
      expect((error as ChatLogReadError).permanent).toBe(true);
      expect((error as Error).message).toContain("token cycle");
      expect(sentTokens()).toEqual([undefined, "t1", "t2"]);
    });

    it("reads no more than readAhead pages ahead of a consumer that stops", async () => {
      // Prepare: a log that never ends
      const { cwl, chatLog } = setup({ readAhead: 2 });
      let n = 0;
      cwl.on(GetLogEventsCommand).callsFake(() => {
        n++;
        return page([`m${n}`], `f/${n}`);
      });
      const pages = chatLog.read(SOURCE, [slice()])[Symbol.asyncIterator]();

      // Act
      const first = await pages.next();
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      const requestedWhileHeld = cwl.commandCalls(GetLogEventsCommand).length;
      await pages.return?.();
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));

      // Assess
      expect(first.value?.records.map(idOf)).toEqual(["m1"]);
      expect(requestedWhileHeld).toBe(3);
      expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(3);
    });
  });

  describe("winding down", () => {
    it("asks for no page once winding down, and delivers every page already asked for", async () => {
      // Prepare: three slices of a log that never ends
      const { cwl, chatLog } = setup({ readAhead: 2 });
      let n = 0;
      cwl.on(GetLogEventsCommand).callsFake((input: GetLogEventsCommandInput) => {
        n++;
        return page([`m${n}`], `f/${n}`, (input.startTime as number) + n);
      });
      const slices = planSlices(START, START + 3 * 60_000, 3);

      // Act: out of time as soon as the first page is taken
      let winding = false;
      const pages: ChatPage[] = [];
      for await (const p of chatLog.read(SOURCE, slices, { windDown: () => winding })) {
        pages.push(p);
        winding = true;
      }

      // Assess: every request made came back as a page; each slice's pages follow their tokens
      expect(pages.length).toBeGreaterThan(1);
      expect(pages).toHaveLength(cwl.commandCalls(GetLogEventsCommand).length);
      expect(idsOf(pages).sort()).toEqual(pages.map((_, i) => `m${i + 1}`).sort());
      for (const [i] of slices.entries()) {
        const own = pages.filter((p) => p.slice === i);
        expect(own.map((p) => p.seq)).toEqual(own.map((_, k) => k));
      }
    });

    it("does not send a request whose turn under the rate limit comes after the read winds down", async () => {
      // Prepare: one request a second, so the second waits its turn; the read winds down meanwhile
      const { cwl, time } = setup();
      cwl
        .on(GetLogEventsCommand)
        .resolvesOnce(page(["m1"], "f/1"))
        .resolves(page(["m2"], "f/2"));
      let winding = false;
      const reader = new CloudWatchChatLog({
        client: cwl as never,
        readTps: 1,
        now: time.now,
        sleep: async (ms) => {
          winding = true;
          await time.sleep(ms);
        },
      });

      // Act
      const pages: ChatPage[] = [];
      for await (const p of reader.read(SOURCE, [slice()], { windDown: () => winding })) pages.push(p);

      // Assess
      expect(idsOf(pages)).toEqual(["m1"]);
      expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(1);
      expect(time.sleeps).toEqual([1000]);
    });

    it("leaves a page throttled while winding down to the next run: no backoff, no failure on a spent budget", async () => {
      // Prepare: the second request is throttled, and the read is winding down by then
      const { cwl, time } = setup();
      let winding = false;
      cwl
        .on(GetLogEventsCommand)
        .resolvesOnce(page(["m1"], "f/1"))
        .callsFake(() => {
          winding = true;
          throw throttling();
        });
      const reader = new CloudWatchChatLog({
        client: cwl as never,
        now: time.now,
        sleep: time.sleep,
        random: () => 0.5,
        retryBudgetMs: 1,
      });

      // Act
      const pages: ChatPage[] = [];
      for await (const p of reader.read(SOURCE, [slice()], { windDown: () => winding })) pages.push(p);

      // Assess
      expect(idsOf(pages)).toEqual(["m1"]);
      expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(2);
      expect(time.sleeps).toEqual([]);
    });

    it("gives up a request still waiting out a throttle: it would be read for nothing", async () => {
      // Prepare: the second request is throttled, and the read winds down while it waits
      const { cwl, time } = setup();
      let winding = false;
      const original = time.sleep;
      cwl
        .on(GetLogEventsCommand)
        .resolvesOnce(page(["m1"], "f/1"))
        .rejectsOnce(throttling())
        .resolves(page(["m2"], "f/2"));
      const reader = new CloudWatchChatLog({
        client: cwl as never,
        now: time.now,
        sleep: async (ms) => {
          winding = true;
          await original(ms);
        },
        random: () => 0.5,
      });

      // Act
      const pages: ChatPage[] = [];
      for await (const p of reader.read(SOURCE, [slice()], { windDown: () => winding })) pages.push(p);

      // Assess
      expect(idsOf(pages)).toEqual(["m1"]);
      expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(2);
    });
  });

  describe("reading several slices", () => {
    it("returns the pages of every slice, each slice's in log order with seq counting its records", async () => {
      // Prepare: six slices of 100 s, five records in each, read two at a time
      const end = START + 10 * 60_000;
      const slices = planSlices(START, end, 6);
      const events = Array.from({ length: 30 }, (_, i) =>
        event(`m${String(i).padStart(2, "0")}`, START + i * 20_000),
      );
      const { cwl, read, requests } = setup({ readTps: 4, pageLimit: 2 });
      cwl.on(GetLogEventsCommand).callsFake(logService(events));

      // Act
      const pages = await read(slices);

      // Assess
      expect(slices).toHaveLength(6);
      expect(idsOf(pages).sort()).toEqual(events.map((e) => idOf(e.message ?? "")));
      for (const [index, bounds] of slices.entries()) {
        const own = bySlice(pages, index);
        const expected = events.filter(
          ({ timestamp = 0 }) => timestamp >= bounds.start && timestamp < bounds.end,
        );
        expect(idsOf(own)).toEqual(expected.map((e) => idOf(e.message ?? "")));
        // A slice ends on the page that passes its end; only the range's last one needs the same token back.
        const last = index === slices.length - 1;
        expect(own.map((p) => p.seq)).toEqual(last ? [0, 2, 4, 5] : [0, 2, 4]);
        expect(own.at(-1)?.next).toMatchObject({ start: bounds.start, end: bounds.end, read: 5, done: true });
      }
      const firstRound = requests().slice(0, slices.length);
      expect(new Set(firstRound.map((input) => input.startTime)).size).toBe(slices.length);
      expect(new Set(requests().map((input) => input.endTime))).toEqual(new Set([end]));
    });

    it("spaces the requests of all slices together at readTps, after a first burst of 80% of a second's worth", async () => {
      // Prepare
      const slices = planSlices(START, START + 10 * 60_000, 6);
      const events = Array.from({ length: 30 }, (_, i) => event(`m${i}`, START + i * 20_000));
      const { cwl, read, time } = setup({ readTps: 4, pageLimit: 2 });
      cwl.on(GetLogEventsCommand).callsFake(logService(events));

      // Act
      await read(slices);

      // Assess
      const requestCount = cwl.commandCalls(GetLogEventsCommand).length;
      const slept = time.sleeps.reduce((sum, ms) => sum + ms, 0);
      expect(requestCount).toBe(5 * 3 + 4); // three pages a slice, and the same token back for the last
      const burst = Math.floor(0.8 * 4);
      expect(slept).toBeCloseTo(((requestCount - burst) * 1000) / 4, 0);
    });

    it("fails the whole read when one slice fails", async () => {
      // Prepare
      const { cwl, read } = setup();
      const invalid = new InvalidParameterException({
        message: "bad token",
        $metadata: { httpStatusCode: 400 },
      });
      cwl.on(GetLogEventsCommand).resolves(page([], "f/end"));
      cwl.on(GetLogEventsCommand, { startTime: START + 60_000 }).rejects(invalid);

      // Act
      const error = await read([
        slice({ end: START + 60_000 }),
        slice({ start: START + 60_000, end: START + 120_000 }),
      ]).catch((e: unknown) => e);

      // Assess
      expect(error).toBe(invalid);
    });
  });

  describe("splitting a slice while it is read", () => {
    /** The slices as the archive keeps them from the pages it takes. */
    function slicesAfter(planned: SlicePosition[], pages: ChatPage[]): SlicePosition[] {
      const slices = [...planned];
      for (const p of pages) takePage(slices, p);
      return slices;
    }

    /** Why `slices` do not cover `[start, end)` once each, in time and rank order; undefined when they do. */
    function notTiling(slices: SlicePosition[], start: number, end: number): string | undefined {
      const sorted = [...slices].sort((a, b) => a.start - b.start);
      let at = start;
      for (const [i, s] of sorted.entries()) {
        if (s.start !== at) return `slice ${i} starts at ${s.start - START}, not ${at - START}`;
        if (i > 0 && s.rank <= (sorted[i - 1] as SlicePosition).rank)
          return `slice ${i} is ranked out of order`;
        at = s.end;
      }
      return at === end ? undefined : `the slices end at ${at - START}, not ${end - START}`;
    }

    /** Every record with its place in the log (the slice's rank, then its place in the slice), in that order. */
    function inLogOrder(pages: ChatPage[]): string[] {
      return pages
        .flatMap((p) => p.records.map((record, i) => ({ record, at: logPosition(p.next.rank, p.seq + i) })))
        .sort((a, b) => a.at - b.at)
        .map(({ record }) => idOf(record));
    }

    // Four slices of 2.5 minutes; the third holds the broadcast's peak, the others five records each.
    const end = START + 10 * 60_000;
    const planned = planSlices(START, end, 4);
    const quiet = (from: number) => Array.from({ length: 5 }, (_, i) => from + i * 20_000);
    const peak = Array.from({ length: 200 }, (_, i) => START + 300_000 + i * 750);
    const times = [...quiet(START), ...quiet(START + 150_000), ...peak, ...quiet(START + 450_000)];
    const events = times.map((at, i) => event(`m${String(i).padStart(3, "0")}`, at));

    /** The log service answering each request 400 ms after it is sent (longer than a turn at 4 TPS), after `turns` turns of the event loop. */
    function slowService(time: { advance(ms: number): void }, turns = 0) {
      const service = logService(events);
      return async (input: GetLogEventsCommandInput) => {
        for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
        time.advance(400);
        return service(input);
      };
    }

    it("splits the slice with the most left once the others are read, and reads every record once, in log order", async () => {
      // Prepare: one slice alone cannot keep 4 requests a second busy when each takes 400 ms
      const { cwl, read, time } = setup({ readTps: 4, pageLimit: 10 });
      cwl.on(GetLogEventsCommand).callsFake(slowService(time));

      // Act
      const pages = await read(planned);

      // Assess: new slices were announced, each by a page of no records, ranked between its neighbours
      const announced = pages.filter((p) => p.splitOf !== undefined);
      expect(announced.length).toBeGreaterThan(0);
      expect(announced.every((p) => p.records.length === 0 && p.seq === 0)).toBe(true);
      // Assess: together the slices still cover the range once, in time order and in rank order
      const slices = slicesAfter(planned, pages).sort((a, b) => a.start - b.start);
      expect(slices.length).toBe(planned.length + announced.length);
      expect(slices.every((s) => s.done)).toBe(true);
      expect(
        slices.every(
          (s, i) => i === 0 || (s.start === slices[i - 1]?.end && s.rank > (slices[i - 1]?.rank ?? 0)),
        ),
      ).toBe(true);
      expect(slices[0]?.start).toBe(START);
      expect(slices.at(-1)?.end).toBe(end);
      // Assess: each record read once, and log positions give the log's order
      expect(inLogOrder(pages)).toEqual(events.map((e) => idOf(e.message ?? "")));
      // Assess: only the peak's slice was split (and its parts again)
      const peakSlice = planned[2] as SlicePosition;
      expect(announced.every((p) => p.next.start > peakSlice.start && p.next.end <= peakSlice.end)).toBe(
        true,
      );
    });

    it("keeps a split slice's records before the split and leaves the rest to the new slice, whatever its pending page held", async () => {
      // Prepare: each answer comes after the others have had their turn, so splits happen while requests are out
      const { cwl, read, time } = setup({ readTps: 4, pageLimit: 10 });
      cwl.on(GetLogEventsCommand).callsFake(slowService(time, 3));

      // Act
      const pages = await read(planned);

      // Assess
      expect(pages.filter((p) => p.splitOf !== undefined).length).toBeGreaterThan(0);
      const slices = slicesAfter(planned, pages);
      for (const [index, bounds] of slices.entries()) {
        const own = bySlice(pages, index).flatMap((p) => p.records.map(idOf));
        const expected = events.filter(
          ({ timestamp = 0 }) => timestamp >= bounds.start && timestamp < bounds.end,
        );
        expect(own).toEqual(expected.map((e) => idOf(e.message ?? "")));
      }
      expect(inLogOrder(pages)).toEqual(events.map((e) => idOf(e.message ?? "")));
    });

    it("does not split past busyUntil, where the log holds little", async () => {
      // Prepare: the peak's slice reads on through the hour after the window
      const { cwl, chatLog, time } = setup({ readTps: 4, pageLimit: 10 });
      cwl.on(GetLogEventsCommand).callsFake(slowService(time));
      const slices = planSlices(START, end + 3_600_000, 4, end);

      // Act
      const pages: ChatPage[] = [];
      for await (const p of chatLog.read(SOURCE, slices, { busyUntil: START + 300_000 })) pages.push(p);

      // Assess: nothing is left before busyUntil once the peak is reached
      expect(pages.filter((p) => p.splitOf !== undefined)).toEqual([]);
      expect(idsOf(pages).sort()).toEqual(events.map((e) => idOf(e.message ?? "")));
    });
    it("keeps the slices covering the range once after every page, each record read once in log order, whatever the timing", async () => {
      // Prepare: a peak with ties (four records a millisecond); answers and the consumer take a
      // random number of turns of the event loop, so splits fall between a page's answer and its delivery
      const tied = Array.from({ length: 400 }, (_, i) => START + 300_000 + Math.floor(i / 4) * 1500);
      const all = [...quiet(START), ...quiet(START + 150_000), ...tied, ...quiet(START + 450_000)];
      const log = all.map((at, i) => event(`t${String(i).padStart(3, "0")}`, at));
      const problems: string[] = [];
      for (let seed = 1; seed <= 60; seed++) {
        const random = mulberry32(seed);
        const turns = async (most: number) => {
          for (let i = Math.floor(random() * most); i > 0; i--) await new Promise((r) => setImmediate(r));
        };
        const { cwl, chatLog, time } = setup({
          readTps: 4,
          pageLimit: 10,
          readAhead: 1 + Math.floor(random() * 3),
        });
        const service = logService(log);
        cwl.on(GetLogEventsCommand).callsFake(async (input: GetLogEventsCommandInput) => {
          await turns(6);
          time.advance(400);
          return service(input);
        });

        // Act
        const slices = [...planned];
        const pages: ChatPage[] = [];
        for await (const p of chatLog.read(SOURCE, planned)) {
          pages.push(p);
          takePage(slices, p);
          const why = notTiling(slices, START, end);
          if (why !== undefined) problems.push(`seed ${seed}, page ${pages.length}: ${why}`);
          await turns(3);
        }
        if (inLogOrder(pages).join() !== log.map((e) => idOf(e.message ?? "")).join()) {
          problems.push(`seed ${seed}: the records in log order differ`);
        }
      }

      // Assess
      expect(problems).toEqual([]);
    });

    it("costs few requests more on a sparse log after a peak: a new slice earns its own estimate", async () => {
      // Prepare: one slice of an hour; a peak of 200 records in its first 20 s, then 5 over the hour
      const peakThenQuiet = [
        ...Array.from({ length: 200 }, (_, i) => event(`p${i}`, START + i * 100)),
        ...Array.from({ length: 5 }, (_, i) => event(`q${i}`, START + 60_000 + i * 700_000)),
      ];
      const count = async (busyUntil: number) => {
        const { cwl, chatLog, time } = setup({ readTps: 8, pageLimit: 10 });
        const service = logService(peakThenQuiet);
        cwl.on(GetLogEventsCommand).callsFake(async (input: GetLogEventsCommandInput) => {
          time.advance(400);
          return service(input);
        });
        const pages: ChatPage[] = [];
        for await (const p of chatLog.read(SOURCE, [slice()], { busyUntil })) pages.push(p);
        expect(idsOf(pages).sort()).toEqual(peakThenQuiet.map((e) => idOf(e.message ?? "")).sort());
        return cwl.commandCalls(GetLogEventsCommand).length;
      };

      // Act: with splitting, and without (nothing is left before busyUntil = START)
      const split = await count(END);
      const whole = await count(START);

      // Assess
      expect(whole).toBe(22);
      expect(split).toBeLessThanOrEqual(whole + 5);
    });

    it("reads up to two slices a request a second while answers are too slow for the planned ones", async () => {
      // Prepare: an even chat over four slices at 4 requests a second; each answer takes 3 s
      const even = Array.from({ length: 400 }, (_, i) =>
        event(`e${String(i).padStart(3, "0")}`, START + i * 1500),
      );
      const { cwl, chatLog, time } = setup({ readTps: 4, pageLimit: 10 });
      const service = logService(even);
      cwl.on(GetLogEventsCommand).callsFake(async (input: GetLogEventsCommandInput) => {
        time.advance(3000);
        return service(input);
      });

      // Act
      const slices = [...planned];
      let most = 0;
      const pages: ChatPage[] = [];
      for await (const p of chatLog.read(SOURCE, planned)) {
        pages.push(p);
        takePage(slices, p);
        most = Math.max(most, slices.filter((s) => !s.done).length);
      }

      // Assess
      expect(most).toBeGreaterThan(4);
      expect(most).toBeLessThanOrEqual(8);
      expect(inLogOrder(pages)).toEqual(even.map((e) => idOf(e.message ?? "")));
    });

    it("does not split a slice alone that keeps the rate busy (requests wait their turn)", async () => {
      // Prepare: answers at once, so one slice asks as fast as the rate allows; a turn's wait ends on a later turn of the loop
      const client = createCloudWatchLogsClient({ region: "us-east-1" });
      const cwl = mockClient(client);
      let clock = START;
      const chatLog = new CloudWatchChatLog({
        client,
        now: () => clock,
        sleep: (ms) => {
          clock += ms;
          return new Promise((resolve) => setImmediate(resolve));
        },
        random: () => 0.5,
        readTps: 4,
        pageLimit: 10,
      });
      cwl.on(GetLogEventsCommand).callsFake(logService(events));

      // Act
      const pages: ChatPage[] = [];
      for await (const p of chatLog.read(SOURCE, [slice({ end })])) pages.push(p);

      // Assess
      expect(pages.filter((p) => p.splitOf !== undefined)).toEqual([]);
      expect(idsOf(pages)).toEqual(events.map((e) => idOf(e.message ?? "")));
    });

    it("does not split a slice whose rank has no room after it", async () => {
      // Prepare: the peak's slice is ranked 0 and the next one 1
      const { cwl, read, time } = setup({ readTps: 4, pageLimit: 10 });
      cwl.on(GetLogEventsCommand).callsFake(slowService(time));
      const cramped = [
        { ...slice({ end: START + 450_000 }), rank: 0 },
        { ...slice({ start: START + 450_000, end }), rank: 1 },
      ];

      // Act
      const pages = await read(cramped);

      // Assess
      expect(pages.filter((p) => p.splitOf !== undefined)).toEqual([]);
      expect(inLogOrder(pages)).toEqual(events.map((e) => idOf(e.message ?? "")));
    });

    it("splits the time left before busyUntil, leaving what follows it with the new slice", async () => {
      // Prepare: the peak lies in the last slice, which reads on through the hour after the window
      const late = [...quiet(START), ...Array.from({ length: 200 }, (_, i) => START + 450_000 + i * 600)];
      const log = late.map((at, i) => event(`l${String(i).padStart(3, "0")}`, at));
      const { cwl, chatLog, time } = setup({ readTps: 4, pageLimit: 10 });
      const service = logService(log);
      cwl.on(GetLogEventsCommand).callsFake(async (input: GetLogEventsCommandInput) => {
        time.advance(400);
        return service(input);
      });
      const slices = planSlices(START, end + 3_600_000, 4, end);

      // Act
      const pages: ChatPage[] = [];
      for await (const p of chatLog.read(SOURCE, slices, { busyUntil: end })) pages.push(p);

      // Assess: every split falls within the window; the last new slice reads on to the range's end
      const announced = pages.filter((p) => p.splitOf !== undefined);
      expect(announced.length).toBeGreaterThan(0);
      expect(announced.every((p) => p.next.start < end)).toBe(true);
      expect(notTiling(slicesAfter(slices, pages), START, end + 3_600_000)).toBeUndefined();
      expect(inLogOrder(pages)).toEqual(log.map((e) => idOf(e.message ?? "")));
    });
  });

  describe("retrying", () => {
    it("rides out a burst of throttling in its own loop alone: N throttled answers cost N + 1 requests", async () => {
      // Prepare
      const throttles = 6;
      const { cwl, read, sentTokens } = setup();
      const answers = cwl.on(GetLogEventsCommand);
      for (let i = 0; i < throttles; i++) answers.rejectsOnce(throttling());
      answers.resolvesOnce(page(["m1"], "f/1")).resolvesOnce(page([], "f/1"));

      // Act
      const pages = await read();

      // Assess
      expect(idsOf(pages)).toEqual(["m1"]);
      expect(pages.map((p) => p.retries)).toEqual([throttles, 0]);
      expect(sentTokens().filter((token) => token === undefined)).toHaveLength(throttles + 1);
      expect(cwl.calls()).toHaveLength(throttles + 2);
    });

    it("waits full-jitter delays under a ceiling that doubles from 200 ms", async () => {
      // Prepare: each request takes one rate interval, so only backoff sleeps
      const { cwl, read, time } = setup({ readTps: 8 });
      const answers = [
        throttling(),
        throttling(),
        throttling(),
        page(["m1"], "f/1"),
        throttling(),
        page([], "f/1"),
      ];
      cwl.on(GetLogEventsCommand).callsFake(() => {
        time.advance(125);
        const answer = answers.shift();
        if (answer instanceof Error) throw answer;
        return answer;
      });

      // Act
      const pages = await read();

      // Assess
      expect(idsOf(pages)).toEqual(["m1"]);
      expect(time.sleeps).toEqual([100, 200, 400, 100]);
    });

    it("retries unavailable services, 5xx answers, timeouts and dropped connections like throttling", async () => {
      // Prepare
      const { cwl, read } = setup();
      const serverError = new CloudWatchLogsServiceException({
        name: "InternalFailure",
        $fault: "server",
        $metadata: { httpStatusCode: 502 },
        message: "Bad Gateway",
      });
      const timeout = Object.assign(new Error("request timed out"), { name: "TimeoutError" });
      const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      cwl
        .on(GetLogEventsCommand)
        .rejectsOnce(
          new ServiceUnavailableException({ message: "try later", $metadata: { httpStatusCode: 503 } }),
        )
        .rejectsOnce(serverError)
        .rejectsOnce(timeout)
        .rejectsOnce(reset)
        .resolvesOnce(page(["m1"], "f/1"))
        .resolvesOnce(page([], "f/1"));

      // Act
      const pages = await read();

      // Assess
      expect(idsOf(pages)).toEqual(["m1"]);
      expect(cwl.commandCalls(GetLogEventsCommand)).toHaveLength(6);
    });

    it("gives up with a transient ChatLogReadError naming its attempts once the retry budget is spent", async () => {
      // Prepare
      const { cwl, read, time } = setup({ retryBudgetMs: 2000 });
      const throttled = throttling();
      cwl.on(GetLogEventsCommand).callsFake(() => {
        time.advance(125);
        throw throttled;
      });

      // Act
      const error = await read().catch((e: unknown) => e);

      // Assess
      const attempts = cwl.commandCalls(GetLogEventsCommand).length;
      expect(error).toBeInstanceOf(ChatLogReadError);
      expect((error as ChatLogReadError).permanent).toBe(false);
      expect((error as ChatLogReadError).cause).toBe(throttled);
      expect((error as Error).message).toContain(`after ${attempts} attempts`);
      expect((error as Error).message).toMatch(/: ThrottlingException: Rate exceeded$/);
      expect(attempts).toBeGreaterThan(1);
      expect(time.sleeps.reduce((sum, ms) => sum + ms, 0)).toBeLessThanOrEqual(2000);
    });

    it("keeps retrying for five minutes by default, never waiting more than 20 s at a time", async () => {
      // Prepare
      const { cwl, read, time } = setup({ random: () => 0.999 });
      cwl.on(GetLogEventsCommand).rejects(throttling());

      // Act
      const error = await read().catch((e: unknown) => e);

      // Assess
      const slept = time.sleeps.reduce((sum, ms) => sum + ms, 0);
      expect(error).toBeInstanceOf(ChatLogReadError);
      expect(Math.max(...time.sleeps)).toBe(19_980);
      expect(slept).toBeGreaterThan(4 * 60_000);
      expect(slept).toBeLessThanOrEqual(5 * 60_000);
    });

    it("gives up on an endpoint nobody listens on within a minute, saying what the connection met", async () => {
      // Prepare
      const { cwl, read, time } = setup({ random: () => 0.999 });
      const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:4566"), {
        code: "ECONNREFUSED",
      });
      cwl.on(GetLogEventsCommand).rejects(refused);

      // Act
      const error = await read().catch((e: unknown) => e);

      // Assess
      const slept = time.sleeps.reduce((sum, ms) => sum + ms, 0);
      expect(error).toBeInstanceOf(ChatLogReadError);
      expect((error as ChatLogReadError).permanent).toBe(false);
      expect((error as Error).message).toMatch(/attempts in \d+ s: connect ECONNREFUSED 127\.0\.0\.1:4566$/);
      expect(slept).toBeGreaterThan(30_000);
      expect(slept).toBeLessThanOrEqual(60_000);
    });

    it("counts the minute for an unreachable endpoint from when it stopped answering, not from the first throttle", async () => {
      // Prepare: 2 minutes of throttling, then the endpoint goes away
      const { cwl, read, time } = setup({ random: () => 0.999 });
      const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:4566"), {
        code: "ECONNREFUSED",
      });
      let refusedFrom: number | undefined;
      cwl.on(GetLogEventsCommand).callsFake(() => {
        if (time.now() - START < 120_000) throw throttling();
        refusedFrom ??= time.now();
        throw refused;
      });

      // Act
      const error = await read().catch((e: unknown) => e);

      // Assess: a minute of refusals at most, and more than one attempt at them
      expect((error as Error).message).toContain("ECONNREFUSED");
      expect(refusedFrom).toBeDefined();
      expect(time.now() - (refusedFrom as number)).toBeGreaterThan(20_000);
      expect(time.now() - (refusedFrom as number)).toBeLessThanOrEqual(60_000);
    });

    it("rethrows any other error unchanged and without retrying", async () => {
      // Prepare
      const { cwl, read, time } = setup();
      const invalid = new InvalidParameterException({
        message: "The specified nextToken is invalid.",
        $metadata: { httpStatusCode: 400 },
      });
      cwl.on(GetLogEventsCommand).rejects(invalid);

      // Act
      const error = await read([slice({ token: "f/expired" })]).catch((e: unknown) => e);

      // Assess
      expect(error).toBe(invalid);
      expect(time.sleeps).toEqual([]);
      expect(cwl.calls()).toHaveLength(1);
    });
  });

  describe("a log it may not read", () => {
    it("fails at once with a permanent ChatLogReadError naming the log group, without retrying", async () => {
      // Prepare
      const { cwl, read, time } = setup();
      const denied = Object.assign(new Error("User is not authorized to perform: logs:GetLogEvents"), {
        name: "AccessDeniedException",
        $metadata: { httpStatusCode: 400 },
      });
      cwl.on(GetLogEventsCommand).rejects(denied);

      // Act
      const error = await read().catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ChatLogReadError);
      expect((error as ChatLogReadError).permanent).toBe(true);
      expect((error as ChatLogReadError).cause).toBe(denied);
      expect((error as Error).message).toContain(SOURCE.logGroupName);
      expect(time.sleeps).toEqual([]);
      expect(cwl.calls()).toHaveLength(1);
    });
  });

  describe("a missing log", () => {
    it("reads the slice as done and empty when the group exists but the room's stream does not, without parsing error texts", async () => {
      // Prepare: moto words this error as if the group were missing.
      const { cwl, read } = setup();
      cwl.on(GetLogEventsCommand).rejects(
        new ResourceNotFoundException({
          message: "The specified log group does not exist.",
          $metadata: {},
        }),
      );
      cwl.on(DescribeLogStreamsCommand).resolves({ logStreams: [] });

      // Act
      const pages = await read([slice({ read: 3 })]);

      // Assess
      expect(pages).toEqual([
        { slice: 0, seq: 3, records: [], next: slice({ read: 3, done: true }), retries: 0 },
      ]);
      expect(cwl.commandCalls(DescribeLogStreamsCommand)[0]?.args[0].input).toMatchObject({
        logGroupName: SOURCE.logGroupName,
        logStreamNamePrefix: SOURCE.logStreamName,
      });
    });

    it("maps a missing log group to a permanent ChatNotFoundError with the SDK error as cause", async () => {
      // Prepare
      const { cwl, read } = setup();
      const missing = new ResourceNotFoundException({
        message: "The specified log group does not exist.",
        $metadata: { httpStatusCode: 400 },
      });
      cwl.on(GetLogEventsCommand).rejects(missing);
      cwl.on(DescribeLogStreamsCommand).rejects(missing);

      // Act
      const error = await read().catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ChatNotFoundError);
      expect((error as ChatNotFoundError).permanent).toBe(true);
      expect((error as ChatNotFoundError).cause).toBe(missing);
      expect((error as Error).message).toContain(SOURCE.logGroupName);
    });
  });
});

describe("RateLimiter", () => {
  it("is busy while the requests of the last second come to 90% of its rate or more, and in its first second", async () => {
    // Prepare: 4 a second; a clock that only the test moves
    let clock = START;
    const limiter = new RateLimiter(
      4,
      () => clock,
      async () => undefined,
    );

    // Act / Assess: the first second is not judged
    await limiter.take();
    expect(limiter.busy()).toBe(true);
    // One request in the last second: slower than the rate
    clock += 1000;
    await limiter.take();
    expect(limiter.busy()).toBe(false);
    // Three more asked at once (booked 250 ms apart): the rate is used in full
    await Promise.all([limiter.take(), limiter.take(), limiter.take()]);
    expect(limiter.busy()).toBe(true);
    // A second later with none asked: idle
    clock += 2000;
    expect(limiter.busy()).toBe(false);
  });

  it("lets the first request through at once and spaces the rest 1/perSecond apart", async () => {
    // Prepare
    const time = fakeTime();
    const limiter = new RateLimiter(5, time.now, time.sleep);

    // Act
    await Promise.all([limiter.take(), limiter.take(), limiter.take(), limiter.take()]);

    // Assess
    expect(time.sleeps).toEqual([200, 200, 200]);
  });

  it("lets a burst through at once, then spaces the rest, and allows the burst again after a pause", async () => {
    // Prepare: 5 a second, bursts of 3
    const time = fakeTime();
    const limiter = new RateLimiter(5, time.now, time.sleep, 3);
    const takes = (n: number) => Promise.all(Array.from({ length: n }, () => limiter.take()));

    // Act
    await takes(6);
    const afterFirst = [...time.sleeps];
    time.advance(5_000);
    await takes(3);
    const afterPause = [...time.sleeps];
    await takes(1);

    // Assess
    expect(afterFirst).toEqual([200, 200, 200]);
    expect(afterPause).toEqual(afterFirst);
    expect(time.sleeps).toEqual([...afterFirst, 200]);
  });
});

describe("createCloudWatchLogsClient", () => {
  it("builds a client that does not retry and lets callers set the rest", async () => {
    // Act
    const client = createCloudWatchLogsClient({ region: "eu-west-1" });

    // Assess
    expect(await client.config.maxAttempts()).toBe(1);
    expect(await client.config.region()).toBe("eu-west-1");
  });

  it("sends N + 1 HTTP requests and waits N times for a page throttled N times: one retry layer", async () => {
    // Prepare: each request takes one rate interval, so every wait is a backoff
    const throttles = 4;
    const time = fakeTime();
    const { client, sent } = overHttp((nextToken, count) => {
      time.advance(125);
      if (count <= throttles)
        return { status: 400, body: { __type: "ThrottlingException", message: "Rate exceeded" } };
      const events = nextToken === undefined ? [event("m1", START + 1)] : [];
      return { status: 200, body: { events, nextForwardToken: "f/1", nextBackwardToken: "b/0" } };
    });
    const chatLog = new CloudWatchChatLog({ client, now: time.now, sleep: time.sleep, random: () => 0.5 });

    // Act
    const pages: ChatPage[] = [];
    for await (const p of chatLog.read(SOURCE, [slice()])) pages.push(p);

    // Assess
    expect(idsOf(pages)).toEqual(["m1"]);
    expect(sent).toEqual([...Array.from({ length: throttles + 1 }, () => undefined), "f/1"]);
    expect(time.sleeps).toHaveLength(throttles);
  });

  it("sends exactly as many HTTP requests as the reader's error names attempts when throttling outlasts the budget", async () => {
    // Prepare
    const time = fakeTime();
    const { client, sent } = overHttp(() => {
      time.advance(125);
      return { status: 400, body: { __type: "ThrottlingException", message: "Rate exceeded" } };
    });
    const chatLog = new CloudWatchChatLog({
      client,
      now: time.now,
      sleep: time.sleep,
      random: () => 0.5,
      retryBudgetMs: 5000,
    });

    // Act
    const error = await (async () => {
      for await (const _ of chatLog.read(SOURCE, [slice()])) {
        // a throttled log yields no page
      }
    })().catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ChatLogReadError);
    expect((error as Error).message).toContain(`after ${sent.length} attempts`);
  });
});
