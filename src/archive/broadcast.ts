import { BroadcastNotFoundError } from "../errors";
import { parseInstant, type RecordingRef } from "../replay";
import {
  type ArchiveState,
  type BroadcastKey,
  isRecorded,
  type RecordingRecord,
  type SessionsStore,
  type SessionTimes,
  type StreamRecord,
} from "../sessions/model";
import type { IvsLookups, ReplayLocation } from "./ports";

/** A broadcast as the archive sees it, resolved from the sessions table. */
export interface Broadcast {
  key: BroadcastKey;
  channelArn: string;
  streams: StreamRecord[];
  recording?: RecordingRecord;
  /** The last archive of the broadcast, as its item records it. */
  archive?: ArchiveState;
  /** False for a stream the table has no item of (no event about it came): a failure is not recorded on it. */
  known: boolean;
}

function channelId(channelArn: string): string {
  return channelArn.slice(channelArn.lastIndexOf("/") + 1);
}

function byStart(a: StreamRecord, b: StreamRecord): number {
  const sa = a.startAt ?? "~";
  const sb = b.startAt ?? "~";
  return sa < sb ? -1 : sa > sb ? 1 : a.streamId < b.streamId ? -1 : 1;
}

/** A recorded broadcast: its recording session is its key and holds its archive state. */
function recordedBroadcast(recording: RecordingRecord, streams: StreamRecord[]): Broadcast {
  return {
    key: { recordingSessionId: recording.sessionId },
    channelArn: recording.channelArn,
    streams,
    recording,
    archive: recording.archive,
    known: true,
  };
}

/** The broadcast an archive request names, from the sessions table, its streams in start order. */
export async function resolveBroadcast(request: BroadcastKey, store: SessionsStore): Promise<Broadcast> {
  const broadcast = await findBroadcast(request, store);
  broadcast.streams.sort(byStart);
  return broadcast;
}

async function findBroadcast(request: BroadcastKey, store: SessionsStore): Promise<Broadcast> {
  if ("recordingSessionId" in request) {
    const recording = await store.getRecording(request.recordingSessionId);
    if (recording === undefined) {
      throw new BroadcastNotFoundError(
        `recording session ${request.recordingSessionId} is not in the sessions table`,
      );
    }
    const streams = await store.getStreams(recording.channelArn, recording.streamIds);
    return recordedBroadcast(recording, streams);
  }
  const stream = await store.getStream(request.channelArn, request.streamId);
  const sessionId = stream?.recordingSessionId;
  const recording = sessionId === undefined ? undefined : await store.getRecording(sessionId);
  if (isRecorded(recording)) {
    const ids = [...new Set([...recording.streamIds, request.streamId])];
    const streams = await store.getStreams(request.channelArn, ids);
    return recordedBroadcast(recording, streams);
  }
  // A stream never seen may still be archived from IVS's own stream session times.
  const streams =
    stream === undefined ? [{ streamId: request.streamId, channelArn: request.channelArn }] : [stream];
  const key = { channelArn: request.channelArn, streamId: request.streamId };
  return {
    key,
    channelArn: request.channelArn,
    streams,
    recording,
    archive: stream?.archive,
    known: stream !== undefined,
  };
}

/** IVS stream session times of the streams whose start or end event never came. */
export async function missingTimes(
  broadcast: Broadcast,
  lookups: IvsLookups,
): Promise<Map<string, SessionTimes>> {
  const incomplete = broadcast.streams.filter((s) => s.startAt === undefined || s.endAt === undefined);
  const times = await Promise.all(
    incomplete.map(
      async (s) => [s.streamId, await lookups.streamSessionTimes(broadcast.channelArn, s.streamId)] as const,
    ),
  );
  return new Map(times.flatMap(([id, t]) => (t === undefined ? [] : [[id, t] as const])));
}

/** The recording as the replay names it, when IVS recorded the broadcast and told where. */
export function recordingRef(broadcast: Broadcast): RecordingRef | null {
  const recording = broadcast.recording;
  if (!isRecorded(recording) || recording.bucket === undefined || recording.prefix === undefined) return null;
  const { bucket, prefix, sessionId, durationMs } = recording;
  return { bucket, prefix, sessionId, durationMs: durationMs ?? null };
}

export function replayLocation(broadcast: Broadcast, archiveBucket: string): ReplayLocation {
  const recording = recordingRef(broadcast);
  if (recording !== null) return { bucket: recording.bucket, key: `${recording.prefix}/chat/replay.json` };
  const first = broadcast.streams[0]?.streamId ?? "unknown";
  return {
    bucket: archiveBucket,
    key: `chat-replays/${channelId(broadcast.channelArn)}/${first}/replay.json`,
  };
}

/** An ISO time as an instant, `null` staying `null`. */
export function instant(iso: string | null) {
  return iso === null ? null : (parseInstant(iso) ?? null);
}
