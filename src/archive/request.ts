import { z } from "zod";
import { ValidationError } from "../errors";
import { CHANNEL_ARN } from "../sessions/events";
import type { ArchiveRequest } from "../sessions/model";
import { CHAIN_ID } from "./checkpoint";

/** A value's JSON type, for messages. */
function jsonType(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "a list" : typeof value;
}

/** A non-empty string field whose problems are said by its name. */
const text = (name: string) =>
  z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? `${name} is missing`
          : `${name} must be a string, not ${jsonType(issue.input)}`,
    })
    .min(1, `${name} is empty`);

const How = {
  force: z
    .boolean({ error: (issue) => `force must be true or false, not ${JSON.stringify(issue.input)}` })
    .optional(),
  // Set by the archive itself on the continuations it queues.
  chain: z.string().regex(CHAIN_ID, "chain is not a chain id").optional(),
  run: z.number().int().positive("run must be a whole number from 1").optional(),
};

// Strict: a misspelt key ("forse") is refused rather than dropped, so nobody believes it was applied.
const ByRecording = z.strictObject({ recordingSessionId: text("recordingSessionId"), ...How });
const ByStream = z.strictObject({
  channelArn: text("channelArn").regex(CHANNEL_ARN, "channelArn is not an IVS channel ARN"),
  streamId: text("streamId"),
  ...How,
});

const USAGE =
  'archive needs {"channelArn": "arn:aws:ivs:...:channel/...", "streamId": "st-..."} or {"recordingSessionId": "..."} (and optionally "force": true)';

/**
 * Parses an archive request: `{"channelArn","streamId"}` or `{"recordingSessionId"}` (redrive
 * payloads, queue bodies). A payload that is not one says what is wrong with it.
 */
export function parseArchiveRequest(payload: unknown): ArchiveRequest {
  const got = `got ${JSON.stringify(payload)?.slice(0, 200)}`;
  const record = typeof payload === "object" && payload !== null && !Array.isArray(payload) ? payload : {};
  const byRecording = "recordingSessionId" in record;
  const byStream = "channelArn" in record || "streamId" in record;
  if (byRecording === byStream) {
    const why = byRecording ? ": a recording session or a stream, not both" : "";
    throw new ValidationError(`${USAGE}${why}; ${got}`);
  }
  const parsed = (byRecording ? ByRecording : ByStream).safeParse(payload);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      issue.code === "unrecognized_keys"
        ? `unknown ${issue.keys.length === 1 ? "key" : "keys"} ${issue.keys.map((key) => JSON.stringify(key)).join(", ")}`
        : issue.message,
    );
    throw new ValidationError(`${USAGE}: ${problems.join("; ")}; ${got}`, { cause: parsed.error });
  }
  const { force, chain, run } = parsed.data;
  const how = { ...(force ? { force } : {}), ...(chain === undefined ? {} : { chain, run: run ?? 1 }) };
  return "recordingSessionId" in parsed.data
    ? { recordingSessionId: parsed.data.recordingSessionId, ...how }
    : { channelArn: parsed.data.channelArn, streamId: parsed.data.streamId, ...how };
}
