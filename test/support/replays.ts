import { gunzipSync } from "node:zlib";
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { buildReplay, parseInstant, type RecordingRef, type ReplayCounts } from "../../src/replay";

/** A version 1 replay as a player reads it. */
export interface ReplayJson {
  version: number;
  channelArn: string | null;
  roomArn: string | null;
  streamIds: string[];
  recording: RecordingRef | null;
  window: { start: string | null; end: string | null };
  offsetBase: string | null;
  counts: ReplayCounts;
  messages: { id: string; offsetMs: number; sendTime: string; content: string }[];
  events: { id: string; offsetMs: number; sendTime: string; name: string }[];
}

/** A replay object as S3 serves it: its headers, its bytes as stored, and its text and JSON once decoded. */
export interface StoredReplay {
  contentType: string | undefined;
  contentEncoding: string | undefined;
  cacheControl: string | undefined;
  stored: Buffer;
  text: string;
  json: ReplayJson;
}

/** Reads a replay object, gunzipping it when S3 says it is gzip-encoded. */
export async function getReplayObject(s3: S3Client, bucket: string, key: string): Promise<StoredReplay> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const stored = Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
  const text = (out.ContentEncoding === "gzip" ? gunzipSync(stored) : stored).toString("utf8");
  return {
    contentType: out.ContentType,
    contentEncoding: out.ContentEncoding,
    cacheControl: out.CacheControl,
    stored,
    text,
    json: JSON.parse(text) as ReplayJson,
  };
}

/** True when the object exists. */
export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as Error).name === "NotFound" || (error as Error).name === "NoSuchKey") return false;
    throw error;
  }
}

/** What the archive should have written, in the archive's terms but computed apart from it. */
export interface ExpectedReplay {
  window: { start: number; end: number };
  offsetBase: number;
  channelArn: string;
  roomArn: string;
  streamIds: string[];
  recording: RecordingRef | null;
  /** The recording's timeline (rule 8), in epoch ms; absent: one open piece at `offsetBase`. */
  timeline?: { start: number; end: number | null; mediaMs: number }[];
}

function instantAt(ms: number) {
  const instant = parseInstant(new Date(ms).toISOString());
  if (instant === undefined) throw new Error(`not an instant: ${ms}`);
  return instant;
}

/** The replay the offline core builds from these lines with the window and header the archive should use. */
export async function expectedReplayText(
  lines: readonly string[],
  expected: ExpectedReplay,
): Promise<string> {
  const replay = await buildReplay(lines, {
    window: { start: instantAt(expected.window.start), end: instantAt(expected.window.end) },
    offsetBase: instantAt(expected.offsetBase),
    channelArn: expected.channelArn,
    roomArn: expected.roomArn,
    streamIds: expected.streamIds,
    recording: expected.recording,
    ...(expected.timeline && {
      timeline: expected.timeline.map((piece) => ({
        start: instantAt(piece.start),
        end: piece.end === null ? null : instantAt(piece.end),
        mediaMs: piece.mediaMs,
      })),
    }),
  });
  return replay.text();
}
