import type { RecordingFact, StreamFact } from "./events";
import {
  type ArchiveRequest,
  type ArchiveScheduler,
  epochSeconds,
  isFinished,
  type RecordingRecord,
  recordingOf,
  refuseForeignBucket,
  type SessionsStore,
} from "./model";
import { STUCK_AFTER_SECONDS } from "./sweep";

// IVS ends a stream after 48 hours: one with no Stream End by then went quiet.
const MAX_STREAM_SECONDS = 48 * 3600;

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
  /** RECORDING_END_GRACE_MINUTES: how long after its streams end a recording may wait for Recording End before the sweep queues it. */
  recordingEndGraceMinutes: number;
  /** RECORDING_BUCKETS: the recording buckets the stack is configured for; empty or absent, any. */
  recordingBuckets?: readonly string[];
  now(): Date;
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
  const target = { channelArn: stream.channelArn, streamId: stream.streamId };
  // Each step leaves the sweep an entry for when the next event is overdue (SPEC section 8).
  if (stream.endAt === undefined) {
    if (stream.startAt !== undefined)
      await deps.store.setDue(
        target,
        epochSeconds(Date.parse(stream.startAt)) + MAX_STREAM_SECONDS + graceSeconds(deps),
      );
    return { changed, waitingFor: "Stream End" };
  }
  const recording = await recordingOf(deps.store, stream);
  if (recording !== undefined) {
    if (!isFinished(recording)) {
      await deps.store.setDue(target, epochSeconds(Date.parse(stream.endAt)) + graceSeconds(deps));
      return { changed, waitingFor: "Recording End" };
    }
    // The recording's entry follows the broadcast from here.
    await deps.store.setDue(target, null);
    return scheduleRecording(recording.sessionId, deps);
  }
  await deps.store.setDue(target, epochSeconds(deps.now().getTime()) + STUCK_AFTER_SECONDS);
  return schedule({ channelArn: stream.channelArn, streamId: stream.streamId }, deps);
}

/** Queues a recording's archive; should it not be done in a few hours, the sweep queues it again. */
async function scheduleRecording(sessionId: string, deps: TrackingDeps): Promise<TrackOutcome> {
  const stuckAt = epochSeconds(deps.now().getTime()) + STUCK_AFTER_SECONDS;
  await deps.store.setDue({ recordingSessionId: sessionId }, stuckAt);
  return schedule({ recordingSessionId: sessionId }, deps);
}

function graceSeconds(deps: TrackingDeps): number {
  return deps.recordingEndGraceMinutes * 60;
}

/**
 * Records a recording state change. Recording End (or End Failure) makes the session ready; a
 * later Recording Start of a finished session moves its offset base, so it is archived again.
 */
export async function trackRecording(fact: RecordingFact, deps: TrackingDeps): Promise<TrackOutcome> {
  refuseForeignBucket(fact.bucket, deps.recordingBuckets);
  const { recording, changed } = await deps.store.recordRecording(fact);
  if (fact.streamIds.length > 0)
    await deps.store.attachStreams(fact.channelArn, fact.streamIds, fact.sessionId);
  if (!changed && storedTime(fact, recording) !== fact.at.toISOString()) return { changed };
  if (fact.kind === "recordingStartFailure") return { changed };
  if (!isFinished(recording)) return { changed, waitingFor: "Recording End" };
  return scheduleRecording(recording.sessionId, deps);
}
