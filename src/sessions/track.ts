import type { RecordingFact, StreamFact } from "./events";
import {
  type ArchiveRequest,
  type ArchiveScheduler,
  isFinished,
  isRecorded,
  type RecordingRecord,
  type SessionsStore,
} from "./model";

/*
 * An event whose time is already stored may be this very event delivered again because its
 * first run failed after the write (SQS down, timeout): it goes on to schedule, which is safe to
 * repeat. Only an event superseded by another one (an earlier start, a later end) stops here.
 */
function storedTime(fact: RecordingFact, recording: RecordingRecord): string | undefined {
  switch (fact.kind) {
    case "recordingStart":
      return recording.startAt;
    case "recordingEnd":
      return recording.endAt;
    case "recordingStartFailure":
      return recording.startFailure?.at;
    case "recordingEndFailure":
      return recording.endFailure?.at;
  }
}

/** What tracking an event did, for the logs and tests. */
export interface TrackOutcome {
  changed: boolean;
  scheduled?: ArchiveRequest;
  waitingFor?: string;
}

/** What the tracking use cases work through. */
export interface TrackingDeps {
  store: SessionsStore;
  scheduler: ArchiveScheduler;
  settleSeconds: number;
}

async function schedule(request: ArchiveRequest, deps: TrackingDeps): Promise<TrackOutcome> {
  await deps.scheduler.schedule(request, deps.settleSeconds);
  return { changed: true, scheduled: request };
}

/**
 * Records a Stream Start or End. A stream that has ended is archived: with its recording
 * session once that session has ended, on its own when nothing says it was recorded.
 */
export async function trackStream(fact: StreamFact, deps: TrackingDeps): Promise<TrackOutcome> {
  const { stream, changed } = await deps.store.recordStream(fact);
  const stored = fact.kind === "streamStart" ? stream.startAt : stream.endAt;
  if (!changed && stored !== fact.at.toISOString()) return { changed };
  if (stream.endAt === undefined) return { changed, waitingFor: "Stream End" };
  const sessionId = stream.recordingSessionId;
  const recording = sessionId === undefined ? undefined : await deps.store.getRecording(sessionId);
  if (isRecorded(recording)) {
    if (!isFinished(recording)) return { changed, waitingFor: "Recording End" };
    return schedule({ recordingSessionId: recording.sessionId }, deps);
  }
  return schedule({ channelArn: stream.channelArn, streamId: stream.streamId }, deps);
}

/**
 * Records a recording state change. Recording End (or End Failure) makes the session ready; a
 * later Recording Start of a finished session moves its offset base, so it is archived again.
 */
export async function trackRecording(fact: RecordingFact, deps: TrackingDeps): Promise<TrackOutcome> {
  const { recording, changed } = await deps.store.recordRecording(fact);
  if (fact.streamIds.length > 0)
    await deps.store.attachStreams(fact.channelArn, fact.streamIds, fact.sessionId);
  if (!changed && storedTime(fact, recording) !== fact.at.toISOString()) return { changed };
  if (fact.kind === "recordingStartFailure") return { changed };
  if (!isFinished(recording)) return { changed, waitingFor: "Recording End" };
  return schedule({ recordingSessionId: recording.sessionId }, deps);
}
