import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/errors";
import { parseRecordingStateEvent, parseStreamStateEvent } from "../../src/sessions/events";
import { CHANNEL_ARN, ivsEvent, ivsSampleFiles, sampleEvent } from "../support/ivsEvents";

const STREAM_ID = "st-1A2b3c4D5e6F78ghij9Klmn";
const SESSION_ID = "a6RfV23ES97iyfoQ";
const BUCKET = "ivs-recordings-example";
const PREFIX = "ivs/v1/123456789012/AbCdef1G2hij/2024/1/5/14/30/a6RfV23ES97iyfoQ";

const recording = {
  channelArn: CHANNEL_ARN,
  sessionId: SESSION_ID,
  streamIds: [STREAM_ID],
  bucket: BUCKET,
  prefix: PREFIX,
};

// What every sample of events/ means; a new sample must be added here.
const SAMPLES: Record<string, { parse: (event: unknown) => unknown; expected: unknown }> = {
  "stream-start.json": {
    parse: parseStreamStateEvent,
    expected: {
      kind: "streamStart",
      channelArn: CHANNEL_ARN,
      streamId: STREAM_ID,
      at: new Date("2024-01-05T14:30:00Z"),
    },
  },
  "stream-start-empty-channel-name.json": {
    parse: parseStreamStateEvent,
    expected: {
      kind: "streamStart",
      channelArn: CHANNEL_ARN,
      streamId: STREAM_ID,
      at: new Date("2024-01-05T14:30:00Z"),
    },
  },
  "stream-end.json": {
    parse: parseStreamStateEvent,
    expected: {
      kind: "streamEnd",
      channelArn: CHANNEL_ARN,
      streamId: STREAM_ID,
      at: new Date("2024-01-05T15:30:00Z"),
    },
  },
  "session-created.json": {
    parse: parseStreamStateEvent,
    expected: { kind: "ignored", reason: "event_name Session Created" },
  },
  "session-ended.json": {
    parse: parseStreamStateEvent,
    expected: { kind: "ignored", reason: "event_name Session Ended" },
  },
  "stream-failure.json": {
    parse: parseStreamStateEvent,
    expected: { kind: "ignored", reason: "event_name Stream Failure" },
  },
  "recording-started.json": {
    parse: parseRecordingStateEvent,
    expected: { kind: "recordingStart", ...recording, at: new Date("2024-01-05T14:30:01Z") },
  },
  "recording-ended.json": {
    parse: parseRecordingStateEvent,
    expected: {
      kind: "recordingEnd",
      ...recording,
      at: new Date("2024-01-05T15:30:10Z"),
      durationMs: 3600000,
    },
  },
  "recording-start-failure.json": {
    parse: parseRecordingStateEvent,
    expected: {
      kind: "recordingStartFailure",
      ...recording,
      at: new Date("2024-01-05T14:30:01Z"),
      durationMs: 0,
      reason: "InternalServerException",
    },
  },
  "recording-end-failure.json": {
    parse: parseRecordingStateEvent,
    expected: {
      kind: "recordingEndFailure",
      ...recording,
      at: new Date("2024-01-05T15:30:10Z"),
      durationMs: 3600000,
      reason: "InternalServerException",
    },
  },
};

/** The error a parse throws, for assertions on its type and message. */
function errorOf(parse: () => unknown): unknown {
  try {
    parse();
  } catch (error) {
    return error;
  }
  throw new Error("expected the parse to throw");
}

describe("parsing the sample events of events/", () => {
  it("knows what every EventBridge sample of events/ means", () => {
    expect(ivsSampleFiles()).toEqual(Object.keys(SAMPLES).sort());
  });

  it.each(Object.keys(SAMPLES))("parses %s", (file) => {
    const sample = SAMPLES[file];
    if (sample === undefined) throw new Error(`no expectation for ${file}`);
    const event = sampleEvent(file);

    const fact = sample.parse(event);

    expect(fact).toEqual(sample.expected);
  });
});

describe("parseStreamStateEvent", () => {
  it("accepts a Stream Start whose channel_name is empty", () => {
    const event = ivsEvent("stream-start.json", { detail: { channel_name: "" } });

    const fact = parseStreamStateEvent(event);

    expect(fact).toMatchObject({ kind: "streamStart", streamId: STREAM_ID });
  });

  it("accepts a Stream End without channel_name", () => {
    const event = ivsEvent("stream-end.json", { detail: { channel_name: undefined } });

    const fact = parseStreamStateEvent(event);

    expect(fact).toMatchObject({ kind: "streamEnd", streamId: STREAM_ID });
  });

  it("ignores an event name it does not know, saying which", () => {
    const event = ivsEvent("stream-start.json", { detail: { event_name: "Stream Takeover" } });

    const fact = parseStreamStateEvent(event);

    expect(fact).toEqual({ kind: "ignored", reason: "event_name Stream Takeover" });
  });

  it("ignores a Stream Failure even without stream_id", () => {
    const event = ivsEvent("stream-failure.json", { detail: { stream_id: undefined } });

    const fact = parseStreamStateEvent(event);

    expect(fact).toEqual({ kind: "ignored", reason: "event_name Stream Failure" });
  });

  it("ignores other detail-types of aws.ivs, saying which", () => {
    const recordingEvent = sampleEvent("recording-started.json");
    const limitBreach = ivsEvent("stream-start.json", { detail: { event_name: undefined } });
    limitBreach["detail-type"] = "IVS Limit Breach";

    const facts = [parseStreamStateEvent(recordingEvent), parseStreamStateEvent(limitBreach)];

    expect(facts).toEqual([
      { kind: "ignored", reason: "detail-type IVS Recording State Change" },
      { kind: "ignored", reason: "detail-type IVS Limit Breach" },
    ]);
  });
});

describe("parseRecordingStateEvent", () => {
  it("ignores a recording status it does not know, saying which", () => {
    const event = ivsEvent("recording-started.json", { detail: { recording_status: "Recording Paused" } });

    const fact = parseRecordingStateEvent(event);

    expect(fact).toEqual({ kind: "ignored", reason: "recording_status Recording Paused" });
  });

  it("ignores stream state changes, saying which", () => {
    const event = sampleEvent("stream-start.json");

    const fact = parseRecordingStateEvent(event);

    expect(fact).toEqual({ kind: "ignored", reason: "detail-type IVS Stream State Change" });
  });

  it("names every stream of the session once, the event's stream_id included, sorted", () => {
    const event = ivsEvent("recording-ended.json", {
      detail: { stream_id: "st-C", recording_session_stream_ids: ["st-B", "st-A", "st-B"] },
    });

    const fact = parseRecordingStateEvent(event);

    expect(fact).toMatchObject({ streamIds: ["st-A", "st-B", "st-C"] });
  });

  it("accepts a recording event without stream ids", () => {
    const event = ivsEvent("recording-ended.json", {
      detail: { stream_id: undefined, recording_session_stream_ids: undefined },
    });

    const fact = parseRecordingStateEvent(event);

    expect(fact).toMatchObject({ kind: "recordingEnd", streamIds: [] });
  });

  it("treats an empty bucket, prefix or reason as unknown and drops the prefix's trailing slash", () => {
    const empty = ivsEvent("recording-ended.json", {
      detail: { recording_s3_bucket_name: "", recording_s3_key_prefix: "", recording_status_reason: "" },
    });
    const slashed = ivsEvent("recording-ended.json", { detail: { recording_s3_key_prefix: `${PREFIX}/` } });

    const facts = [parseRecordingStateEvent(empty), parseRecordingStateEvent(slashed)];

    expect(facts[0]).toMatchObject({ bucket: undefined, prefix: undefined, reason: undefined });
    expect(facts[1]).toMatchObject({ bucket: BUCKET, prefix: PREFIX });
  });

  it("does not take the duration of a Recording Start, which IVS sends as 0", () => {
    const event = ivsEvent("recording-started.json", { detail: { recording_duration_ms: 0 } });

    const fact = parseRecordingStateEvent(event);

    expect(fact).toMatchObject({ kind: "recordingStart", durationMs: undefined });
  });
});

describe("malformed events", () => {
  const stream = () => sampleEvent("stream-start.json");
  const recordingEnd = () => sampleEvent("recording-ended.json");
  const cases: Array<[string, (event: unknown) => unknown, () => unknown, RegExp]> = [
    ["a stream event that is not an object", parseStreamStateEvent, () => "Stream Start", /expected object/],
    ["a recording event that is null", parseRecordingStateEvent, () => null, /expected object/],
    [
      "an event from another source",
      parseStreamStateEvent,
      () => ({ ...stream(), source: "aws.ec2" }),
      /source/,
    ],
    [
      "an event without resources",
      parseStreamStateEvent,
      () => ({ ...stream(), resources: [] }),
      /resources/,
    ],
    [
      "an event whose resources[0] is a chat room, not a channel",
      parseRecordingStateEvent,
      () => ({ ...recordingEnd(), resources: ["arn:aws:ivschat:us-east-1:123456789012:room/0wgOPVl4ZRdu"] }),
      /resources/,
    ],
    [
      "an event whose time is not a time",
      parseStreamStateEvent,
      () => ({ ...stream(), time: "yesterday" }),
      /time/,
    ],
    [
      "an event without time",
      parseRecordingStateEvent,
      () => ({ ...recordingEnd(), time: undefined }),
      /time/,
    ],
    [
      "a stream event without detail",
      parseStreamStateEvent,
      () => ({ ...stream(), detail: undefined }),
      /detail/,
    ],
    [
      "a recording event whose detail is not an object",
      parseRecordingStateEvent,
      () => ({ ...recordingEnd(), detail: "Recording End" }),
      /detail/,
    ],
    [
      "a Stream Start without stream_id",
      parseStreamStateEvent,
      () => ivsEvent("stream-start.json", { detail: { stream_id: undefined } }),
      /stream_id/,
    ],
    [
      "a Stream End with an empty stream_id",
      parseStreamStateEvent,
      () => ivsEvent("stream-end.json", { detail: { stream_id: "" } }),
      /stream_id/,
    ],
    [
      "a Stream Start without event_name",
      parseStreamStateEvent,
      () => ivsEvent("stream-start.json", { detail: { event_name: undefined } }),
      /event_name/,
    ],
    [
      "a recording event without recording_session_id",
      parseRecordingStateEvent,
      () => ivsEvent("recording-ended.json", { detail: { recording_session_id: undefined } }),
      /recording_session_id/,
    ],
    [
      "a recording event with an empty recording_session_id",
      parseRecordingStateEvent,
      () => ivsEvent("recording-started.json", { detail: { recording_session_id: "" } }),
      /recording_session_id/,
    ],
    [
      "a recording event with a negative recording_duration_ms",
      parseRecordingStateEvent,
      () => ivsEvent("recording-ended.json", { detail: { recording_duration_ms: -1 } }),
      /recording_duration_ms/,
    ],
    [
      "a recording event whose recording_session_stream_ids is not a list",
      parseRecordingStateEvent,
      () => ivsEvent("recording-ended.json", { detail: { recording_session_stream_ids: "st-1" } }),
      /recording_session_stream_ids/,
    ],
  ];

  it.each(cases)("throw a ValidationError naming the bad field for %s", (_, parse, build, field) => {
    const event = build();

    const error = errorOf(() => parse(event));

    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/^malformed IVS (Stream|Recording) State Change event: /);
    expect((error as Error).message).toMatch(field);
  });

  it("keep the schema's complaint as the cause", () => {
    const event = { ...stream(), source: "aws.ec2" };

    const error = errorOf(() => parseStreamStateEvent(event));

    expect((error as Error).cause).toBeDefined();
  });
});
