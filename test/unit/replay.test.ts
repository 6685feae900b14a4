import { describe, expect, it } from "vitest";
import { buildReplay, parseInstant, type ReplayOptions, replayFiles } from "../../src/replay";

interface MessageInput {
  id: string;
  at?: string;
  sendTime?: string;
  content?: string;
  username?: string;
}

function message({
  id,
  at = "2024-01-05T14:33:32.894Z",
  sendTime,
  content = "hi",
  username = "u",
}: MessageInput) {
  return JSON.stringify({
    event_timestamp: at,
    type: "MESSAGE",
    version: "1.0",
    payload: {
      Type: "MESSAGE",
      Id: id,
      RequestId: "",
      Attributes: { username },
      Content: content,
      SendTime: sendTime ?? `${at.slice(0, -1)}089757Z`,
      Sender: { UserId: `user-${username}`, Attributes: {} },
    },
  });
}

function event(
  id: string,
  name: string,
  attributes: Record<string, string>,
  at = "2024-01-05T14:33:33.000Z",
) {
  return JSON.stringify({
    event_timestamp: at,
    type: "EVENT",
    version: "1.0",
    payload: {
      Type: "EVENT",
      Id: id,
      EventName: name,
      Attributes: attributes,
      SendTime: `${at.slice(0, -1)}000001Z`,
    },
  });
}

const UNBOUNDED: ReplayOptions = { window: { start: null, end: null }, offsetBase: null };

function window(start: string | null, end: string | null, base: string | null = null): ReplayOptions {
  const instant = (text: string | null) => (text === null ? null : (parseInstant(text) ?? null));
  return { window: { start: instant(start), end: instant(end) }, offsetBase: instant(base) };
}

async function replayOf(lines: string[], options: ReplayOptions = UNBOUNDED) {
  const replay = await buildReplay(lines, options);
  const text = await replay.text();
  return { replay, text, json: JSON.parse(text) };
}

describe("rule 1: records that cannot be used are skipped and counted", () => {
  it.each([
    ["text that is not JSON", "not json at all"],
    ["JSON null", "null"],
    ["a JSON array", "[1,2,3]"],
    ["a JSON number", "42"],
    ["a JSON string", '"MESSAGE"'],
    ["an unknown type", JSON.stringify({ ...JSON.parse(message({ id: "a" })), type: "PRESENCE" })],
    ["a missing payload", JSON.stringify({ event_timestamp: "2024-01-05T14:33:32.894Z", type: "MESSAGE" })],
    [
      "a null payload",
      JSON.stringify({ event_timestamp: "2024-01-05T14:33:32.894Z", type: "MESSAGE", payload: null }),
    ],
    ["a payload without Id", message({ id: "" })],
    [
      "an unparseable event_timestamp",
      message({ id: "a", at: "yesterdayZ", sendTime: "2024-01-05T14:33:32.894Z" }),
    ],
    ["an impossible date", message({ id: "a", at: "2024-02-30T14:33:32.894Z" })],
    [
      "a timestamp without zone",
      message({ id: "a", at: "2024-01-05T14:33:32.894", sendTime: "2024-01-05T14:33:32Z" }),
    ],
    ["an unparseable SendTime", message({ id: "a", sendTime: "2024-01-05 at noon" })],
  ])("skips %s", async (_, line) => {
    const { json } = await replayOf([line, message({ id: "kept" })]);

    expect(json.counts).toMatchObject({ records: 2, skipped: 1, messages: 1 });
    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(["kept"]);
  });

  it("does not count blank or whitespace-only lines as records", async () => {
    const { json } = await replayOf(["", "   ", "\t\r", message({ id: "a" })]);

    expect(json.counts).toMatchObject({ records: 1, skipped: 0, messages: 1 });
  });

  it("skips a record whose Id is not a string", async () => {
    const record = JSON.parse(message({ id: "a" }));
    record.payload.Id = 12;

    const { json } = await replayOf([JSON.stringify(record)]);

    expect(json.counts).toMatchObject({ records: 1, skipped: 1, messages: 0 });
  });

  it("reports why each record was skipped", async () => {
    const { replay } = await replayOf(["{", "null", message({ id: "a", sendTime: "x" })]);

    expect(replay.skipReasons).toEqual({ notJson: 1, notAnObject: 1, badSendTime: 1 });
  });
});

describe("rule 2: duplicates", () => {
  it("keeps the first record of an id and counts the later ones, even with other content", async () => {
    const { json } = await replayOf([
      message({ id: "a", content: "first" }),
      message({ id: "a", content: "second" }),
      message({ id: "a", content: "third" }),
    ]);

    expect(json.messages).toHaveLength(1);
    expect(json.messages[0].content).toBe("first");
    expect(json.counts).toMatchObject({ records: 3, duplicates: 2, messages: 1 });
  });

  it("counts duplicates outside the window too", async () => {
    const early = message({ id: "a", at: "2024-01-05T13:00:00.000Z" });

    const { json } = await replayOf([early, early], window("2024-01-05T14:00:00Z", null));

    expect(json.counts).toMatchObject({ records: 2, duplicates: 1, messages: 0 });
  });

  it("does not treat a skipped record's id as seen", async () => {
    const { json } = await replayOf([message({ id: "a", sendTime: "bad" }), message({ id: "a" })]);

    expect(json.counts).toMatchObject({ skipped: 1, duplicates: 0, messages: 1 });
  });

  it("drops an event that reuses a message's id", async () => {
    const { json } = await replayOf([message({ id: "a" }), event("a", "app:poll", {})]);

    expect(json.counts).toMatchObject({ duplicates: 1, messages: 1, events: 0 });
  });
});

describe("rules 3 and 5: deletions", () => {
  it("removes a message deleted after it", async () => {
    const { json } = await replayOf([
      message({ id: "a" }),
      message({ id: "b" }),
      event("d1", "aws:DELETE_MESSAGE", { MessageId: "a" }),
    ]);

    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(["b"]);
    expect(json.counts).toMatchObject({ deleted: 1, messages: 1, events: 0 });
  });

  it("removes a message deleted before it appears in the log", async () => {
    const { json } = await replayOf([
      event("d1", "aws:DELETE_MESSAGE", { MessageId: "a" }),
      message({ id: "a" }),
    ]);

    expect(json.messages).toEqual([]);
    expect(json.counts.deleted).toBe(1);
  });

  it("reads the older MessageID spelling", async () => {
    const { json } = await replayOf([
      message({ id: "a" }),
      event("d1", "aws:DELETE_MESSAGE", { MessageID: "a" }),
    ]);

    expect(json.messages).toEqual([]);
  });

  it("prefers MessageId over MessageID when both are present", async () => {
    const { json } = await replayOf([
      message({ id: "a" }),
      message({ id: "b" }),
      event("d1", "aws:DELETE_MESSAGE", { MessageId: "a", MessageID: "b" }),
    ]);

    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(["b"]);
  });

  it("applies a deletion logged outside the window", async () => {
    const { json } = await replayOf(
      [
        message({ id: "a" }),
        event("d1", "aws:DELETE_MESSAGE", { MessageId: "a" }, "2024-01-05T18:00:00.000Z"),
      ],
      window("2024-01-05T14:00:00Z", "2024-01-05T15:00:00Z"),
    );

    expect(json.messages).toEqual([]);
    expect(json.counts.deleted).toBe(1);
  });

  it("counts only deleted messages of the window, once each", async () => {
    const { json } = await replayOf(
      [
        message({ id: "outside", at: "2024-01-05T16:00:00.000Z" }),
        message({ id: "inside" }),
        event("d1", "aws:DELETE_MESSAGE", { MessageId: "outside" }),
        event("d2", "aws:DELETE_MESSAGE", { MessageId: "inside" }),
        event("d3", "aws:DELETE_MESSAGE", { MessageId: "inside" }),
        event("d4", "aws:DELETE_MESSAGE", { MessageId: "never-sent" }),
      ],
      window("2024-01-05T14:00:00Z", "2024-01-05T15:00:00Z"),
    );

    expect(json.counts).toMatchObject({ deleted: 1, messages: 0, events: 0 });
  });

  it("ignores a duplicate deletion record carrying another target", async () => {
    const { json } = await replayOf([
      message({ id: "a" }),
      message({ id: "b" }),
      event("d1", "aws:DELETE_MESSAGE", { MessageId: "a" }),
      event("d1", "aws:DELETE_MESSAGE", { MessageId: "b" }),
    ]);

    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(["b"]);
    expect(json.counts).toMatchObject({ deleted: 1, duplicates: 1 });
  });
});

describe("rule 4: the window", () => {
  const options = window("2024-01-05T14:00:00.000Z", "2024-01-05T15:00:00.000Z");

  it("includes a record at the start and excludes one at the end", async () => {
    const { json } = await replayOf(
      [
        message({ id: "before", at: "2024-01-05T13:59:59.999Z" }),
        message({ id: "start", at: "2024-01-05T14:00:00.000Z" }),
        message({ id: "last", at: "2024-01-05T14:59:59.999Z" }),
        message({ id: "end", at: "2024-01-05T15:00:00.000Z" }),
      ],
      options,
    );

    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(["start", "last"]);
    expect(json.counts).toMatchObject({ records: 4, messages: 2, skipped: 0 });
  });

  it("decides by event_timestamp, not SendTime", async () => {
    const { json } = await replayOf(
      [message({ id: "a", at: "2024-01-05T14:00:00.001Z", sendTime: "2024-01-05T13:59:59.000000000Z" })],
      window("2024-01-05T14:00:00.000Z", "2024-01-05T15:00:00.000Z", "2024-01-05T14:00:00.000Z"),
    );

    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(["a"]);
    expect(json.messages[0].offsetMs).toBe(-1000);
  });

  it("compares timestamps written with a zone offset at their instant", async () => {
    const { json } = await replayOf(
      [
        message({ id: "a", at: "2024-01-05T14:59:59.999+00:00", sendTime: "2024-01-05T14:59:59.999Z" }),
        message({ id: "b", at: "2024-01-05T15:00:00.000-01:00", sendTime: "2024-01-05T16:00:00Z" }),
      ],
      options,
    );

    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(["a"]);
  });
});

describe("rule 6: events", () => {
  it("keeps custom events and leaves moderation events out", async () => {
    const { json } = await replayOf([
      event("e1", "app:poll", { question: "?" }),
      event("e2", "aws:DISCONNECT_USER", { UserId: "u" }),
      event("e3", "aws:DELETE_MESSAGE", { MessageId: "e1" }),
    ]);

    expect(json.events).toEqual([
      {
        id: "e1",
        offsetMs: 0,
        sendTime: "2024-01-05T14:33:33.000000001Z",
        name: "app:poll",
        attributes: { question: "?" },
      },
    ]);
    expect(json.counts).toMatchObject({ events: 1, deleted: 0 });
  });
});

describe("rule 7: order", () => {
  it("orders by SendTime at nanosecond precision, which a float cannot", async () => {
    const { json } = await replayOf([
      message({ id: "c", sendTime: "2024-01-05T14:33:32.894089759Z" }),
      message({ id: "a", sendTime: "2024-01-05T14:33:32.894089758Z" }),
      message({ id: "b", sendTime: "2024-01-05T14:33:32.894089757Z" }),
    ]);

    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(["b", "a", "c"]);
  });

  it("breaks ties of equal send times by id, whatever the precision written", async () => {
    const { json } = await replayOf([
      message({ id: "z", sendTime: "2024-01-05T14:33:32.5Z" }),
      message({ id: "m", sendTime: "2024-01-05T14:33:32.500000000Z" }),
      message({ id: "B", sendTime: "2024-01-05T15:33:32.500+01:00" }),
    ]);

    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(["B", "m", "z"]);
  });

  it("orders across years, days and zone offsets", async () => {
    const { json } = await replayOf([
      message({ id: "new-year", sendTime: "2025-01-01T00:00:00Z" }),
      message({ id: "leap-day", sendTime: "2024-02-29T23:59:59.999999999Z" }),
      message({ id: "eve", sendTime: "2024-12-31T23:30:00-01:00" }),
    ]);

    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(["leap-day", "new-year", "eve"]);
  });
});

describe("rule 8: offsets", () => {
  it("floors offsets, so half a millisecond before the base is -1", async () => {
    const { json } = await replayOf(
      [
        message({ id: "before", sendTime: "2024-01-05T13:59:59.9995Z" }),
        message({ id: "exact", sendTime: "2024-01-05T14:00:00Z" }),
        message({ id: "after", sendTime: "2024-01-05T14:00:00.000999999Z" }),
        message({ id: "later", sendTime: "2024-01-05T14:00:01.001Z" }),
      ],
      window(null, null, "2024-01-05T14:00:00Z"),
    );

    expect(json.messages.map((m: { offsetMs: number }) => m.offsetMs)).toEqual([-1, 0, 0, 1001]);
    expect(json.offsetBase).toBe("2024-01-05T14:00:00.000Z");
  });

  it("measures from the earliest sendTime written, kept as written, when no base is given", async () => {
    const { json } = await replayOf([
      message({ id: "deleted", sendTime: "2024-01-05T14:00:00.000000001Z" }),
      event("e1", "app:x", {}, "2024-01-05T14:00:01.500Z"),
      message({ id: "m", sendTime: "2024-01-05T14:00:02.000000002Z" }),
      event("d", "aws:DELETE_MESSAGE", { MessageId: "deleted" }),
    ]);

    expect(json.offsetBase).toBe("2024-01-05T14:00:01.500000001Z");
    expect(json.events[0].offsetMs).toBe(0);
    expect(json.messages[0].offsetMs).toBe(500);
  });

  it("writes a null base when nothing is written and no base is given", async () => {
    const { json } = await replayOf([]);

    expect(json).toEqual({
      version: 1,
      channelArn: null,
      roomArn: null,
      streamIds: [],
      recording: null,
      window: { start: null, end: null },
      offsetBase: null,
      timeline: [],
      counts: { records: 0, messages: 0, events: 0, deleted: 0, duplicates: 0, skipped: 0 },
      messages: [],
      events: [],
    });
  });
});

describe("rules 9 to 11: the file", () => {
  it("writes the header the archive knows and the message shape of the contract", async () => {
    const options: ReplayOptions = {
      ...window("2024-01-05T14:30:00Z", "2024-01-05T15:30:00Z", "2024-01-05T14:30:00Z"),
      channelArn: "arn:aws:ivs:us-east-1:123456789012:channel/AbCdef1G2hij",
      roomArn: "arn:aws:ivschat:us-east-1:123456789012:room/0wgOPVl4ZRdu",
      streamIds: ["st-1"],
      recording: { bucket: "b", prefix: "p", sessionId: "s", durationMs: 1000 },
    };

    const { json } = await replayOf(
      [message({ id: "WhO6MW6iRdS5", content: "bbiab!", username: "gleningp" })],
      options,
    );

    expect(json).toMatchObject({
      version: 1,
      channelArn: options.channelArn,
      roomArn: options.roomArn,
      streamIds: ["st-1"],
      recording: { bucket: "b", prefix: "p", sessionId: "s", durationMs: 1000 },
      window: { start: "2024-01-05T14:30:00.000Z", end: "2024-01-05T15:30:00.000Z" },
      offsetBase: "2024-01-05T14:30:00.000Z",
      counts: { records: 1, messages: 1, events: 0, deleted: 0, duplicates: 0, skipped: 0 },
    });
    expect(json.messages).toEqual([
      {
        id: "WhO6MW6iRdS5",
        offsetMs: 212894,
        sendTime: "2024-01-05T14:33:32.894089757Z",
        content: "bbiab!",
        attributes: { username: "gleningp" },
        sender: { userId: "user-gleningp", attributes: {} },
      },
    ]);
  });

  it("keeps sendTime exactly as logged", async () => {
    const { json } = await replayOf([message({ id: "a", sendTime: "2024-01-05t15:33:32.10+01:00" })]);

    expect(json.messages[0].sendTime).toBe("2024-01-05t15:33:32.10+01:00");
  });

  it("gives byte-identical output for the same input, whatever the input order of distinct records", async () => {
    const lines = [
      message({ id: "a", sendTime: "2024-01-05T14:00:00.000000003Z" }),
      message({ id: "b", sendTime: "2024-01-05T14:00:00.000000001Z" }),
      event("e", "app:x", {}),
      event("d", "aws:DELETE_MESSAGE", { MessageId: "a" }),
    ];

    const first = await (await buildReplay(lines, UNBOUNDED)).text();
    const again = await (await buildReplay([...lines].reverse(), UNBOUNDED)).text();

    expect(again).toBe(first);
  });

  it("carries unicode, emoji and line separators in content through unchanged", async () => {
    const content = 'héllo 👋 line\u2028separator\u2029paragraph \u0000 "quoted" \\ end';

    const { text, json } = await replayOf([message({ id: "a", content })]);

    expect(json.messages[0].content).toBe(content);
    // One line for the header, one per item, one closing: the separators stay inside the string.
    expect(text.split("\n")).toHaveLength(4);
  });

  it("writes ids as JSON strings, escaped where JSON needs it, in replay.json and the segments alike", async () => {
    const ids = ['q"uote', "back\\slash", "tab\there", "héllo-👋", "plain-42"];
    const lines = ids.map((id, i) => message({ id, at: `2024-01-05T14:33:3${i}.000Z` }));

    const { json } = await replayOf(lines);
    const segments: unknown[] = [];
    for await (const part of replayFiles(await buildReplay(lines, UNBOUNDED))) {
      if (part.file === "segment") segments.push(...JSON.parse(part.body.toString("utf8")).messages);
    }

    expect(json.messages.map((m: { id: string }) => m.id)).toEqual(ids);
    expect(segments).toEqual(json.messages);
  });

  it("writes content, attributes and sender that are missing as null and empty objects", async () => {
    const record = {
      event_timestamp: "2024-01-05T14:00:00.000Z",
      type: "MESSAGE",
      payload: { Id: "a", SendTime: "2024-01-05T14:00:00.000Z" },
    };

    const { json } = await replayOf([JSON.stringify(record)]);

    expect(json.messages[0]).toEqual({
      id: "a",
      offsetMs: 0,
      sendTime: "2024-01-05T14:00:00.000Z",
      content: null,
      attributes: {},
      sender: { userId: null, attributes: {} },
    });
  });

  it("streams large replays in several chunks that join into valid JSON", async () => {
    const lines = Array.from({ length: 2000 }, (_, i) =>
      message({ id: `m${String(i).padStart(5, "0")}`, content: "x".repeat(100) }),
    );

    const replay = await buildReplay(lines, UNBOUNDED);
    const chunks: Buffer[] = [];
    for await (const chunk of replay.chunks(16_384)) chunks.push(chunk);

    expect(chunks.length).toBeGreaterThan(10);
    expect(JSON.parse(chunks.join("")).messages).toHaveLength(2000);
  });
});

describe("parseInstant", () => {
  it("agrees with Date.parse at the millisecond for many instants", () => {
    for (let ms = Date.UTC(1999, 0, 1); ms < Date.UTC(2101, 0, 1); ms += 7_919_999_987) {
      const text = new Date(ms).toISOString();
      expect(parseInstant(text)).toEqual({ ms, sub: "" });
    }
  });

  it("keeps the digits below the millisecond without trailing zeros", () => {
    expect(parseInstant("2024-01-05T14:33:32.894089750Z")).toEqual({
      ms: Date.UTC(2024, 0, 5, 14, 33, 32, 894),
      sub: "08975",
    });
  });

  it.each([
    "",
    "2024-01-05",
    "2024-01-05T14:33:32",
    "2024-13-01T00:00:00Z",
    "2024-01-05T24:00:00Z",
    "2024-01-05T14:33:32.Z",
    "2024-01-05T14:33:32Zjunk",
    "2023-02-29T00:00:00Z",
  ])("rejects %j", (text) => {
    expect(parseInstant(text)).toBeUndefined();
  });
});
