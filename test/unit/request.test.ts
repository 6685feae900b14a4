import { describe, expect, it } from "vitest";
import { parseArchiveRequest } from "../../src/archive/request";
import { ValidationError } from "../../src/errors";

const CHANNEL = "arn:aws:ivs:us-east-1:123456789012:channel/AbCdef1G2hij";
const USAGE =
  'archive needs {"channelArn": "arn:aws:ivs:...:channel/...", "streamId": "st-..."} or {"recordingSessionId": "..."} (and optionally "force": true)';

/** The message a payload is refused with, from the usage on. */
function refusal(payload: unknown): string {
  try {
    parseArchiveRequest(payload);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(payload)}`);
}

describe("parseArchiveRequest", () => {
  it("takes a stream or a recording session, with force, and leaves out a force of false", () => {
    expect(parseArchiveRequest({ channelArn: CHANNEL, streamId: "st-1", force: true })).toEqual({
      channelArn: CHANNEL,
      streamId: "st-1",
      force: true,
    });
    expect(parseArchiveRequest({ recordingSessionId: "r1", force: false })).toEqual({
      recordingSessionId: "r1",
    });
  });

  it.each([
    [{ channelArn: CHANNEL, streamId: "st-1", forse: true }, 'unknown key "forse"'],
    [
      { recordingSessionId: "r1", channelArn: CHANNEL, streamId: "st-1" },
      "a recording session or a stream, not both",
    ],
    [{ channelArn: CHANNEL, streamId: "st-1", force: "true" }, 'force must be true or false, not "true"'],
    [{ channelArn: CHANNEL, streamId: 123 }, "streamId must be a string, not number"],
    [{ recordingSessionId: 42 }, "recordingSessionId must be a string, not number"],
    [{ channelArn: "bogus", streamId: "st-1" }, "channelArn is not an IVS channel ARN"],
    [{ streamId: "st-1" }, "channelArn is missing"],
    [{ recordingSessionId: "" }, "recordingSessionId is empty"],
  ])("refuses %j saying what is wrong", (payload, problem) => {
    expect(refusal(payload)).toBe(`${USAGE}: ${problem}; got ${JSON.stringify(payload)}`);
  });

  it.each([[{}], [[]], ["st-1"], [null]])("refuses %j with the payloads it takes", (payload) => {
    expect(refusal(payload)).toBe(`${USAGE}; got ${JSON.stringify(payload)}`);
  });
});
