import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/cli/synthetic";
import { CheckpointError } from "../../src/errors";
import { MemoryRunStore, parseInstant, ReplayEngine, type ReplayOptions } from "../../src/replay";
import { ChunkWriter } from "../../src/replay/engine";
import { prepareBatch } from "../../src/replay/prepare";
import { copyBytes, ItemWriter, mergeRuns } from "../../src/replay/runs";
import { referenceReplay } from "../support/referenceReplay";

const START = Date.parse("2024-01-05T14:00:00.000Z");

/** A random chat log: few ids (so duplicates and deletes hit), ties in time, junk, moderation, and copies that differ. */
function randomLog(seed: number, length: number): string[] {
  const next = mulberry32(seed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
  const ids = Array.from(
    { length: Math.max(3, Math.floor(length / 3)) },
    (_, i) => `id${i}${i % 7 === 0 ? "é" : ""}`,
  );
  const lines: string[] = [];
  for (let i = 0; i < length; i++) {
    const at = START + Math.floor(next() * 20) * 1000;
    const iso = new Date(at).toISOString();
    const send = iso.replace("Z", `${pick(["", "1", "000001", "5", "999999"])}Z`);
    const kind = next();
    const id = pick(ids);
    if (kind < 0.05) {
      lines.push(pick(["not json", "[]", '{"type":"MESSAGE"}', "", "   "]));
    } else if (kind < 0.2) {
      const key = next() < 0.5 ? "MessageId" : "MessageID";
      const payload = {
        Id: id,
        EventName: "aws:DELETE_MESSAGE",
        Attributes: { [key]: pick(ids) },
        SendTime: send,
      };
      lines.push(JSON.stringify({ event_timestamp: iso, type: "EVENT", payload }));
    } else if (kind < 0.25) {
      const payload = {
        Id: id,
        EventName: "aws:DISCONNECT_USER",
        Attributes: { UserId: "u" },
        SendTime: send,
      };
      lines.push(JSON.stringify({ event_timestamp: iso, type: "EVENT", payload }));
    } else if (kind < 0.35) {
      const payload = { Id: id, EventName: `app:${i}`, Attributes: { n: String(i) }, SendTime: send };
      lines.push(JSON.stringify({ event_timestamp: iso, type: "EVENT", payload }));
    } else {
      const payload = {
        Id: id,
        Content: `m${i} <b>`,
        Attributes: { username: "u" },
        SendTime: send,
        Sender: { UserId: "s" },
      };
      lines.push(JSON.stringify({ event_timestamp: iso, type: "MESSAGE", payload }));
    }
  }
  return lines;
}

const instant = (ms: number) => parseInstant(new Date(ms).toISOString()) ?? null;
const WINDOWS: ReplayOptions[] = [
  { window: { start: null, end: null }, offsetBase: null },
  {
    window: { start: instant(START + 4000), end: instant(START + 15000) },
    offsetBase: instant(START + 4000),
  },
];

async function engineText(
  lines: readonly string[],
  options: ReplayOptions,
  spillBytes: number,
  { unordered = false, slices = 1, saveEvery = 0, seed = 1 } = {},
): Promise<string> {
  const store = new MemoryRunStore();
  const engineOptions = { unordered, spillBytes };
  let engine = new ReplayEngine(options, store, engineOptions);
  const records = lines.filter((line) => line.trim() !== "");
  // Contiguous slices of the log, each fed in its own order but interleaved at random, as concurrent reads deliver them.
  const size = Math.ceil(records.length / slices);
  const cursors = Array.from({ length: slices }, (_, s) => ({
    s,
    at: s * size,
    end: Math.min(records.length, (s + 1) * size),
  }));
  const next = mulberry32(seed);
  let pages = 0;
  for (;;) {
    const open = cursors.filter((c) => c.at < c.end);
    if (open.length === 0) break;
    const cursor = open[Math.floor(next() * open.length)] as (typeof open)[number];
    const count = 1 + Math.floor(next() * 5);
    const page = records.slice(cursor.at, Math.min(cursor.end, cursor.at + count));
    await engine.add(prepareBatch(page, options.window), cursor.s * 2 ** 32 + (cursor.at - cursor.s * size));
    cursor.at += page.length;
    if (saveEvery > 0 && ++pages % saveEvery === 0) {
      engine = await ReplayEngine.restore(options, store, engineOptions, await engine.save());
    }
  }
  return engine.finish().text();
}

describe("the bounded-memory engine", () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])(
    "equals the single-pass reference on random log %i at every spill size",
    async (seed) => {
      const lines = randomLog(seed, 150 + seed * 20);
      for (const options of WINDOWS) {
        const expected = referenceReplay(lines, options);
        for (const spillBytes of [1, 500, 4000, 2 ** 30]) {
          expect(await engineText(lines, options, spillBytes)).toBe(expected);
        }
      }
    },
  );

  it.each([11, 12, 13, 14, 15, 16])(
    "equals the reference when slices of log %i arrive interleaved out of order",
    async (seed) => {
      const lines = randomLog(seed, 300);
      for (const options of WINDOWS) {
        const expected = referenceReplay(lines, options);
        for (const slices of [2, 3, 7]) {
          for (const spillBytes of [700, 2 ** 30]) {
            expect(await engineText(lines, options, spillBytes, { unordered: true, slices, seed })).toBe(
              expected,
            );
          }
        }
      }
    },
  );

  it.each([21, 22, 23, 24])(
    "equals the reference when log %i is read across saves and restores",
    async (seed) => {
      const lines = randomLog(seed, 300);
      for (const options of WINDOWS) {
        const expected = referenceReplay(lines, options);
        expect(await engineText(lines, options, 900, { saveEvery: 3 })).toBe(expected);
        expect(
          await engineText(lines, options, 900, { unordered: true, slices: 4, saveEvery: 5, seed }),
        ).toBe(expected);
      }
    },
  );

  it("keeps ids that differ only in a lone surrogate apart, and writes them as logged", async () => {
    // Ids JSON-escaped with a surrogate that has no pair: UTF-8 would make each of them U+FFFD.
    const record = (id: string, content: string, at: number) =>
      JSON.stringify({
        event_timestamp: new Date(START + at).toISOString(),
        type: "MESSAGE",
        payload: { Id: id, Content: content, SendTime: new Date(START + at).toISOString() },
      });
    const lines = [
      record("a\ud800", "1", 0),
      record("a\udc00", "2", 1000),
      record("a\ufffd", "3", 2000),
      record("b\ud800", "4", 3000),
      record("\udfffc\ud83d\ude00", "5", 3000),
      JSON.stringify({
        event_timestamp: new Date(START + 4000).toISOString(),
        type: "EVENT",
        payload: {
          Id: "del",
          EventName: "aws:DELETE_MESSAGE",
          Attributes: { MessageId: "b\udfff" },
          SendTime: new Date(START + 4000).toISOString(),
        },
      }),
      record("a\ud800", "copy", 5000),
    ];
    const options = WINDOWS[0] as ReplayOptions;
    const expected = referenceReplay(lines, options);

    const text = await engineText(lines, options, 1);
    const replay = JSON.parse(text);
    expect(replay.counts).toMatchObject({ records: 7, messages: 5, deleted: 0, duplicates: 1 });
    expect(replay.messages.map((m: { id: string }) => m.id)).toEqual([
      "a\ud800",
      "a\udc00",
      "a\ufffd",
      "b\ud800",
      "\udfffc\ud83d\ude00",
    ]);
    expect(text).toContain('"id":"a\\ud800"');
    expect(text).toBe(expected);
    expect(await engineText(lines, options, 2 ** 30, { unordered: true, slices: 3, saveEvery: 2 })).toBe(
      expected,
    );
  });

  it("keeps tens of thousands of distinct ids exactly, long and non-ASCII ones included", async () => {
    const ids = Array.from({ length: 40_000 }, (_, i) =>
      i % 1000 === 0 ? `${"long".repeat(80)}${i}` : `ïd-${i}`,
    );
    const lines = [...ids, ...ids.slice(0, 100)].map((id, i) =>
      JSON.stringify({
        event_timestamp: "2024-01-05T14:00:00.000Z",
        type: "MESSAGE",
        payload: { Id: id, Content: String(i), SendTime: "2024-01-05T14:00:00.000Z" },
      }),
    );
    const text = await engineText(lines, WINDOWS[0] as ReplayOptions, 100_000, {
      unordered: true,
      slices: 3,
      saveEvery: 50,
    });
    const json = JSON.parse(text);

    expect(json.counts).toMatchObject({ records: 40_100, messages: 40_000, duplicates: 100 });
    expect(text).toBe(referenceReplay(lines, WINDOWS[0] as ReplayOptions));
  });
});

describe("mergeRuns", () => {
  /** A sorted run of `count` items with long and short JSON, as the engine spills one. */
  function run(count: number): Buffer {
    const writer = new ItemWriter();
    for (let i = 0; i < count; i++) {
      const at = parseInstant(new Date(START + i * 1000).toISOString()) as { ms: number; sub: string };
      writer.push(at, `id${i}`, JSON.stringify({ content: "x".repeat(i % 3 === 0 ? 5000 : 10) }), `cue ${i}`);
    }
    const { bytes } = writer.take();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
    for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
  }
  async function idsOf(chunks: AsyncIterable<Buffer>): Promise<string[]> {
    const ids: string[] = [];
    for await (const batch of mergeRuns([chunks], [])) ids.push(...batch.map((item) => item.id));
    return ids;
  }

  it("reads a run in chunks of any size, items cut anywhere (in their size too)", async () => {
    const bytes = run(40);
    const whole = await idsOf(chunked(bytes, bytes.length));

    expect(whole).toEqual(Array.from({ length: 40 }, (_, i) => `id${i}`));
    for (const size of [1, 2, 3, 5, 7, 64, 4093]) expect(await idsOf(chunked(bytes, size))).toEqual(whole);
  });

  it("refuses a run that ends inside an item, or holds an item of an impossible size, with a CheckpointError", async () => {
    const bytes = run(5);

    await expect(idsOf(chunked(bytes.subarray(0, bytes.length - 3), 7))).rejects.toThrow(CheckpointError);
    const size = (value: number) => {
      const damaged = Buffer.from(bytes);
      damaged.writeUInt32LE(value, 0);
      return damaged;
    };
    for (const damaged of [Buffer.alloc(8), size(8), size(0xffffffff)]) {
      for (const chunk of [2, 10, damaged.length]) {
        await expect(idsOf(chunked(damaged, chunk))).rejects.toThrow(CheckpointError);
      }
    }
  });
});

describe("copyBytes", () => {
  it("copies a range of any length, byte by byte or through Buffer#copy, and says where it ends", () => {
    const from = Buffer.from(Array.from({ length: 200 }, (_, i) => i));
    for (const length of [0, 1, 47, 48, 49, 150]) {
      const to = Buffer.alloc(260, 0xff);
      expect(copyBytes(to, 5, from, 10, 10 + length)).toBe(5 + length);
      expect(to.subarray(5, 5 + length)).toEqual(from.subarray(10, 10 + length));
      expect(to[4]).toBe(0xff);
      expect(to[5 + length]).toBe(0xff);
    }
  });
});

describe("ChunkWriter", () => {
  it("writes integers as JSON does, on both sides of 2^31 and up to 2^53", () => {
    const values = [0, 9, 10, 99, 100, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 9, 4_294_967_296, 10 ** 15 + 7];
    values.push(Number.MAX_SAFE_INTEGER, 2 ** 53, 1e21);
    const next = mulberry32(7);
    for (let i = 0; i < 2000; i++) values.push(Math.floor(next() * 10 ** Math.floor(next() * 17)));
    const out = new ChunkWriter(64);
    for (const value of [...values, ...values.map((v) => -v)]) {
      out.integer(value);
      expect(out.take().toString()).toBe(JSON.stringify(value));
    }
  });

  it("pads digits to the width asked for", () => {
    const out = new ChunkWriter(64);
    for (const [value, width, text] of [
      [0, 2, "00"],
      [7, 3, "007"],
      [123, 2, "123"],
      [2 ** 31 + 5, 12, "002147483653"],
    ] as const) {
      out.digits(value, width);
      expect(out.take().toString()).toBe(text);
    }
  });
});
