import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  buildReplay,
  type Encoding,
  GZIP,
  PLAIN,
  parseInstant,
  type ReplayOptions,
  type ReplayPart,
  replayFiles,
  type TimelinePiece,
} from "../../src/replay";

const at = (text: string) => {
  const instant = parseInstant(text);
  if (instant === undefined) throw new Error(`not a time: ${text}`);
  return instant;
};

function message(id: string, sendTime: string, content: unknown, attributes: Record<string, string> = {}) {
  return JSON.stringify({
    event_timestamp: sendTime.replace(/\.\d+Z$/, ".000Z"),
    type: "MESSAGE",
    payload: {
      Id: id,
      Content: content,
      SendTime: sendTime,
      Attributes: attributes,
      Sender: { UserId: `user-${id}` },
    },
  });
}

function chatEvent(id: string, sendTime: string) {
  return JSON.stringify({
    event_timestamp: sendTime.replace(/\.\d+Z$/, ".000Z"),
    type: "EVENT",
    payload: { Id: id, EventName: "app:poll", SendTime: sendTime, Attributes: { q: id } },
  });
}

// A reconnect gap 14:02-14:05; segments of 30 s.
const TIMELINE: TimelinePiece[] = [
  { start: at("2024-01-05T14:00:00Z"), end: at("2024-01-05T14:02:00Z"), mediaMs: 0 },
  { start: at("2024-01-05T14:05:00Z"), end: null, mediaMs: 120_000 },
];
const OPTIONS: ReplayOptions = { window: { start: null, end: null }, offsetBase: null, timeline: TIMELINE };
const LINES = [
  message("early", "2024-01-05T13:59:50.000Z", "before the recording", { username: "ann" }),
  message("m1", "2024-01-05T14:00:10.000000001Z", "hi <b>bold</b> & --> arrows", { username: "bob" }),
  chatEvent("e1", "2024-01-05T14:00:20.000Z"),
  message("m2", "2024-01-05T14:00:40.000Z", "line one\n\nline two"),
  message("gap", "2024-01-05T14:03:00.000Z", "during the reconnect", { username: "cy" }),
  chatEvent("e2", "2024-01-05T14:04:00.000Z"),
  message("late", "2024-01-05T14:07:10.500Z", { rich: true }, { username: "" }),
  chatEvent("e3", "2024-01-05T14:09:00.000Z"),
];

/** Every file's bytes, as written (a replay streams once: each call builds its own). */
async function bytesOf(lines: string[], segmentMs: number, encoding: Encoding): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer[]>();
  for await (const part of replayFiles(await buildReplay(lines, OPTIONS), segmentMs, { encoding })) {
    const name = part.file === "segment" ? part.key : part.file;
    files.set(name, [...(files.get(name) ?? []), "chunk" in part ? part.chunk : part.body]);
  }
  return new Map([...files].map(([name, chunks]) => [name, Buffer.concat(chunks)]));
}

async function filesOf(lines: string[], segmentMs: number) {
  const parts: ReplayPart[] = [];
  for await (const part of replayFiles(await buildReplay(lines, OPTIONS), segmentMs)) parts.push(part);
  const text = (file: string) =>
    Buffer.concat(parts.flatMap((p) => (p.file === file && "chunk" in p ? [p.chunk] : []))).toString("utf8");
  const segments = parts.flatMap((p) =>
    p.file === "segment" ? [[p.key, JSON.parse(p.body.toString("utf8"))]] : [],
  );
  const index = parts.find((p) => p.file === "index.json");
  return {
    order: parts.map((p) => (p.file === "segment" ? p.key : p.file)),
    replay: text("replay.json"),
    vtt: text("replay.vtt"),
    segments: Object.fromEntries(segments),
    index: JSON.parse(index?.file === "index.json" ? index.body.toString("utf8") : "null"),
  };
}

describe("the files of a replay (SPEC sections 3 and 4), in one pass", () => {
  it("writes replay.json byte for byte as the replay alone would", async () => {
    const files = await filesOf(LINES, 30_000);

    expect(files.replay).toBe(await (await buildReplay(LINES, OPTIONS)).text());
  });

  it("indexes the segments that hold items, with the replay's header as version 2", async () => {
    const { index, replay } = await filesOf(LINES, 30_000);
    const { messages: _m, events: _e, ...header } = JSON.parse(replay);

    expect(index).toEqual({
      ...header,
      version: 2,
      segmentMs: 30_000,
      segments: [
        { startMs: -30_000, endMs: 0, messages: 1, events: 0, key: "segments/-30000.json" },
        { startMs: 0, endMs: 30_000, messages: 1, events: 1, key: "segments/0.json" },
        { startMs: 30_000, endMs: 60_000, messages: 1, events: 0, key: "segments/30000.json" },
        { startMs: 120_000, endMs: 150_000, messages: 1, events: 1, key: "segments/120000.json" },
        { startMs: 240_000, endMs: 270_000, messages: 1, events: 0, key: "segments/240000.json" },
        { startMs: 360_000, endMs: 390_000, messages: 0, events: 1, key: "segments/360000.json" },
      ],
    });
    expect(Object.keys(index)).toEqual([...Object.keys(header), "segmentMs", "segments"]);
  });

  it("puts each item in the segment of its offset; in index order the segments are replay.json's items", async () => {
    const { index, segments, replay } = await filesOf(LINES, 30_000);
    const json = JSON.parse(replay);
    const ordered = index.segments.map((entry: { key: string }) => segments[entry.key]);

    for (const segment of ordered) {
      expect(segment.version).toBe(2);
      for (const item of [...segment.messages, ...segment.events]) {
        expect(item.offsetMs).toBeGreaterThanOrEqual(segment.startMs);
        expect(item.offsetMs).toBeLessThan(segment.endMs);
      }
    }
    expect(ordered.flatMap((s: { messages: unknown[] }) => s.messages)).toEqual(json.messages);
    expect(ordered.flatMap((s: { events: unknown[] }) => s.events)).toEqual(json.events);
  });

  it("writes a WebVTT transcript: a 5 s cue per message from max(0, offsetMs), escaped, no empty line inside a cue", async () => {
    const { vtt } = await filesOf(LINES, 30_000);

    expect(vtt).toBe(
      [
        "WEBVTT",
        "",
        "00:00:00.000 --> 00:00:05.000",
        "ann: before the recording",
        "",
        "00:00:10.000 --> 00:00:15.000",
        "bob: hi &lt;b&gt;bold&lt;/b&gt; &amp; --&gt; arrows",
        "",
        "00:00:40.000 --> 00:00:45.000",
        "user-m2: line one",
        "line two",
        "",
        "00:02:00.000 --> 00:02:05.000",
        "cy: during the reconnect",
        "",
        "00:04:10.500 --> 00:04:15.500",
        'user-late: {"rich":true}',
        "",
      ].join("\n"),
    );
  });

  it("lands the segments first, as each is complete, and the index last", async () => {
    const { order } = await filesOf(LINES, 30_000);
    const firstSegment = order.indexOf("segments/-30000.json");

    expect(order.at(-1)).toBe("index.json");
    expect(order.filter((file) => file.startsWith("segments/"))).toHaveLength(6);
    expect(order.indexOf("replay.vtt")).toBeGreaterThan(firstSegment);
  });

  it("gzips every file to the bytes it has written plain, items encoded once for the segment and replay.json", async () => {
    // Prepare: segments of a few KB (compressed) and of a few items (stored as they are)
    const busy = Array.from({ length: 3_000 }, (_, i) =>
      message(
        `busy${i}`,
        new Date(Date.parse("2024-01-05T14:00:00Z") + i * 97).toISOString(),
        `chat line ${i % 17}`,
      ),
    );
    const lines = [...LINES, ...busy];

    // Act
    const plain = await bytesOf(lines, 30_000, PLAIN);
    const gzipped = await bytesOf(lines, 30_000, GZIP);

    // Assess
    expect([...gzipped.keys()].sort()).toEqual([...plain.keys()].sort());
    expect(plain.size).toBeGreaterThan(10);
    for (const [name, bytes] of gzipped) {
      expect(gunzipSync(bytes).equals(plain.get(name) as Buffer), name).toBe(true);
    }
    expect((gzipped.get("replay.json") as Buffer).length).toBeLessThan(
      (plain.get("replay.json") as Buffer).length / 3,
    );
  });

  it("writes a cue with no content for a number too large for a double, as replay.json writes null", async () => {
    const huge = message("huge", "2024-01-05T14:00:30.000Z", 0, { username: "dee" }).replace(
      '"Content":0',
      '"Content":1e400',
    );

    const { vtt, replay } = await filesOf([huge], 30_000);

    expect(JSON.parse(replay).messages[0].content).toBeNull();
    expect(vtt).toBe("WEBVTT\n\n00:00:30.000 --> 00:00:35.000\ndee: \n");
  });

  it("writes an empty index and transcript for an empty replay", async () => {
    const { index, vtt, replay } = await filesOf([], 60_000);

    expect(index.segments).toEqual([]);
    expect(vtt).toBe("WEBVTT\n");
    expect(replay).toBe(await (await buildReplay([], OPTIONS)).text());
  });
});
