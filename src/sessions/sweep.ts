import {
  type ArchiveRequest,
  type ArchiveScheduler,
  type ArchiveState,
  type BroadcastKey,
  DEFAULT_SETTLE_SECONDS,
  DELETIONS_GRACE_MS,
  type DueEntry,
  epochSeconds,
  isFinished,
  recordingOf,
  type SessionsStore,
  type SweepTarget,
} from "./model";

/** What the sweep works through, and its settings. */
export interface SweepDeps {
  store: SessionsStore;
  scheduler: ArchiveScheduler;
  now(): Date;
  /** SETTLE_SECONDS: the final pass waits this long after the deletions grace, as the first archive does. */
  settleSeconds: number;
  log?: { info(message: string, extra?: Record<string, unknown>): void };
}

/** What one sweep did. */
export interface SweepResult {
  /** Entries that were due. */
  due: number;
  queued: ArchiveRequest[];
  /** Entries taken out of the index: nothing left to do. */
  cleared: number;
  /** Broadcasts given up on: queued too often without an archive, now marked failed. */
  failed: number;
  /** Entries another sweep (running at the same time) took first. */
  skipped: number;
}

/**
 * An archive queued this long ago and not done is queued again by the sweep: longer than SQS keeps
 * retrying a failing archive: 5 receives, 1 to 45 minutes apart (the archive handler's backoff), or
 * 90 minutes apart when a run dies without a word (the queue's visibility timeout, serverless.yml).
 */
export const STUCK_AFTER_SECONDS = 8 * 3600;
/** Times the sweep queues one broadcast before it records the broadcast as failed. */
const MAX_ATTEMPTS = 3;

/**
 * When the sweep looks next at an archived broadcast: `null` once an archive read an hour past the
 * end (deletions made in that hour apply), else the final pass's time, an hour and the settle
 * delay after the end; `undefined` while the end is unknown (the broadcast may be live). A log
 * in S3 read before its delivery delay had passed is read again once it has.
 */
export function dueAfterArchive(archive: ArchiveState, settleSeconds: number): number | null | undefined {
  const end = archive.window?.end;
  if (archive.status !== "archived" || end === undefined || end === null) return undefined;
  const graceEnd = Date.parse(end) + DELETIONS_GRACE_MS;
  const readUntil = archive.readUntil === undefined ? undefined : Date.parse(archive.readUntil);
  if (readUntil !== undefined && readUntil >= graceEnd) return null;
  const delivered = Date.parse(end) + DEFAULT_SETTLE_SECONDS.s3 * 1000;
  if (archive.chatLog?.startsWith("s3://") && (readUntil === undefined || readUntil < delivered)) {
    return epochSeconds(delivered);
  }
  return epochSeconds(graceEnd) + settleSeconds;
}

/** What to do with a due entry: queue the broadcast's archive (or not), then put the entry at `next` or take it out. */
type Decision = { queue?: BroadcastKey; next: number | null; reason: string };

/**
 * Queues the archives no event will (SPEC section 8): a broadcast whose streams ended without a
 * Recording End, the final pass an hour after the end, and an archive queued but not done after a
 * few hours. It reads only the index of pending work, so its cost does not grow with the table's
 * history. Each entry is taken with a conditional write before its archive is queued, so sweeps
 * running at once queue a broadcast once; running it again is harmless.
 */
export async function sweep(deps: SweepDeps): Promise<SweepResult> {
  const now = epochSeconds(deps.now().getTime());
  const result: SweepResult = { due: 0, queued: [], cleared: 0, failed: 0, skipped: 0 };
  for await (const entry of deps.store.dueEntries(now)) {
    result.due++;
    const decision = await decide(entry, now, deps);
    const attempts = entry.attempts + (decision.queue === undefined ? 0 : 1);
    if (decision.queue !== undefined && attempts > MAX_ATTEMPTS) {
      // Queued this often without an archive: the archive DLQ holds why; stop queueing and say so.
      if (!(await deps.store.setDue(entry.target, null, { expected: entry.dueAt }))) result.skipped++;
      else {
        const reason = `not archived after the sweep queued it ${MAX_ATTEMPTS} times (see the archive dead-letter queue)`;
        await deps.store.failArchive(decision.queue, reason, deps.now().toISOString());
        result.failed++;
      }
      continue;
    }
    const taken = await deps.store.setDue(entry.target, decision.next, {
      expected: entry.dueAt,
      attempts: decision.queue === undefined ? entry.attempts : attempts,
    });
    if (!taken) {
      result.skipped++;
      continue;
    }
    if (decision.next === null) result.cleared++;
    if (decision.queue !== undefined) {
      await deps.scheduler.schedule(decision.queue, 0);
      result.queued.push(decision.queue);
    }
    deps.log?.info("swept", { target: entry.target, ...decision });
  }
  return result;
}

async function decide(entry: DueEntry, now: number, deps: SweepDeps): Promise<Decision> {
  const retry = now + STUCK_AFTER_SECONDS;
  const target: SweepTarget = entry.target;
  if ("recordingSessionId" in target) {
    const recording = await deps.store.getRecording(target.recordingSessionId);
    if (recording === undefined) return { next: null, reason: "the recording is gone" };
    return afterArchive(target, recording.archive, now, retry, deps);
  }
  const stream = await deps.store.getStream(target.channelArn, target.streamId);
  if (stream === undefined) return { next: null, reason: "the stream is gone" };
  const recording = await recordingOf(deps.store, stream);
  if (recording !== undefined) {
    // The recording's own entry follows it from its Recording End on.
    if (isFinished(recording)) return { next: null, reason: "the recording ended" };
    // Once archived, the recording's entry (set when its archive landed) follows it: final pass included.
    if (recording.archive !== undefined) return { next: null, reason: "the recording was archived" };
    return {
      queue: { recordingSessionId: recording.sessionId },
      next: retry,
      reason: "the streams ended but no Recording End came",
    };
  }
  return afterArchive(
    { channelArn: stream.channelArn, streamId: stream.streamId },
    stream.archive,
    now,
    retry,
    deps,
  );
}

function afterArchive(
  key: BroadcastKey,
  archive: ArchiveState | undefined,
  now: number,
  retry: number,
  deps: SweepDeps,
): Decision {
  const due = archive === undefined ? undefined : dueAfterArchive(archive, deps.settleSeconds);
  if (due === undefined) return { queue: key, next: retry, reason: "not archived yet" };
  if (due === null) return { next: null, reason: "the final pass is done" };
  if (now < due) return { next: due, reason: "archived; the final pass comes later" };
  return { queue: key, next: retry, reason: "the final pass" };
}
