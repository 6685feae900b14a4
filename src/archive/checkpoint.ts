import { z } from "zod";
import { parseEngineState } from "../replay";
import type { BroadcastKey } from "../sessions/model";
import { type ChatLogSource, SLICE_RANKS, type SlicePosition } from "./ports";

/** Bumped whenever the checkpoint's meaning changes: a checkpoint of another version is discarded. */
// 7: ids with a lone surrogate are stored as WTF-8 in id pages and runs (they were U+FFFD).
// 8: slices carry a rank (records' log positions follow it), as a slice split while read adds one.
export const CHECKPOINT_VERSION = 8;
const FORMAT = "ivs-chat-archiver/checkpoint";
// GetLogEvents tokens expire after 24 hours; a checkpoint older than this is a leftover. (Version 5:
// the log may be in S3, where a token is `<lines read>:<object key>`.)
const MAX_AGE_MS = 12 * 60 * 60 * 1000;

/** A chain id names the chain's objects in S3: a short, plain word. */
export const CHAIN_ID = /^[A-Za-z0-9-]{1,64}$/;

const Slice = z
  .object({
    start: z.number().int(),
    end: z.number().int(),
    token: z.string().min(1).optional(),
    read: z.number().int().nonnegative(),
    done: z.boolean(),
    rank: z.number().int().nonnegative().lt(SLICE_RANKS),
  })
  .refine((slice) => slice.start <= slice.end, "a slice ends before it starts");

const Schema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(CHECKPOINT_VERSION),
  broadcast: z.string().min(1),
  chain: z.string().regex(CHAIN_ID),
  run: z.number().int().positive(),
  savedAt: z.number().int(),
  window: z.object({ start: z.string().nullable(), end: z.string().nullable() }),
  source: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("cloudwatch"), logGroupName: z.string(), logStreamName: z.string() }),
    z.object({ kind: z.literal("s3"), bucket: z.string(), prefix: z.string() }),
  ]),
  read: z.object({ start: z.number().int(), end: z.number().int() }),
  slices: z.array(Slice).min(1),
  engine: z.unknown().transform((value) => parseEngineState(value)),
});

/** Where a chain of runs stands after one of them: small, versioned, validated when read back. */
export type Checkpoint = z.infer<typeof Schema>;

/** The form in which a checkpoint names its broadcast. */
export function broadcastName(key: BroadcastKey): string {
  return "recordingSessionId" in key
    ? `recording/${key.recordingSessionId}`
    : `stream/${key.channelArn}/${key.streamId}`;
}

/** A new checkpoint document. */
export function checkpointOf(fields: Omit<Checkpoint, "format" | "version">): Checkpoint {
  return { format: FORMAT, version: CHECKPOINT_VERSION, ...fields };
}

/** What a checkpoint must agree with to be continued: the same broadcast, chain, window and log. */
export interface Expected {
  broadcast: string;
  chain: string;
  window: { start: string | null; end: string | null };
  source: ChatLogSource;
  now: number;
}

/** The checkpoint if it is one this run may continue; otherwise why not (the archive then starts over). */
export function validateCheckpoint(json: unknown, expected: Expected): Checkpoint | { rejected: string } {
  const version = (json as { version?: unknown } | null)?.version;
  if (typeof json === "object" && json !== null && version !== CHECKPOINT_VERSION) {
    return { rejected: `it is of version ${JSON.stringify(version ?? null)}, not ${CHECKPOINT_VERSION}` };
  }
  const parsed = Schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { rejected: `it is not valid (${issue?.path.join(".") || "document"}: ${issue?.message})` };
  }
  const checkpoint = parsed.data;
  if (checkpoint.broadcast !== expected.broadcast || checkpoint.chain !== expected.chain) {
    return { rejected: `it belongs to ${checkpoint.broadcast} (chain ${checkpoint.chain})` };
  }
  if (checkpoint.window.start !== expected.window.start || checkpoint.window.end !== expected.window.end) {
    return { rejected: "it was taken for another window (a later event moved the broadcast's start or end)" };
  }
  if (JSON.stringify(checkpoint.source) !== JSON.stringify(expected.source)) {
    return { rejected: "it was taken reading another chat log" };
  }
  if (expected.now - checkpoint.savedAt > MAX_AGE_MS) {
    return { rejected: "it is older than 12 hours (its log tokens may have expired)" };
  }
  if (!slicesCover(checkpoint.slices, checkpoint.read)) {
    return { rejected: "its slices do not cover its read range" };
  }
  if (
    !checkpoint.slices.every(
      (slice, i) => i === 0 || slice.rank > (checkpoint.slices[i - 1] as SlicePosition).rank,
    )
  ) {
    return { rejected: "its slices' ranks are not in time order" };
  }
  return checkpoint;
}

function slicesCover(slices: readonly SlicePosition[], read: { start: number; end: number }): boolean {
  let at = read.start;
  for (const slice of slices) {
    if (slice.start !== at) return false;
    at = slice.end;
  }
  return at === read.end;
}
