import { z } from "zod";
import { ValidationError } from "../errors";
import { CHANNEL_ARN } from "../sessions/events";
import type { ArchiveRequest } from "../sessions/model";
import { CHAIN_ID } from "./checkpoint";

const How = {
  force: z.boolean().optional(),
  chain: z.string().regex(CHAIN_ID, "chain is not a chain id").optional(),
  run: z.number().int().positive().optional(),
};

const Request = z.union([
  z.object({ recordingSessionId: z.string().min(1), ...How }),
  z.object({
    channelArn: z.string().regex(CHANNEL_ARN, "channelArn is not an IVS channel ARN"),
    streamId: z.string().min(1),
    ...How,
  }),
]);

/** Parses an archive request: `{"channelArn","streamId"}` or `{"recordingSessionId"}` (redrive payloads, queue bodies). */
export function parseArchiveRequest(payload: unknown): ArchiveRequest {
  const parsed = Request.safeParse(payload);
  if (!parsed.success) {
    throw new ValidationError(
      `archive needs {"channelArn": "arn:aws:ivs:...:channel/...", "streamId": "st-..."} or {"recordingSessionId": "..."} (and optionally "force": true); got ${JSON.stringify(payload)?.slice(0, 200)}`,
      { cause: parsed.error },
    );
  }
  const { force, chain, run } = parsed.data;
  const how = { ...(force ? { force } : {}), ...(chain === undefined ? {} : { chain, run: run ?? 1 }) };
  return "recordingSessionId" in parsed.data
    ? { recordingSessionId: parsed.data.recordingSessionId, ...how }
    : { channelArn: parsed.data.channelArn, streamId: parsed.data.streamId, ...how };
}
