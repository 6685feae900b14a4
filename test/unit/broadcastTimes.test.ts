import { describe, expect, it } from "vitest";
import {
  broadcastTimes,
  isRecorded,
  type RecordingRecord,
  type SessionTimes,
  type StreamRecord,
} from "../../src/sessions/model";

const CHANNEL_ARN = "arn:aws:ivs:us-east-1:123456789012:channel/AbCdef1G2hij";
const HOUR_MS = 3_600_000;

function stream(streamId: string, times: { startAt?: string; endAt?: string } = {}): StreamRecord {
  return { streamId, channelArn: CHANNEL_ARN, recordingSessionId: "a6RfV23ES97iyfoQ", ...times };
}

function recording(fields: Partial<RecordingRecord> = {}): RecordingRecord {
  return {
    sessionId: "a6RfV23ES97iyfoQ",
    channelArn: CHANNEL_ARN,
    streamIds: ["st-A"],
    bucket: "ivs-recordings-example",
    prefix: "ivs/v1/123456789012/AbCdef1G2hij/2024/1/5/14/30/a6RfV23ES97iyfoQ",
    ...fields,
  };
}

function session(startTime?: string, endTime?: string): SessionTimes {
  return {
    ...(startTime !== undefined && { startTime: new Date(startTime) }),
    ...(endTime !== undefined && { endTime: new Date(endTime) }),
  };
}

describe("broadcastTimes: the window", () => {
  it("runs from the earliest Stream Start to the latest Stream End of several streams, in any order", () => {
    const streams = [
      stream("st-B", { startAt: "2024-01-05T14:41:00.000Z", endAt: "2024-01-05T15:30:00.000Z" }),
      stream("st-A", { startAt: "2024-01-05T14:30:00.000Z", endAt: "2024-01-05T14:40:00.000Z" }),
      stream("st-C", { startAt: "2024-01-05T14:35:00.000Z", endAt: "2024-01-05T14:50:00.000Z" }),
    ];

    const times = broadcastTimes(streams, undefined);

    expect(times.window).toEqual({ start: "2024-01-05T14:30:00.000Z", end: "2024-01-05T15:30:00.000Z" });
  });

  it("prefers the stream events over the session and recording times when all are known", () => {
    const streams = [
      stream("st-A", { startAt: "2024-01-05T14:30:00.000Z", endAt: "2024-01-05T15:30:00.000Z" }),
    ];
    const ended = recording({
      startAt: "2024-01-05T14:30:01.000Z",
      endAt: "2024-01-05T15:30:10.000Z",
      durationMs: HOUR_MS,
    });

    const times = broadcastTimes(
      streams,
      ended,
      new Map([["st-A", session("2024-01-05T14:29:58.000Z", "2024-01-05T15:29:59.000Z")]]),
    );

    expect(times.window).toEqual({ start: "2024-01-05T14:30:00.000Z", end: "2024-01-05T15:30:00.000Z" });
  });

  it("is unbounded on both sides when nothing tells", () => {
    const times = broadcastTimes([], undefined);

    expect(times).toEqual({ window: { start: null, end: null }, offsetBase: null });
  });
});

describe("broadcastTimes: a missing Stream Start", () => {
  const streams = [stream("st-A", { endAt: "2024-01-05T15:30:00.000Z" })];

  it("falls back to the stream's session start", () => {
    const sessions = new Map([["st-A", session("2024-01-05T14:25:00.000Z")]]);

    const times = broadcastTimes(streams, recording({ startAt: "2024-01-05T14:30:01.000Z" }), sessions);

    expect(times.window.start).toBe("2024-01-05T14:25:00.000Z");
  });

  it("then to the recording start", () => {
    const started = recording({ startAt: "2024-01-05T14:30:01.000Z", endAt: "2024-01-05T15:30:10.000Z" });

    const times = broadcastTimes(streams, started);

    expect(times.window.start).toBe("2024-01-05T14:30:01.000Z");
  });

  it("then to the recording end minus its duration", () => {
    const ended = recording({ endAt: "2024-01-05T15:30:10.000Z", durationMs: HOUR_MS });

    const times = broadcastTimes(streams, ended);

    expect(times.window.start).toBe("2024-01-05T14:30:10.000Z");
  });

  it("leaves the window open at the start when nothing else tells", () => {
    const times = broadcastTimes(streams, recording({ endAt: "2024-01-05T15:30:10.000Z" }));

    expect(times.window).toEqual({ start: null, end: "2024-01-05T15:30:00.000Z" });
  });

  it("of the first of two merged streams falls back to the recording start, not to the second stream's start", () => {
    const merged = [
      stream("st-A", { endAt: "2024-01-05T14:40:00.000Z" }),
      stream("st-B", { startAt: "2024-01-05T14:41:00.000Z", endAt: "2024-01-05T15:30:00.000Z" }),
    ];
    const ended = recording({
      streamIds: ["st-A", "st-B"],
      startAt: "2024-01-05T14:30:01.000Z",
      endAt: "2024-01-05T15:30:10.000Z",
      durationMs: HOUR_MS,
    });

    const times = broadcastTimes(merged, ended);

    expect(times.window).toEqual({ start: "2024-01-05T14:30:01.000Z", end: "2024-01-05T15:30:00.000Z" });
  });
});

describe("broadcastTimes: a missing Stream End", () => {
  const streams = [stream("st-A", { startAt: "2024-01-05T14:30:00.000Z" })];

  it("falls back to the stream's session end", () => {
    const sessions = new Map([["st-A", session(undefined, "2024-01-05T15:29:59.000Z")]]);
    const ended = recording({
      startAt: "2024-01-05T14:30:01.000Z",
      endAt: "2024-01-05T15:30:10.000Z",
      durationMs: HOUR_MS,
    });

    const times = broadcastTimes(streams, ended, sessions);

    expect(times.window.end).toBe("2024-01-05T15:29:59.000Z");
  });

  it("then to the recording start plus its duration", () => {
    const ended = recording({
      startAt: "2024-01-05T14:30:01.000Z",
      endAt: "2024-01-05T15:30:10.000Z",
      durationMs: HOUR_MS,
    });

    const times = broadcastTimes(streams, ended);

    expect(times.window.end).toBe("2024-01-05T15:30:01.000Z");
  });

  it("then to the recording end", () => {
    const times = broadcastTimes(
      streams,
      recording({ endAt: "2024-01-05T15:30:10.000Z", durationMs: HOUR_MS }),
    );

    expect(times.window.end).toBe("2024-01-05T15:30:10.000Z");
  });

  it("leaves the window open at the end when nothing else tells", () => {
    const times = broadcastTimes(streams, recording({ startAt: "2024-01-05T14:30:01.000Z" }));

    expect(times.window).toEqual({ start: "2024-01-05T14:30:00.000Z", end: null });
  });

  it("of the last of two merged streams does not end the window at the first stream's end", () => {
    const merged = [
      stream("st-A", { startAt: "2024-01-05T14:30:00.000Z", endAt: "2024-01-05T14:40:00.000Z" }),
      stream("st-B", { startAt: "2024-01-05T14:41:00.000Z" }),
    ];
    const ended = recording({ streamIds: ["st-A", "st-B"], endAt: "2024-01-05T15:30:10.000Z" });

    const times = broadcastTimes(merged, ended);

    expect(times.window).toEqual({ start: "2024-01-05T14:30:00.000Z", end: "2024-01-05T15:30:10.000Z" });
  });

  it("of one of several streams, when nothing else tells, ends the window at the latest known end", () => {
    const merged = [
      stream("st-A", { startAt: "2024-01-05T14:30:00.000Z", endAt: "2024-01-05T14:40:00.000Z" }),
      stream("st-B", { startAt: "2024-01-05T14:41:00.000Z" }),
    ];

    const times = broadcastTimes(merged, undefined);

    expect(times.window.end).toBe("2024-01-05T14:40:00.000Z");
  });
});

describe("broadcastTimes: the offset base", () => {
  const streams = [
    stream("st-B", { startAt: "2024-01-05T14:41:00.000Z", endAt: "2024-01-05T15:30:00.000Z" }),
    stream("st-A", { startAt: "2024-01-05T14:30:00.000Z", endAt: "2024-01-05T14:40:00.000Z" }),
  ];

  it("is the recording start when known", () => {
    const started = recording({ startAt: "2024-01-05T14:30:01.000Z" });

    const times = broadcastTimes(streams, started);

    expect(times.offsetBase).toBe("2024-01-05T14:30:01.000Z");
  });

  it("else the first stream's start", () => {
    const ended = recording({ endAt: "2024-01-05T15:30:10.000Z", durationMs: HOUR_MS });

    const times = broadcastTimes(streams, ended);

    expect(times.offsetBase).toBe("2024-01-05T14:30:00.000Z");
  });

  it("else the window start, wherever it came from", () => {
    const noStart = [stream("st-A", { endAt: "2024-01-05T15:30:00.000Z" })];

    const fromSession = broadcastTimes(
      noStart,
      undefined,
      new Map([["st-A", session("2024-01-05T14:29:58.000Z")]]),
    );
    const fromDuration = broadcastTimes(
      noStart,
      recording({ endAt: "2024-01-05T15:30:10.000Z", durationMs: HOUR_MS }),
    );

    expect(fromSession.offsetBase).toBe("2024-01-05T14:29:58.000Z");
    expect(fromDuration.offsetBase).toBe("2024-01-05T14:30:10.000Z");
  });
});

describe("a recording that only failed to start", () => {
  const failed = recording({
    startFailure: { at: "2024-01-05T14:30:01.000Z", reason: "InternalServerException" },
  });

  it("is not recorded", () => {
    expect(isRecorded(failed)).toBe(false);
  });

  it("moves neither the window nor the offset base", () => {
    const streams = [
      stream("st-A", { startAt: "2024-01-05T14:30:00.000Z", endAt: "2024-01-05T15:30:00.000Z" }),
    ];

    const times = broadcastTimes(streams, failed);

    expect(times).toEqual({
      window: { start: "2024-01-05T14:30:00.000Z", end: "2024-01-05T15:30:00.000Z" },
      offsetBase: "2024-01-05T14:30:00.000Z",
    });
  });

  it("gives no times of its own where the stream events are missing", () => {
    const times = broadcastTimes([stream("st-A")], failed);

    expect(times).toEqual({ window: { start: null, end: null }, offsetBase: null });
  });
});

describe("isRecorded", () => {
  it("is true once IVS started, ended or failed to end the recording", () => {
    const cases = [
      recording({ startAt: "2024-01-05T14:30:01.000Z" }),
      recording({ endAt: "2024-01-05T15:30:10.000Z" }),
      recording({ endFailure: { at: "2024-01-05T15:30:10.000Z" } }),
    ];

    expect(cases.map(isRecorded)).toEqual([true, true, true]);
  });

  it("is false for an unknown recording", () => {
    expect(isRecorded(undefined)).toBe(false);
  });
});

describe("broadcastTimes: merged streams where one lost an event", () => {
  it("keeps the other streams' times next to one stream's session end", () => {
    const merged = [
      stream("st-A", { startAt: "2024-01-05T10:00:00.000Z" }),
      stream("st-B", { startAt: "2024-01-05T10:05:00.000Z", endAt: "2024-01-05T11:00:00.000Z" }),
    ];

    const times = broadcastTimes(
      merged,
      undefined,
      new Map([["st-A", session(undefined, "2024-01-05T10:03:00.000Z")]]),
    );

    expect(times.window).toEqual({ start: "2024-01-05T10:00:00.000Z", end: "2024-01-05T11:00:00.000Z" });
  });

  it("keeps the other streams' times next to one stream's session start", () => {
    const merged = [
      stream("st-A", { startAt: "2024-01-05T10:00:00.000Z", endAt: "2024-01-05T10:03:00.000Z" }),
      stream("st-B", { endAt: "2024-01-05T11:00:00.000Z" }),
    ];

    const times = broadcastTimes(merged, undefined, new Map([["st-B", session("2024-01-05T10:05:00.000Z")]]));

    expect(times.window).toEqual({ start: "2024-01-05T10:00:00.000Z", end: "2024-01-05T11:00:00.000Z" });
    expect(times.offsetBase).toBe("2024-01-05T10:00:00.000Z");
  });
});
