import { EventBridgeSchema } from "@aws-lambda-powertools/parser/schemas/eventbridge";
import { z } from "zod";
import { ValidationError } from "../errors";

/** The shape of an IVS channel ARN. */
export const CHANNEL_ARN = /^arn:aws[a-z-]*:ivs:[a-z0-9-]+:\d{12}:channel\/[A-Za-z0-9]+$/;

const IvsEnvelope = EventBridgeSchema.extend({
  source: z.literal("aws.ivs"),
  resources: z.array(z.string()).min(1, "resources[0] must be the channel ARN"),
}).refine((event) => CHANNEL_ARN.test(event.resources[0] ?? ""), {
  message: "resources[0] is not an IVS channel ARN",
  path: ["resources", 0],
});

const StreamStateDetail = z.object({
  event_name: z.string().min(1),
  channel_name: z.string().optional(),
  stream_id: z.string().optional(),
});

const RecordingStateDetail = z.object({
  recording_status: z.string().min(1),
  recording_status_reason: z.string().optional(),
  channel_name: z.string().optional(),
  stream_id: z.string().optional(),
  recording_s3_bucket_name: z.string().optional(),
  recording_s3_key_prefix: z.string().optional(),
  recording_duration_ms: z.coerce.number().int().nonnegative().optional(),
  recording_session_id: z.string().min(1, "recording_session_id is required"),
  recording_session_stream_ids: z.array(z.string().min(1)).optional(),
});

/** A fact about one stream of a channel, from `IVS Stream State Change`. */
export interface StreamFact {
  kind: "streamStart" | "streamEnd";
  channelArn: string;
  streamId: string;
  at: Date;
}

/** A fact about a recording session, from `IVS Recording State Change`. */
export interface RecordingFact {
  kind: "recordingStart" | "recordingEnd" | "recordingStartFailure" | "recordingEndFailure";
  channelArn: string;
  sessionId: string;
  /** Every stream id the event names (the session's list plus `stream_id`). */
  streamIds: string[];
  at: Date;
  bucket?: string;
  prefix?: string;
  durationMs?: number;
  reason?: string;
}

/** An event this service has no use for, and why. */
export interface Ignored {
  kind: "ignored";
  reason: string;
}

function invalid(what: string, error: z.ZodError, within: string[] = []): ValidationError {
  const problems = error.issues.map(
    (issue) => `${[...within, ...issue.path].join(".") || "(event)"}: ${issue.message}`,
  );
  return new ValidationError(`malformed ${what} event: ${problems.join("; ")}`, { cause: error });
}

function envelope(event: unknown, what: string) {
  const parsed = IvsEnvelope.safeParse(event);
  if (!parsed.success) throw invalid(what, parsed.error);
  return { ...parsed.data, channelArn: parsed.data.resources[0] as string, at: new Date(parsed.data.time) };
}

/** Parses an `IVS Stream State Change` event; other types and names are ignored, malformed ones throw. */
export function parseStreamStateEvent(event: unknown): StreamFact | Ignored {
  const what = "IVS Stream State Change";
  const base = envelope(event, what);
  if (base["detail-type"] !== what) return { kind: "ignored", reason: `detail-type ${base["detail-type"]}` };
  const detail = StreamStateDetail.safeParse(base.detail);
  if (!detail.success) throw invalid(what, detail.error, ["detail"]);
  const kind = { "Stream Start": "streamStart", "Stream End": "streamEnd" } as const;
  const name = detail.data.event_name;
  if (name !== "Stream Start" && name !== "Stream End")
    return { kind: "ignored", reason: `event_name ${name}` };
  if (!detail.data.stream_id) {
    throw new ValidationError(`malformed ${what} event: detail.stream_id is required for ${name}`);
  }
  return { kind: kind[name], channelArn: base.channelArn, streamId: detail.data.stream_id, at: base.at };
}

const RECORDING_KINDS: Record<string, RecordingFact["kind"]> = {
  "Recording Start": "recordingStart",
  "Recording End": "recordingEnd",
  "Recording Start Failure": "recordingStartFailure",
  "Recording End Failure": "recordingEndFailure",
};

/** Parses an `IVS Recording State Change` event; other types and statuses are ignored, malformed ones throw. */
export function parseRecordingStateEvent(event: unknown): RecordingFact | Ignored {
  const what = "IVS Recording State Change";
  const base = envelope(event, what);
  if (base["detail-type"] !== what) return { kind: "ignored", reason: `detail-type ${base["detail-type"]}` };
  const parsed = RecordingStateDetail.safeParse(base.detail);
  if (!parsed.success) throw invalid(what, parsed.error, ["detail"]);
  const detail = parsed.data;
  const kind = RECORDING_KINDS[detail.recording_status];
  if (kind === undefined) return { kind: "ignored", reason: `recording_status ${detail.recording_status}` };
  const streamIds = new Set(detail.recording_session_stream_ids ?? []);
  if (detail.stream_id) streamIds.add(detail.stream_id);
  return {
    kind,
    channelArn: base.channelArn,
    sessionId: detail.recording_session_id,
    streamIds: [...streamIds].sort(),
    at: base.at,
    bucket: detail.recording_s3_bucket_name || undefined,
    prefix: detail.recording_s3_key_prefix?.replace(/\/+$/, "") || undefined,
    durationMs: kind === "recordingStart" ? undefined : detail.recording_duration_ms,
    reason: detail.recording_status_reason || undefined,
  };
}
