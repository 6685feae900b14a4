import type { ChatLogPage, ChatLogReadRequest } from "../aws/chatLog";
import type { IvsLookups, ResolvedChat } from "../aws/ivs";
import { chatLogStreamName, resolveChat } from "../aws/ivs";
import type { ReplayLocation } from "../aws/replayStore";
import { ArchiverError, BroadcastNotFoundError, ChatNotFoundError, ValidationError } from "../errors";
import {
  parseInstant,
  type RecordingRef,
  type Replay,
  ReplayBuilder,
  type ReplayCounts,
  type ReplayOptions,
} from "../replay";
import {
  type ArchiveRequest,
  broadcastTimes,
  isRecorded,
  type RecordingRecord,
  type SessionsStore,
  type SessionTimes,
  type StreamRecord,
} from "../sessions/model";

// Moderators may delete messages after the broadcast: read up to an hour past its end (SPEC section 3).
const DELETIONS_GRACE_MS = 60 * 60 * 1000;

/** Where a long archive stopped: the log position and the window it was read for. */
export interface CheckpointMark {
  nextToken: string;
  readUntil: number;
  window: { start: string | null; end: string | null };
  /** When it was saved (epoch ms): GetLogEvents tokens expire after 24 hours. */
  savedAt: number;
}

/** Saved progress of a long archive, so the next run continues where this one stopped. */
export interface CheckpointStore {
  /** The mark and the builder's state lines (in batches), if a checkpoint exists. */
  load(key: string): Promise<{ mark: CheckpointMark; state: AsyncIterable<readonly string[]> } | undefined>;
  save(key: string, mark: CheckpointMark, state: Iterable<string>): Promise<void>;
  remove(key: string): Promise<void>;
}

/** The adapters the archive use case works through. */
export interface ArchiveDeps {
  store: SessionsStore;
  lookups: IvsLookups;
  readChat(request: ChatLogReadRequest): AsyncIterable<ChatLogPage>;
  replays: {
    write(location: ReplayLocation, replay: Replay): Promise<void>;
    recordingStartedAt(bucket: string, prefix: string): Promise<Date | undefined>;
  };
  checkpoints?: CheckpointStore;
  archiveBucket: string;
  logGroupOverride?: string;
  now(): Date;
  /** Milliseconds left in this run; the archive checkpoints and stops when they run low. */
  remainingMs?(): number;
}

/** What an archive run did. */
export type ArchiveResult =
  | { status: "archived"; location: ReplayLocation; counts: ReplayCounts; window: Window }
  | { status: "continuing"; records: number }
  | { status: "failed"; reason: string };

type Window = { start: string | null; end: string | null };

/** A broadcast as the archive sees it, resolved from the sessions table. */
interface Broadcast {
  key: ArchiveRequest;
  channelArn: string;
  streams: StreamRecord[];
  recording?: RecordingRecord;
}

// Stop reading with this much time left: enough to checkpoint a large state to S3.
const CHECKPOINT_MARGIN_MS = 120_000;
// A checkpoint older than this is a leftover (a dead-lettered continuation): start afresh.
const CHECKPOINT_MAX_AGE_MS = 12 * 60 * 60 * 1000;

function channelId(channelArn: string): string {
  return channelArn.slice(channelArn.lastIndexOf("/") + 1);
}

function byStart(a: StreamRecord, b: StreamRecord): number {
  const sa = a.startAt ?? "~";
  const sb = b.startAt ?? "~";
  return sa < sb ? -1 : sa > sb ? 1 : a.streamId < b.streamId ? -1 : 1;
}

async function resolveBroadcast(request: ArchiveRequest, store: SessionsStore): Promise<Broadcast> {
  if ("recordingSessionId" in request) {
    const recording = await store.getRecording(request.recordingSessionId);
    if (recording === undefined) {
      throw new BroadcastNotFoundError(
        `recording session ${request.recordingSessionId} is not in the sessions table`,
      );
    }
    const streams = await store.getStreams(recording.streamIds);
    return { key: request, channelArn: recording.channelArn, streams, recording };
  }
  const stream = await store.getStream(request.streamId);
  if (stream !== undefined && stream.channelArn !== request.channelArn) {
    throw new ValidationError(
      `stream ${request.streamId} belongs to ${stream.channelArn}, not ${request.channelArn}`,
    );
  }
  const sessionId = stream?.recordingSessionId;
  const recording = sessionId === undefined ? undefined : await store.getRecording(sessionId);
  if (isRecorded(recording)) {
    const ids = [...new Set([...recording.streamIds, request.streamId])];
    const streams = await store.getStreams(ids);
    return {
      key: { recordingSessionId: recording.sessionId },
      channelArn: recording.channelArn,
      streams,
      recording,
    };
  }
  // A stream never seen may still be archived from IVS's own stream session times.
  const streams =
    stream === undefined ? [{ streamId: request.streamId, channelArn: request.channelArn }] : [stream];
  return { key: request, channelArn: request.channelArn, streams, recording };
}

/** IVS stream session times of the streams whose start or end event never came. */
async function missingTimes(broadcast: Broadcast, lookups: IvsLookups): Promise<Map<string, SessionTimes>> {
  const incomplete = broadcast.streams.filter((s) => s.startAt === undefined || s.endAt === undefined);
  const times = await Promise.all(
    incomplete.map(
      async (s) => [s.streamId, await lookups.streamSessionTimes(broadcast.channelArn, s.streamId)] as const,
    ),
  );
  return new Map(times.flatMap(([id, t]) => (t === undefined ? [] : [[id, t] as const])));
}

/** The recording as the replay names it, when IVS recorded the broadcast and told where. */
function recordingRef(broadcast: Broadcast): RecordingRef | null {
  const recording = broadcast.recording;
  if (!isRecorded(recording) || recording.bucket === undefined || recording.prefix === undefined) return null;
  const { bucket, prefix, sessionId, durationMs } = recording;
  return { bucket, prefix, sessionId, durationMs: durationMs ?? null };
}

function replayLocation(broadcast: Broadcast, archiveBucket: string): ReplayLocation {
  const recording = recordingRef(broadcast);
  if (recording !== null) return { bucket: recording.bucket, key: `${recording.prefix}/chat/replay.json` };
  const first = broadcast.streams[0]?.streamId ?? "unknown";
  return {
    bucket: archiveBucket,
    key: `chat-replays/${channelId(broadcast.channelArn)}/${first}/replay.json`,
  };
}

function instant(iso: string | null) {
  return iso === null ? null : (parseInstant(iso) ?? null);
}

/**
 * Archives one broadcast: finds its window and chat, reads the room's log from the window's
 * start to an hour past its end (or now), and writes the cleaned replay next to the recording.
 * A broadcast that cannot be archived (unknown, no room, no window) is marked failed with the
 * reason; errors worth retrying (throttling, S3) are thrown.
 */
export async function archiveBroadcast(request: ArchiveRequest, deps: ArchiveDeps): Promise<ArchiveResult> {
  let broadcast: Broadcast | undefined;
  try {
    broadcast = await resolveBroadcast(request, deps.store);
    broadcast.streams.sort(byStart);
    const times = broadcastTimes(
      broadcast.streams,
      broadcast.recording,
      await missingTimes(broadcast, deps.lookups),
    );
    if (times.window.start === null) {
      throw new BroadcastNotFoundError(
        "the broadcast's start is unknown: no Stream Start, stream session or recording",
      );
    }
    const recording = recordingRef(broadcast);
    const recordingStart =
      recording === null
        ? undefined
        : await deps.replays.recordingStartedAt(recording.bucket, recording.prefix);
    const offsetBase = recordingStart?.toISOString() ?? times.offsetBase;

    const chat = await resolveChat(
      {
        channelArn: broadcast.channelArn,
        linkedRoomArn: await deps.store.getLink(broadcast.channelArn),
        logGroupOverride: deps.logGroupOverride,
      },
      deps.lookups,
    );
    const options: ReplayOptions = {
      window: { start: instant(times.window.start), end: instant(times.window.end) },
      offsetBase: instant(offsetBase),
      channelArn: broadcast.channelArn,
      roomArn: chat.roomArn,
      streamIds: broadcast.streams.map((s) => s.streamId),
      recording,
    };
    const location = replayLocation(broadcast, deps.archiveBucket);
    const window = times.window;
    const replay = await readReplay(broadcast, chat, options, window, deps);
    if ("continuing" in replay) return { status: "continuing", records: replay.records };

    await deps.replays.write(location, replay);
    await deps.store.saveArchive(broadcast.key, {
      status: "archived",
      at: deps.now().toISOString(),
      location,
      window,
      counts: replay.counts,
    });
    return { status: "archived", location, counts: replay.counts, window };
  } catch (error) {
    if (!(error instanceof ArchiverError) || !isPermanent(error)) throw error;
    const key = broadcast?.key ?? request;
    if (!(error instanceof BroadcastNotFoundError && broadcast === undefined)) {
      await deps.store.saveArchive(key, {
        status: "failed",
        at: deps.now().toISOString(),
        reason: error.message,
      });
    }
    return { status: "failed", reason: error.message };
  }
}

function isPermanent(error: ArchiverError): boolean {
  return (
    error instanceof BroadcastNotFoundError ||
    error instanceof ChatNotFoundError ||
    error instanceof ValidationError
  );
}

function checkpointKey(key: ArchiveRequest): string {
  return "recordingSessionId" in key ? `recording/${key.recordingSessionId}` : `stream/${key.streamId}`;
}

/** Reads the chat into a replay; checkpoints and returns `{continuing}` when the run's time runs low. */
async function readReplay(
  broadcast: Broadcast,
  chat: ResolvedChat,
  options: ReplayOptions,
  window: Window,
  deps: ArchiveDeps,
): Promise<Replay | { continuing: true; records: number }> {
  const start = options.window.start?.ms ?? 0;
  const end =
    options.window.end === null ? Number.POSITIVE_INFINITY : options.window.end.ms + DELETIONS_GRACE_MS;
  const key = checkpointKey(broadcast.key);
  const loaded = await deps.checkpoints?.load(key);
  // A checkpoint taken for another window (a late Stream End arrived since) cannot be continued.
  const saved =
    loaded !== undefined &&
    loaded.mark.window.start === window.start &&
    loaded.mark.window.end === window.end &&
    deps.now().getTime() - loaded.mark.savedAt < CHECKPOINT_MAX_AGE_MS
      ? loaded
      : undefined;
  const builder =
    saved === undefined ? new ReplayBuilder(options) : await ReplayBuilder.restore(options, saved.state);
  const request: ChatLogReadRequest = {
    logGroupName: chat.logGroupName,
    logStreamName: chatLogStreamName(chat.roomArn),
    startTime: start,
    endTime: saved?.mark.readUntil ?? Math.min(end, deps.now().getTime()),
    nextToken: saved?.mark.nextToken,
  };
  try {
    for await (const page of deps.readChat(request)) {
      builder.addAll(page.messages);
      if (
        deps.checkpoints !== undefined &&
        (deps.remainingMs?.() ?? Number.POSITIVE_INFINITY) < CHECKPOINT_MARGIN_MS
      ) {
        const mark = {
          nextToken: page.nextToken,
          readUntil: request.endTime,
          window,
          savedAt: deps.now().getTime(),
        };
        await deps.checkpoints.save(key, mark, builder.snapshot());
        return { continuing: true, records: builder.counts.records };
      }
    }
  } catch (error) {
    // A saved token the service no longer accepts: read the whole window again instead.
    if (saved === undefined || (error as Error).name !== "InvalidParameterException") throw error;
    await deps.checkpoints?.remove(key);
    return readReplay(broadcast, chat, options, window, deps);
  }
  // Only a run that found a checkpoint (continued, stale or for another window) has one to remove.
  if (loaded !== undefined) await deps.checkpoints?.remove(key);
  return builder.finish();
}
