import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** The folder of real-shaped EventBridge events that `serverless invoke local --path` plays. */
export const EVENTS_DIR = resolve(__dirname, "..", "..", "events");

/** The channel every sample event is about. */
export const CHANNEL_ARN = "arn:aws:ivs:us-east-1:123456789012:channel/AbCdef1G2hij";
/** The other names the samples in events/ use. */
export const STREAM_ID = "st-1A2b3c4D5e6F78ghij9Klmn";
export const SESSION_ID = "a6RfV23ES97iyfoQ";
export const ROOM_ARN = "arn:aws:ivschat:us-east-1:123456789012:room/0wgOPVl4ZRdu";
export const BUCKET = "ivs-recordings-example";
export const PREFIX = "ivs/v1/123456789012/AbCdef1G2hij/2024/1/5/14/30/a6RfV23ES97iyfoQ";

/** An EventBridge event from `aws.ivs`, as the samples under events/ hold it. */
export interface IvsEvent {
  version: string;
  id: string;
  "detail-type": string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** The sample files of events/ that are EventBridge events (the others are archive redrive payloads). */
export function ivsSampleFiles(): string[] {
  return readdirSync(EVENTS_DIR)
    .filter((file) => file.endsWith(".json"))
    .filter(
      (file) => (JSON.parse(readFileSync(join(EVENTS_DIR, file), "utf8")) as { source?: unknown }).source,
    )
    .sort();
}

/** A fresh copy of a sample of events/ (`stream-start.json`), safe to change in one test. */
export function sampleEvent(file: string): IvsEvent {
  return JSON.parse(readFileSync(join(EVENTS_DIR, file), "utf8")) as IvsEvent;
}

/** Changes to a sample; a detail field set to `undefined` is removed. */
export interface EventOverrides {
  time?: string;
  channelArn?: string;
  detail?: Record<string, unknown>;
}

/** A copy of a sample with its time, channel and detail fields replaced. */
export function ivsEvent(file: string, overrides: EventOverrides = {}): IvsEvent {
  const event = sampleEvent(file);
  if (overrides.time !== undefined) event.time = overrides.time;
  if (overrides.channelArn !== undefined) event.resources = [overrides.channelArn];
  for (const [key, value] of Object.entries(overrides.detail ?? {})) {
    if (value === undefined) delete event.detail[key];
    else event.detail[key] = value;
  }
  return event;
}

/** An `IVS Stream State Change` of one stream. */
export function streamStateEvent(
  eventName: string,
  stream: { streamId: string; time: string; channelArn?: string },
): IvsEvent {
  return ivsEvent("stream-start.json", {
    time: stream.time,
    ...(stream.channelArn !== undefined && { channelArn: stream.channelArn }),
    detail: { event_name: eventName, stream_id: stream.streamId },
  });
}

/** What an `IVS Recording State Change` says about its recording session. */
export interface RecordingEventFields {
  sessionId: string;
  /** `recording_session_stream_ids`; the last one is also the event's `stream_id`. */
  streamIds: string[];
  time: string;
  bucket?: string;
  prefix?: string;
  durationMs?: number;
  reason?: string;
  channelArn?: string;
}

/** An `IVS Recording State Change` (`Recording Start`, `Recording End`, ... as `recording_status`). */
export function recordingStateEvent(status: string, fields: RecordingEventFields): IvsEvent {
  return ivsEvent("recording-ended.json", {
    time: fields.time,
    ...(fields.channelArn !== undefined && { channelArn: fields.channelArn }),
    detail: {
      recording_status: status,
      recording_status_reason: fields.reason ?? "",
      stream_id: fields.streamIds.at(-1),
      recording_session_id: fields.sessionId,
      recording_session_stream_ids: fields.streamIds,
      recording_s3_bucket_name: fields.bucket ?? "",
      recording_s3_key_prefix: fields.prefix ?? "",
      recording_duration_ms: fields.durationMs ?? 0,
    },
  });
}
