import { z } from "zod";
import { ValidationError } from "../errors";
import { CHANNEL_ARN } from "../sessions/events";
import type { ArchiveRequest } from "../sessions/model";

const Request = z.union([
  z.object({ recordingSessionId: z.string().min(1) }),
  z.object({
    channelArn: z.string().regex(CHANNEL_ARN, "channelArn is not an IVS channel ARN"),
    streamId: z.string().min(1),
  }),
]);

/** Parses an archive request: `{"channelArn","streamId"}` or `{"recordingSessionId"}` (redrive payloads, queue bodies). */
export function parseArchiveRequest(payload: unknown): ArchiveRequest {
  const parsed = Request.safeParse(payload);
  if (!parsed.success) {
    throw new ValidationError(
      `archive needs {"channelArn": "arn:aws:ivs:...:channel/...", "streamId": "st-..."} or {"recordingSessionId": "..."}; got ${JSON.stringify(payload)?.slice(0, 200)}`,
      { cause: parsed.error },
    );
  }
  return "recordingSessionId" in parsed.data
    ? { recordingSessionId: parsed.data.recordingSessionId }
    : { channelArn: parsed.data.channelArn, streamId: parsed.data.streamId };
}
