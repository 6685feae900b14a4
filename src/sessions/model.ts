import { ValidationError } from "../errors";
import type { ReplayCounts, TimelineJson } from "../replay";
import type { RecordingFact, StreamFact } from "./events";

/** A channel's room set with `cli link`, and where that room's log lies in S3 when it gets there through Firehose. */
export interface ChannelLink {
  roomArn: string;
  chatLogS3Uri?: string;
}

/**
 * The outcome of the last archive of a broadcast, kept on its item. A failed attempt keeps the
 * location, window, counts and `readUntil` of the replay archived before it, if any.
 */
export interface ArchiveState {
  status: "archived" | "failed";
  at: string;
  reason?: string;
  location?: { bucket: string; key: string };
  window?: { start: string | null; end: string | null };
  counts?: ReplayCounts;
  /** How far the archived replay read the log (ISO): a run that read less never replaces it. */
  readUntil?: string;
  /** Where the chat was read: `s3://bucket/prefix` or `logs:<log group>:<log stream>`. */
  chatLog?: string;
}

/** Seconds between a broadcast's end and the first read of its chat, by where the log is (SETTLE_SECONDS unset). */
export const DEFAULT_SETTLE_SECONDS = { cloudwatch: 60, s3: 360 } as const;

/** A run's claim to write a broadcast's replay: who it is, how far it read, until when the claim holds. */
export interface ArchiveClaim {
  owner: string;
  readUntil: string;
  expiresAt: string;
  /** Replace a replay that read further (a redrive with force). */
  force: boolean;
}

/** Whether a claim was granted; when not, the archive state that stood in its way or the run holding the claim. */
export type ClaimResult =
  | { granted: true }
  | { granted: false; newer: ArchiveState }
  | { granted: false; heldBy: string; heldReadUntil?: string };

/** What the table knows of one stream (times are ISO strings; start is the earliest seen, end the latest). */
export interface StreamRecord {
  streamId: string;
  channelArn: string;
  startAt?: string;
  endAt?: string;
  recordingSessionId?: string;
  archive?: ArchiveState;
}

/** A recording failure as IVS reported it. */
export interface RecordingFailure {
  at: string;
  reason?: string;
}

/** What the table knows of one recording session, which may merge several streams. */
export interface RecordingRecord {
  sessionId: string;
  channelArn: string;
  streamIds: string[];
  bucket?: string;
  prefix?: string;
  /** Time of the earliest `Recording Start`. */
  startAt?: string;
  /** Time of the latest `Recording End`. */
  endAt?: string;
  durationMs?: number;
  startFailure?: RecordingFailure;
  endFailure?: RecordingFailure;
  archive?: ArchiveState;
}

/** A broadcast: a recording session, or a stream that may not be recorded. */
export type BroadcastKey = { recordingSessionId: string } | { channelArn: string; streamId: string };

/**
 * Which broadcast to archive, and how: `force` replaces a replay even if it read further;
 * `chain` and `run` continue a chain of runs from its checkpoint.
 */
export type ArchiveRequest = BroadcastKey & { force?: boolean; chain?: string; run?: number };

/** Deletions made this long after a broadcast's end still apply: the last archive reads that far (SPEC section 8). */
export const DELETIONS_GRACE_MS = 60 * 60 * 1000;

/** A broadcast item the sweep looks at (SPEC section 8): a stream's or a recording session's. */
export type SweepTarget = BroadcastKey;

/** An entry of the sweep's index of pending work: the item, when it is due (epoch seconds), how often the sweep queued it. */
export interface DueEntry {
  target: SweepTarget;
  dueAt: number;
  attempts: number;
}

/** The persistence the tracking and archive use cases need; src/aws/sessionsTable.ts implements it. */
export interface SessionsStore {
  /** Merges a stream fact; `changed` is false when an earlier start (or later end) was already known. */
  recordStream(fact: StreamFact): Promise<{ stream: StreamRecord; changed: boolean }>;
  /** Merges a recording fact; never erases what an earlier, fuller event stored. */
  recordRecording(fact: RecordingFact): Promise<{ recording: RecordingRecord; changed: boolean }>;
  /** Marks streams as part of a recording session; returns them as stored now. */
  attachStreams(channelArn: string, streamIds: readonly string[], sessionId: string): Promise<StreamRecord[]>;
  /** Streams are keyed by channel and id: an id another channel reuses is another stream. */
  getStream(channelArn: string, streamId: string): Promise<StreamRecord | undefined>;
  getStreams(channelArn: string, streamIds: readonly string[]): Promise<StreamRecord[]>;
  getRecording(sessionId: string): Promise<RecordingRecord | undefined>;
  getLink(channelArn: string): Promise<ChannelLink | undefined>;
  putLink(channelArn: string, link: ChannelLink): Promise<void>;
  /** Takes the right to write the broadcast's replay (SPEC section 8: the newest read wins). */
  claimArchive(key: BroadcastKey, claim: ArchiveClaim): Promise<ClaimResult>;
  /**
   * Records the archived replay and gives the claim back; fails if `owner` no longer holds it.
   * `due` is when the sweep looks at the broadcast next (`null`: never; `undefined`: as before).
   */
  completeArchive(
    key: BroadcastKey,
    state: ArchiveState,
    owner: string,
    due: number | null | undefined,
  ): Promise<void>;
  /** Gives a claim back unused (the write failed), so a retry need not wait for it to expire; a no-op if `owner` no longer holds it. */
  releaseClaim(key: BroadcastKey, owner: string): Promise<void>;
  /** Forgets a broadcast's archive state and its sweep entry (a stream archived alone before its recording was known). */
  clearArchive(key: BroadcastKey): Promise<void>;
  /** Records a failed attempt, keeping what the item says of a replay archived before; the sweep no longer looks at it. */
  failArchive(key: BroadcastKey, reason: string, at: string): Promise<void>;
  /**
   * Puts the item in the sweep's index, due at `dueAt` (epoch seconds), or takes it out (`null`).
   * With `expected`, only if the item is still due at that time (one sweep of several wins);
   * returns whether it was changed. An item that does not exist is not created.
   */
  setDue(
    target: SweepTarget,
    dueAt: number | null,
    options?: { expected?: number; attempts?: number },
  ): Promise<boolean>;
  /** The entries due at or before `now` (epoch seconds), oldest first. */
  dueEntries(now: number): AsyncIterable<DueEntry>;
}

/** Sends a broadcast to the archive queue. */
export interface ArchiveScheduler {
  schedule(request: ArchiveRequest, delaySeconds: number): Promise<void>;
}

/** True once IVS has recorded anything of the session (a failed start alone means nothing was recorded). */
export function isRecorded(recording: RecordingRecord | undefined): recording is RecordingRecord {
  return recording !== undefined && (recording.startAt !== undefined || isFinished(recording));
}

/** True once the recording session is over: IVS sends Recording End after the reconnect window. */
export function isFinished(recording: RecordingRecord): boolean {
  return recording.endAt !== undefined || recording.endFailure !== undefined;
}

function earliest(times: (string | undefined)[]): string | undefined {
  return times.filter((t): t is string => t !== undefined).sort()[0];
}

function latest(times: (string | undefined)[]): string | undefined {
  return times
    .filter((t): t is string => t !== undefined)
    .sort()
    .at(-1);
}

function plusMs(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

/** Stream times IVS can give when an event is missing (GetStreamSession). */
export interface SessionTimes {
  startTime?: Date;
  endTime?: Date;
}

/** A broadcast's window and offset base (SPEC sections 2 and 3); `null` where nothing tells. */
export interface BroadcastTimes {
  window: { start: string | null; end: string | null };
  offsetBase: string | null;
}

/**
 * The window runs from the earliest Stream Start to the latest Stream End of the broadcast's
 * streams. A stream whose event never came takes IVS's stream session time instead (`sessions`,
 * by stream id); when a stream has neither, the recording's own times (start, start + duration,
 * end) stand in, so one lost event does not lose the broadcast.
 */
export function broadcastTimes(
  streams: readonly StreamRecord[],
  recording: RecordingRecord | undefined,
  sessions: ReadonlyMap<string, SessionTimes> = new Map(),
): BroadcastTimes {
  const recorded = isRecorded(recording) ? recording : undefined;
  const starts = streams.map((s) => s.startAt ?? sessions.get(s.streamId)?.startTime?.toISOString());
  const ends = streams.map((s) => s.endAt ?? sessions.get(s.streamId)?.endTime?.toISOString());
  // With one stream's time unknown, the earliest (latest) known one may belong to another stream.
  const allStarts = streams.length > 0 && starts.every((t) => t !== undefined);
  const allEnds = streams.length > 0 && ends.every((t) => t !== undefined);
  const start =
    (allStarts ? earliest(starts) : undefined) ??
    recorded?.startAt ??
    (recorded?.endAt !== undefined && recorded.durationMs !== undefined
      ? plusMs(recorded.endAt, -recorded.durationMs)
      : undefined) ??
    earliest(starts);
  const end =
    (allEnds ? latest(ends) : undefined) ??
    (recorded?.startAt !== undefined && recorded.durationMs !== undefined
      ? plusMs(recorded.startAt, recorded.durationMs)
      : undefined) ??
    recorded?.endAt ??
    latest(ends);
  return {
    window: { start: start ?? null, end: end ?? null },
    offsetBase: recorded?.startAt ?? start ?? null,
  };
}

/**
 * The timeline of a recording from its streams (SPEC rule 8 (b)): each stream's `[start, end)`
 * is a piece, in start order, the first one starting at the recording's start; each piece's
 * `mediaMs` is the sum of the earlier pieces' lengths. Pieces in the header's form (ISO times). A stream whose start is unknown, or one
 * before the last whose end is, leaves it undefined (the caller falls back to one open piece).
 */
export function streamPieces(
  streams: readonly StreamRecord[],
  recordingStart: string,
  sessions: ReadonlyMap<string, SessionTimes> = new Map(),
): TimelineJson[] | undefined {
  const spans = streams.map((s) => ({
    start: s.startAt ?? sessions.get(s.streamId)?.startTime?.toISOString(),
    end: s.endAt ?? sessions.get(s.streamId)?.endTime?.toISOString(),
  }));
  if (spans.length === 0 || spans.some((span) => span.start === undefined)) return undefined;
  spans.sort((a, b) => ((a.start as string) < (b.start as string) ? -1 : 1));
  const pieces: TimelineJson[] = [];
  let mediaMs = 0;
  for (const [i, span] of spans.entries()) {
    const before = pieces[pieces.length - 1];
    if (before !== undefined && before.end === null) return undefined;
    // Streams never overlap in a recording; were they to, the later one starts where the earlier ends.
    const start =
      i === 0 ? recordingStart : (latest([span.start, before?.end ?? undefined]) ?? recordingStart);
    const end = span.end ?? null;
    if (end !== null && end <= start) continue;
    pieces.push({ start, end, mediaMs });
    if (end !== null) mediaMs += Date.parse(end) - Date.parse(start);
  }
  return pieces.length > 0 ? pieces : undefined;
}

/** A recording in a bucket the stack is not configured for is refused (SPEC section 8): nothing is written there. */
export function refuseForeignBucket(
  bucket: string | undefined,
  allowed: readonly string[] | undefined,
): void {
  if (bucket === undefined || allowed === undefined || allowed.length === 0 || allowed.includes(bucket))
    return;
  throw new ValidationError(
    `recording bucket ${bucket} is not one this stack is configured for (RECORDING_BUCKETS: ${allowed.join(", ")})`,
  );
}

/** The recording session a stream belongs to, when IVS has recorded anything of it. */
export async function recordingOf(
  store: Pick<SessionsStore, "getRecording">,
  stream: StreamRecord | undefined,
): Promise<RecordingRecord | undefined> {
  const sessionId = stream?.recordingSessionId;
  const recording = sessionId === undefined ? undefined : await store.getRecording(sessionId);
  return isRecorded(recording) ? recording : undefined;
}

/** Epoch milliseconds to the whole epoch seconds the sweep's index keeps. */
export const epochSeconds = (ms: number) => Math.floor(ms / 1000);
