import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { syntheticChatLog } from "../../src/cli/synthetic";
import { type ChatItem, ChatReplay } from "../../src/player/chat-replay";
import {
  buildReplay,
  compareInstants,
  parseInstant,
  type ReplayOptions,
  replayFiles,
} from "../../src/replay";

const START = Date.parse("2024-01-05T14:00:00Z");
const HOUR = 3_600_000;
const BASE = "https://cdn.example/vod/chat/";

interface Files {
  bodies: Map<string, string>;
  replay: { messages: ChatItem[]; events: ChatItem[] };
  segmentKeys: string[];
}

/** The files the archive writes for a synthetic hour of chat with a quiet stretch, served from memory. */
async function replayFilesOf(
  options: ReplayOptions = { window: { start: null, end: null }, offsetBase: null },
) {
  const lines = [
    ...syntheticChatLog({
      records: 3000,
      start: new Date(START),
      durationMs: HOUR,
      seed: 11,
      customEventRate: 0.05,
    }),
  ]
    // Nobody chats from 14:20 to 14:35: segments are missing there.
    .filter((record) => record.timestampMs < START + 20 * 60_000 || record.timestampMs >= START + 35 * 60_000)
    .map((record) => record.line);
  const bodies = new Map<string, string>();
  const replayChunks: Buffer[] = [];
  for await (const part of replayFiles(await buildReplay(lines, options), 60_000)) {
    if (part.file === "segment") bodies.set(`${BASE}${part.key}`, part.body.toString("utf8"));
    else if (part.file === "index.json") bodies.set(`${BASE}index.json`, part.body.toString("utf8"));
    else if (part.file === "replay.json") replayChunks.push(part.chunk);
  }
  const text = Buffer.concat(replayChunks).toString("utf8");
  bodies.set(`${BASE}replay.json`, text);
  const json = JSON.parse(text);
  const index = JSON.parse(bodies.get(`${BASE}index.json`) ?? "{}");
  return {
    bodies,
    replay: {
      messages: json.messages.map((m: ChatItem) => ({ ...m, type: "message" })),
      events: json.events.map((e: ChatItem) => ({ ...e, type: "event" })),
    },
    segmentKeys: index.segments.map((entry: { key: string }) => `${BASE}${entry.key}`),
  } satisfies Files;
}

/**
 * A fetch over the files, recording what was asked; `failing` URLs answer 503 that many times,
 * `silent` ones never answer (that many times) until the request is aborted, `slow` ones answer
 * after that many ms.
 */
function fakeFetch(
  files: Files,
  failing = new Map<string, number>(),
  { silent = new Map<string, number>(), slow = new Map<string, number>() } = {},
) {
  const fetched: string[] = [];
  const fetcher = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    fetched.push(url);
    const silences = silent.get(url) ?? 0;
    if (silences > 0) {
      silent.set(url, silences - 1);
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason)),
      );
    }
    const wait = slow.get(url);
    if (wait !== undefined) await new Promise((resolve) => setTimeout(resolve, wait));
    const failures = failing.get(url) ?? 0;
    if (failures > 0) {
      failing.set(url, failures - 1);
      return new Response("busy", { status: 503 });
    }
    const body = files.bodies.get(url);
    return body === undefined ? new Response("no such key", { status: 404 }) : new Response(body);
  }) as typeof fetch;
  return { fetcher, fetched };
}

/** SPEC section 5 read literally: replay order is offsetMs, then sendTime to the nanosecond, then id. */
function replayOrder(a: ChatItem, b: ChatItem): number {
  if (a.offsetMs !== b.offsetMs) return a.offsetMs - b.offsetMs;
  const at = (item: ChatItem) => parseInstant(item.sendTime) ?? { ms: 0, sub: "" };
  return compareInstants(at(a), at(b)) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function expectedAdded(files: Files, from: number, to: number): ChatItem[] {
  return [...files.replay.messages, ...files.replay.events]
    .filter((item) => item.offsetMs > from && item.offsetMs <= to)
    .sort(replayOrder);
}

function expectedVisible(files: Files, at: number, history = 50): ChatItem[] {
  return files.replay.messages.filter((item) => item.offsetMs <= at).slice(-history);
}

describe("ChatReplay over index.json and its segments", () => {
  let files: Files;

  beforeAll(async () => {
    files = await replayFilesOf();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("answers a seek with the last 50 messages at or before the time, across segment boundaries", async () => {
    const { fetcher } = fakeFetch(files);
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher });

    // Just after the quiet stretch: the history lies in segments before it
    const at = 36 * 60_000 + 1234;
    const update = await replay.update(at, { seek: true });

    expect(update.added).toEqual([]);
    expect(update.visible).toEqual(expectedVisible(files, at));
    expect(replay.header).toMatchObject({ version: 2, segmentMs: 60000 });
    expect(replay.header).not.toHaveProperty("segments");
  });

  it("answers moves forward with every item passed, in order, none twice and none skipped", async () => {
    const { fetcher } = fakeFetch(files);
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher, history: 20 });
    const steps = [
      0,
      16,
      33,
      1000,
      59_999,
      60_000,
      60_001,
      5 * 60_000,
      5 * 60_000,
      21 * 60_000,
      40 * 60_000,
      2 * HOUR,
    ];

    const first = await replay.update(steps[0] ?? 0);
    const added: ChatItem[] = [];
    let last = first;
    for (const at of steps.slice(1)) {
      last = await replay.update(at);
      added.push(...last.added);
    }

    expect(first.added).toEqual([]);
    expect(added).toEqual(expectedAdded(files, 0, 2 * HOUR));
    expect(last.visible).toEqual(expectedVisible(files, 2 * HOUR, 20));
  });

  it("treats a move backwards as a seek", async () => {
    const { fetcher } = fakeFetch(files);
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher });
    await replay.update(50 * 60_000);

    const back = await replay.update(10 * 60_000);
    const forward = await replay.update(10 * 60_000 + 30_000);

    expect(back).toEqual({ added: [], visible: expectedVisible(files, 10 * 60_000) });
    expect(forward.added).toEqual(expectedAdded(files, 10 * 60_000, 10 * 60_000 + 30_000));
  });

  it("fetches only the segments near the playhead, prefetches the next, and keeps at most maxSegments", async () => {
    const { fetcher, fetched } = fakeFetch(files);
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher, maxSegments: 3, history: 5 });

    await replay.update(10 * 60_000 + 500, { seek: true });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const afterSeek = fetched.slice(1);
    for (let at = 10 * 60_000 + 500; at <= 14 * 60_000; at += 250) await replay.update(at);
    await new Promise((resolve) => setTimeout(resolve, 10));

    // The seek's segment, the one before it for history when needed, and the next one
    expect(
      afterSeek.every((url) =>
        [
          `${BASE}segments/540000.json`,
          `${BASE}segments/600000.json`,
          `${BASE}segments/660000.json`,
        ].includes(url),
      ),
    ).toBe(true);
    expect(afterSeek).toContain(`${BASE}segments/660000.json`);
    expect(fetched.filter((url) => url === `${BASE}segments/600000.json`)).toHaveLength(1);
    expect(fetched).not.toContain(`${BASE}segments/1800000.json`);
    expect(new Set(fetched).size).toBe(fetched.length);
    expect(replay.segmentsInMemory.length).toBeLessThanOrEqual(4);
  });

  it("retries a failed fetch, and after giving up keeps its place for the next update", async () => {
    vi.useFakeTimers();
    const segment = `${BASE}segments/120000.json`;
    const { fetcher } = fakeFetch(files, new Map([[segment, 6]]));
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher, history: 0 });
    await replay.update(60_000 + 1, { seek: true });

    const failing = replay.update(150_000);
    const outcome = failing.then(
      () => "resolved",
      (error: Error) => error.message,
    );
    await vi.runAllTimersAsync();
    const retried = replay.update(150_000);
    await vi.runAllTimersAsync();

    expect(await outcome).toBe(`GET ${segment}: HTTP 503`);
    expect((await retried).added).toEqual(expectedAdded(files, 60_000 + 1, 150_000));
  });

  it("opens a version 1 replay.json too", async () => {
    const { fetcher, fetched } = fakeFetch(files);
    const replay = await ChatReplay.open(`${BASE}replay.json`, { fetch: fetcher });

    const seek = await replay.update(30 * 60_000, { seek: true });
    const forward = await replay.update(45 * 60_000);

    expect(replay.header).toMatchObject({ version: 1 });
    expect(seek.visible).toEqual(expectedVisible(files, 30 * 60_000));
    expect(forward.added).toEqual(expectedAdded(files, 30 * 60_000, 45 * 60_000));
    expect(fetched).toEqual([`${BASE}replay.json`]);
  });

  it("follows a function clock once attached, and stops when detached", async () => {
    vi.useFakeTimers();
    const { fetcher } = fakeFetch(files);
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher });
    let now = 5 * 60_000;
    const updates: { added: ChatItem[]; visible: ChatItem[] }[] = [];

    const detach = replay.attach(
      () => now,
      (update) => updates.push(update),
    );
    await vi.advanceTimersByTimeAsync(200);
    // Playing 90 s, at 1x then at 16x (the fastest a function clock is taken to play)
    for (let second = 0; second < 60; second++) {
      now += 1000;
      await vi.advanceTimersByTimeAsync(1000);
    }
    for (let step = 0; step < 15; step++) {
      now += 2000;
      await vi.advanceTimersByTimeAsync(125);
    }
    detach();
    now += 90_000;
    await vi.advanceTimersByTimeAsync(500);

    expect(updates[0]).toEqual({ added: [], visible: expectedVisible(files, 5 * 60_000) });
    expect(updates.slice(1).flatMap((update) => update.added)).toEqual(
      expectedAdded(files, 5 * 60_000, 5 * 60_000 + 90_000),
    );
  });

  it("drops a request that does not answer after 10 s and asks again, keeping its place", async () => {
    vi.useFakeTimers();
    const segment = `${BASE}segments/120000.json`;
    const { fetcher, fetched } = fakeFetch(files, new Map(), { silent: new Map([[segment, 1]]) });
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher, history: 0 });
    await replay.update(60_000 + 1, { seek: true });

    const moving = replay.update(150_000);
    await vi.advanceTimersByTimeAsync(10_000 + 250);

    expect((await moving).added).toEqual(expectedAdded(files, 60_000 + 1, 150_000));
    expect(fetched.filter((url) => url === segment)).toHaveLength(2);
  });

  it("says a request that never answers failed, after its retries, with the reason", async () => {
    vi.useFakeTimers();
    const segment = `${BASE}segments/120000.json`;
    const { fetcher } = fakeFetch(files, new Map(), { silent: new Map([[segment, 4]]) });
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher, history: 0 });
    await replay.update(60_000 + 1, { seek: true });

    const outcome = replay.update(150_000).then(
      () => "resolved",
      (error: Error) => error.message,
    );
    await vi.advanceTimersByTimeAsync(4 * 10_000 + 250 + 1000 + 3000);

    expect(await outcome).toBe(`GET ${segment}: no answer in 10 s`);
  });
});

describe("ChatReplay attached to clocks that seek", () => {
  let files: Files;

  beforeAll(async () => {
    files = await replayFilesOf();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  /** A media element as the client sees one: its time, whether it is seeking, its events. */
  function fakeVideo(currentTime: number) {
    const listeners = new Map<string, (() => void)[]>();
    return {
      currentTime,
      paused: false,
      seeking: false,
      addEventListener: (type: string, listener: () => void) =>
        listeners.set(type, [...(listeners.get(type) ?? []), listener]),
      removeEventListener: (type: string, listener: () => void) =>
        listeners.set(
          type,
          (listeners.get(type) ?? []).filter((l) => l !== listener),
        ),
      fire: (type: string) => {
        for (const listener of listeners.get(type) ?? []) listener();
      },
    };
  }

  /** A replay attached to a function clock at 60 s (`clock.now`), once its first update came. */
  async function attachedToClock(fetch = fakeFetch(files)) {
    vi.useFakeTimers();
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetch.fetcher });
    const clock = { now: 60_000 };
    const updates: { added: ChatItem[]; visible: ChatItem[] }[] = [];
    const detach = replay.attach(
      () => clock.now,
      (update) => updates.push(update),
    );
    await vi.advanceTimersByTimeAsync(300);
    return { replay, clock, updates, detach, fetched: fetch.fetched };
  }

  /** A replay attached to a fake video at 60 s, once its first update (the seek to 60 s) came. */
  async function attachedToVideo(fetch = fakeFetch(files)) {
    vi.useFakeTimers();
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetch.fetcher });
    const video = fakeVideo(60);
    const updates: { added: ChatItem[]; visible: ChatItem[] }[] = [];
    const detach = replay.attach(video, (update) => updates.push(update));
    await vi.advanceTimersByTimeAsync(300);
    return { video, updates, detach, fetched: fetch.fetched };
  }

  it("answers a seek of a media element once it has ended, without passing through what lies between", async () => {
    const { video, updates, detach, fetched } = await attachedToVideo();

    // Act: the element shows its new time while seeking, long before "seeked"
    video.seeking = true;
    video.fire("seeking");
    video.currentTime = 50 * 60;
    await vi.advanceTimersByTimeAsync(1000);
    video.seeking = false;
    video.fire("seeked");
    await vi.advanceTimersByTimeAsync(300);
    detach();

    // Assess
    expect(updates.map((update) => update.added.length)).toEqual([0, 0]);
    expect(updates[1]?.visible).toEqual(expectedVisible(files, 50 * 60_000));
    // Near each playhead only (history and the next segment), not the 48 minutes between them.
    expect(fetched.filter((url) => url.includes("/segments/")).length).toBeLessThanOrEqual(8);
  });

  it("answers a media element's seek once, though timeupdate comes before seeked", async () => {
    const { video, updates, detach } = await attachedToVideo();

    // Act: as a browser ends a seek: seeking is over, then timeupdate, then seeked
    video.seeking = true;
    video.fire("seeking");
    video.currentTime = 30 * 60;
    video.seeking = false;
    video.fire("timeupdate");
    video.fire("seeked");
    await vi.advanceTimersByTimeAsync(300);
    detach();

    expect(updates).toEqual([
      { added: [], visible: expectedVisible(files, 60_000) },
      { added: [], visible: expectedVisible(files, 30 * 60_000) },
    ]);
  });

  it("answers a later seek without waiting for a slow one, and drops the answer of the one overtaken", async () => {
    // The segments around 50 minutes answer after 3 s
    const slow = new Map(
      files.segmentKeys.filter((key) => /\/(2[6-9]|30)\d{5}\.json$/.test(key)).map((key) => [key, 3000]),
    );
    expect(slow.size).toBeGreaterThan(0);
    const { video, updates, detach } = await attachedToVideo(fakeFetch(files, new Map(), { slow }));

    // Act: a seek to 50 minutes, and 300 ms later one to 10 minutes
    for (const [seconds, wait] of [
      [50 * 60, 300],
      [10 * 60, 300],
    ] as const) {
      video.seeking = true;
      video.fire("seeking");
      video.currentTime = seconds;
      video.seeking = false;
      video.fire("seeked");
      await vi.advanceTimersByTimeAsync(wait);
    }
    const answeredAt = updates.length;
    await vi.advanceTimersByTimeAsync(5000);
    detach();

    // Assess: the 10 minutes' history came before the slow segments did; the 50 minutes' never came
    expect(answeredAt).toBe(2);
    expect(updates).toEqual([
      { added: [], visible: expectedVisible(files, 60_000) },
      { added: [], visible: expectedVisible(files, 10 * 60_000) },
    ]);
  });

  it("plays on after a seek overtook one whose segments then failed, starting one seek for each jump", async () => {
    // Prepare: the segments around 50 minutes always fail, after 1 s
    const around = files.segmentKeys.filter((key) => /\/(2[6-9]|30)\d{5}\.json$/.test(key));
    const failing = new Map(around.map((key) => [key, 1000]));
    const fetch = fakeFetch(files, failing, { slow: new Map(around.map((key) => [key, 1000])) });
    const { replay, clock, updates, detach } = await attachedToClock(fetch);
    const seeks = vi.spyOn(
      replay as unknown as { lastMessagesAt(ms: number): Promise<ChatItem[]> },
      "lastMessagesAt",
    );

    // Act: a jump to 50 minutes, one to 10 minutes 300 ms later, then 10 s of play
    clock.now = 50 * 60_000;
    await vi.advanceTimersByTimeAsync(300);
    clock.now = 10 * 60_000;
    for (let step = 0; step < 100; step++) {
      await vi.advanceTimersByTimeAsync(100);
      clock.now += 100;
    }
    await vi.advanceTimersByTimeAsync(10_000);
    detach();

    // Assess: the 10 minutes' seek, then every item played, and no seek in the middle of play
    expect(seeks).toHaveBeenCalledTimes(2);
    expect(updates[1]).toEqual({ added: [], visible: expectedVisible(files, 10 * 60_000) });
    expect(updates.slice(2).every((update) => update.added.length > 0)).toBe(true);
    expect(updates.slice(2).flatMap((update) => update.added)).toEqual(
      expectedAdded(files, 10 * 60_000, 10 * 60_000 + 10_000),
    );
  });

  it("takes a function clock's jump ahead, further than 16x playback could go, as a seek", async () => {
    const { clock, updates, detach, fetched } = await attachedToClock();
    const before = fetched.length;

    clock.now = 50 * 60_000;
    await vi.advanceTimersByTimeAsync(300);
    detach();

    expect(updates).toEqual([
      { added: [], visible: expectedVisible(files, 60_000) },
      { added: [], visible: expectedVisible(files, 50 * 60_000) },
    ]);
    // Near the new playhead only, not the 49 minutes between
    expect(fetched.length - before).toBeLessThanOrEqual(4);
  });

  it("tells the page about a move backwards of a function clock: it is a seek", async () => {
    vi.useFakeTimers();
    const { fetcher } = fakeFetch(files);
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher });
    let now = 40 * 60_000;
    const updates: { added: ChatItem[]; visible: ChatItem[] }[] = [];

    const detach = replay.attach(
      () => now,
      (update) => updates.push(update),
    );
    await vi.advanceTimersByTimeAsync(300);
    now = 150;
    await vi.advanceTimersByTimeAsync(300);
    detach();

    expect(updates).toEqual([
      { added: [], visible: expectedVisible(files, 40 * 60_000) },
      { added: [], visible: expectedVisible(files, 150) },
    ]);
  });

  it("takes a seek's history from the segments that hold messages, skipping those of events alone", async () => {
    // Prepare: messages in the first minute, then only events, one a minute, for 50 minutes
    const at = (ms: number) => new Date(START + ms).toISOString();
    const lines = [
      ...Array.from({ length: 5 }, (_, i) =>
        JSON.stringify({
          event_timestamp: at(i * 1000),
          type: "MESSAGE",
          payload: {
            Id: `m${i}`,
            Content: "hi",
            SendTime: at(i * 1000),
            Attributes: {},
            Sender: { UserId: "u" },
          },
        }),
      ),
      ...Array.from({ length: 50 }, (_, i) =>
        JSON.stringify({
          event_timestamp: at((i + 1) * 60_000),
          type: "EVENT",
          payload: { Id: `e${i}`, EventName: "app:poll", SendTime: at((i + 1) * 60_000), Attributes: {} },
        }),
      ),
    ];
    const bodies = new Map<string, string>();
    for await (const part of replayFiles(
      await buildReplay(lines, { window: { start: null, end: null }, offsetBase: null }),
      60_000,
    )) {
      if (part.file === "segment") bodies.set(`${BASE}${part.key}`, part.body.toString("utf8"));
      if (part.file === "index.json") bodies.set(`${BASE}index.json`, part.body.toString("utf8"));
    }
    const { fetcher, fetched } = fakeFetch({ bodies, replay: { messages: [], events: [] }, segmentKeys: [] });
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher, maxSegments: 2 });

    // Act
    const update = await replay.update(50 * 60_000 + 30_000, { seek: true });
    await new Promise((resolve) => setTimeout(resolve, 10));

    // Assess
    expect(update.visible.map((item) => item.id)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(fetched.slice(1)).toEqual([`${BASE}segments/0.json`]);
    expect(replay.segmentsInMemory.length).toBeLessThanOrEqual(2);
  });

  it("with maxSegments 1, fetches the next segment once, not on every update", async () => {
    const { fetcher, fetched } = fakeFetch(files);
    const replay = await ChatReplay.open(`${BASE}index.json`, { fetch: fetcher, maxSegments: 1 });

    await replay.update(60_000, { seek: true });
    for (let at = 60_000; at < 119_000; at += 500) {
      await replay.update(at);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }

    expect(fetched.filter((url) => url === `${BASE}segments/120000.json`)).toHaveLength(1);
    expect(replay.segmentsInMemory.length).toBeLessThanOrEqual(2);
  });
});
