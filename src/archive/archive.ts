import { ArchiveConflictError, ArchiverError, BroadcastNotFoundError, CheckpointError } from "../errors";
import {
  type Instant,
  type Replay,
  type ReplayCounts,
  ReplayEngine,
  type ReplayOptions,
  type TimelinePiece,
  timelineFromPlaylist,
} from "../replay";
import {
  type ArchiveRequest,
  type ArchiveState,
  broadcastTimes,
  DELETIONS_GRACE_MS,
  recordingOf,
  refuseForeignBucket,
  type SessionsStore,
  type SessionTimes,
  type StreamRecord,
  streamPieces,
} from "../sessions/model";
import { dueAfterArchive } from "../sessions/sweep";
import {
  type Broadcast,
  instant,
  missingTimes,
  recordingRef,
  replayLocation,
  resolveBroadcast,
} from "./broadcast";
import { resolveChat, type S3Location, s3Uri } from "./chat";
import { broadcastName, type Checkpoint, checkpointOf, validateCheckpoint } from "./checkpoint";
import {
  type ChatLog,
  type ChatLogSource,
  type ChatPage,
  type CheckpointStore,
  type IvsLookups,
  logPosition,
  type RecordingMetadata,
  type ReplayLocation,
  type ReplayWriter,
  type SlicePosition,
  spreadRanks,
} from "./ports";

const HOUR_MS = 3_600_000;
// Each slice costs a partial first page and a last empty one: no slice shorter than this.
const MIN_SLICE_MS = 60_000;
// A chain that has not finished after this many runs is going nowhere.
const MAX_RUNS = 200;
// How long a run's claim on the replay holds: longer than any write of a Lambda run.
const CLAIM_MS = 20 * 60_000;

/** Structured log lines of the use case (Powertools Logger in Lambda). */
export interface ArchiveLog {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
}

/** The ports the archive use case works through, and its settings. */
export interface ArchiveDeps {
  store: SessionsStore;
  lookups: IvsLookups;
  chatLog: ChatLog;
  replays: ReplayWriter;
  recordings: RecordingMetadata;
  checkpoints: CheckpointStore;
  archiveBucket: string;
  /** CHAT_LOG_GROUP. */
  logGroupOverride?: string;
  /** CHAT_LOG_S3_URI: where an S3 logging destination writes, read instead of CloudWatch Logs. */
  s3Override?: S3Location;
  /** CHAT_LOG_READ_TPS: also how many slices are read at once. */
  readTps: number;
  /** SETTLE_SECONDS: how long after the deletions grace the sweep queues the final pass. */
  settleSeconds: number;
  /** RECORDING_BUCKETS: where replays may be written next to recordings; empty or absent, any. */
  recordingBuckets?: readonly string[];
  now(): Date;
  /** Milliseconds left in this run; the archive checkpoints and stops when they run low. */
  remainingMs?(): number;
  /** Time kept back at the end of a run to save the checkpoint; default 60 s. */
  marginMs?: number;
  newChainId(): string;
  /** Bytes of kept items held in memory before a run is spilled to S3; default the engine's. */
  spillBytes?: number;
  log?: ArchiveLog;
}

/**
 * What one run did, for its metrics: its number in the chain, pages read, read attempts refused
 * and retried (throttled, or unavailable for a moment), replay bytes stored (gzip), log objects
 * that could not be read.
 */
export interface RunStats {
  run: number;
  pages: number;
  throttles: number;
  bytes: number;
  /** Log objects (S3) given up on: corrupt or cut short; each is logged with its reason. */
  unreadable: number;
}

/** What an archive run did. */
export type ArchiveResult =
  | {
      status: "archived";
      location: ReplayLocation;
      counts: ReplayCounts;
      window: Window;
      readUntil: string;
      stats: RunStats;
    }
  | { status: "continuing"; request: ArchiveRequest; records: number; stats: RunStats }
  | { status: "superseded"; reason: string; stats: RunStats }
  | { status: "failed"; reason: string };

type Window = { start: string | null; end: string | null };

const silent: ArchiveLog = { info: () => undefined, warn: () => undefined };

/**
 * Archives one broadcast: finds its window and chat, reads the room's log from the window's
 * start to an hour past its end (or now), and writes the cleaned replay next to the recording.
 * A long read continues in later runs from a checkpoint. A broadcast that cannot be archived
 * (unknown, no room, no log) is marked failed with the reason, keeping a replay archived before;
 * errors worth retrying (throttling, S3) are thrown.
 */
export async function archiveBroadcast(request: ArchiveRequest, deps: ArchiveDeps): Promise<ArchiveResult> {
  let broadcast: Broadcast | undefined;
  try {
    broadcast = await resolveBroadcast(request, deps.store);
    const plan = await planArchive(broadcast, deps);
    const read = await readRun(request, broadcast, plan, deps);
    if (read.status === "continuing") return read;
    try {
      return await land(request, broadcast, plan, read, deps);
    } finally {
      await read.engine.close();
    }
  } catch (error) {
    // A run of the chain's checkpoint is gone: the next try of this request starts over.
    if (error instanceof CheckpointError && request.chain !== undefined)
      await deps.checkpoints.remove(request.chain);
    if (!(error instanceof ArchiverError) || !error.permanent) throw error;
    // Permanent: recorded at once; the sweep does not queue it again, a redrive does.
    // A broadcast nothing is known of gets no item just to say so.
    if (!(error instanceof BroadcastNotFoundError && broadcast?.known !== true))
      await deps.store.failArchive(broadcast?.key ?? request, error.message, deps.now().toISOString());
    return { status: "failed", reason: error.message };
  }
}

/** What to read and write for a broadcast: the replay's options, its location and the chat log. */
interface Plan {
  options: ReplayOptions;
  window: Window;
  location: ReplayLocation;
  source: ChatLogSource;
}

async function planArchive(broadcast: Broadcast, deps: ArchiveDeps): Promise<Plan> {
  const sessions = await missingTimes(broadcast, deps.lookups);
  const times = broadcastTimes(broadcast.streams, broadcast.recording, sessions);
  if (times.window.start === null) {
    const [stream] = broadcast.streams;
    throw new BroadcastNotFoundError(
      broadcast.known || stream === undefined
        ? "the broadcast's start is unknown: no Stream Start, stream session or recording"
        : `stream ${stream.streamId} of channel ${broadcast.channelArn} is unknown: no event about it reached the sessions table and IVS has no session of it`,
    );
  }
  const recording = recordingRef(broadcast);
  refuseForeignBucket(recording?.bucket, deps.recordingBuckets);
  // Independent lookups, at once: each is a round trip before the read can start.
  const [recordingStart, playlist, chat] = await Promise.all([
    recording === null ? undefined : deps.recordings.startedAt(recording),
    recording === null ? null : deps.recordings.mediaPlaylist(recording),
    deps.store.getLink(broadcast.channelArn).then((link) =>
      resolveChat(
        {
          channelArn: broadcast.channelArn,
          link,
          s3Override: deps.s3Override,
          logGroupOverride: deps.logGroupOverride,
        },
        deps.lookups,
      ),
    ),
  ]);
  const base = recordingStart?.toISOString() ?? times.offsetBase;
  const timeline = recordingTimeline(broadcast, playlist, base, sessions);
  return {
    options: {
      window: { start: instant(times.window.start), end: instant(times.window.end) },
      offsetBase: instant(base),
      ...(timeline && { timeline }),
      channelArn: broadcast.channelArn,
      roomArn: chat.roomArn,
      streamIds: broadcast.streams.map((s) => s.streamId),
      recording,
    },
    window: times.window,
    location: replayLocation(broadcast, deps.archiveBucket),
    source: chat.source,
  };
}

/**
 * The recording's timeline (SPEC rule 8): from its first rendition's media playlist (`playlist`,
 * null for a broadcast that was not recorded) when that carries program dates, else from its
 * streams' times; undefined (one open piece at the offset base) otherwise.
 */
function recordingTimeline(
  broadcast: Broadcast,
  playlist: string | undefined | null,
  base: string | null,
  sessions: ReadonlyMap<string, SessionTimes>,
): TimelinePiece[] | undefined {
  if (playlist === null || base === null) return undefined;
  const fromPlaylist = playlist === undefined ? undefined : timelineFromPlaylist(playlist);
  if (fromPlaylist !== undefined) return fromPlaylist;
  return streamPieces(broadcast.streams, base, sessions)?.map((piece) => ({
    start: instant(piece.start) as Instant,
    end: instant(piece.end),
    mediaMs: piece.mediaMs,
  }));
}

/**
 * Time slices of `[start, end)` read at once: enough to keep the read rate busy, none too short.
 * They divide `[start, busyUntil)`, where the chat is (the broadcast's window); the last one reads
 * on to `end` through the hour after it, which holds little more than late deletions: a slice of
 * its own there would cost requests that find nothing (each empty slice takes two).
 */
export function planSlices(start: number, end: number, readTps: number, busyUntil = end): SlicePosition[] {
  const busyEnd = Number.isFinite(busyUntil) ? Math.min(Math.max(busyUntil, start), end) : end;
  const span = busyEnd - start;
  const count = Math.max(1, Math.min(Math.ceil(readTps), Math.floor(span / MIN_SLICE_MS)));
  const ranks = spreadRanks(count);
  return ranks.map((rank, i) => ({
    start: start + Math.floor((span * i) / count),
    end: i === count - 1 ? end : start + Math.floor((span * (i + 1)) / count),
    read: 0,
    done: false,
    rank,
  }));
}

/**
 * Moves `slices` on to where `page` leaves its slice. A page announcing a split (`splitOf`) adds
 * its slice and ends the split one where it starts; a slice's end only ever shrinks, as a page of
 * the split slice read before the split may come after it.
 */
export function takePage(slices: SlicePosition[], page: ChatPage): void {
  const held = slices[page.slice];
  slices[page.slice] =
    held === undefined ? page.next : { ...page.next, end: Math.min(page.next.end, held.end) };
  if (page.splitOf !== undefined) {
    slices[page.splitOf] = { ...(slices[page.splitOf] as SlicePosition), end: page.next.start };
  }
}

/**
 * Slices of `[start, end)` for a log in S3: one per UTC hour it touches, as the objects lie in
 * hour folders (each read by one slice).
 */
export function hourSlices(start: number, end: number): SlicePosition[] {
  const bounds = [start];
  for (let hour = (Math.floor(start / HOUR_MS) + 1) * HOUR_MS; hour < end; hour += HOUR_MS) bounds.push(hour);
  bounds.push(Math.max(start, end));
  const ranks = spreadRanks(bounds.length - 1);
  return bounds.slice(1).map((sliceEnd, i) => ({
    start: bounds[i] as number,
    end: sliceEnd,
    read: 0,
    done: false,
    rank: ranks[i] as number,
  }));
}

type ReadOutcome =
  | { status: "continuing"; request: ArchiveRequest; records: number; stats: RunStats }
  | {
      status: "read";
      engine: ReplayEngine;
      chain: string;
      owner: string;
      readUntil: number;
      stats: RunStats;
    };

/** One run of reading: from the chain's checkpoint (if it can be used) until the log is read or time runs low. */
async function readRun(
  request: ArchiveRequest,
  broadcast: Broadcast,
  plan: Plan,
  deps: ArchiveDeps,
): Promise<ReadOutcome> {
  const log = deps.log ?? silent;
  const chain = request.chain ?? deps.newChainId();
  const run = request.run ?? 1;
  if (run > MAX_RUNS)
    throw new ArchiverError(`the archive did not finish in ${MAX_RUNS} runs`, { permanent: true });
  // Objects this run stores are named for it alone: two deliveries of one continuation never overwrite each other's.
  const engineOptions = {
    unordered: true,
    spillBytes: deps.spillBytes,
    names: `r${run}-${deps.newChainId()}`,
  };
  const saved = request.chain === undefined ? undefined : await loadCheckpoint(chain, broadcast, plan, deps);
  const runs = deps.checkpoints.runs(chain);
  let engine: ReplayEngine | undefined;
  let slices: SlicePosition[] = [];
  let range = { start: 0, end: 0 };
  if (saved !== undefined) {
    const restoring = Date.now();
    try {
      engine = await ReplayEngine.restore(plan.options, runs, engineOptions, saved.engine);
      slices = saved.slices;
      range = saved.read;
      log.info("checkpoint restored", {
        chain,
        run,
        records: saved.engine.records,
        ms: Date.now() - restoring,
      });
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      log.warn(`checkpoint discarded: ${error.message}; the archive starts over`, { chain });
    }
  }
  if (engine === undefined) {
    engine = new ReplayEngine(plan.options, runs, engineOptions);
    // A redrive or a new run reads up to now: deletions made since the last archive apply.
    const start = plan.options.window.start?.ms ?? 0;
    const end =
      plan.options.window.end === null
        ? Number.POSITIVE_INFINITY
        : plan.options.window.end.ms + DELETIONS_GRACE_MS;
    range = { start, end: Math.max(start, Math.min(end, deps.now().getTime())) };
    slices =
      plan.source.kind === "s3"
        ? hourSlices(range.start, range.end)
        : planSlices(range.start, range.end, deps.readTps, plan.options.window.end?.ms);
  }
  try {
    return await readOn(request, broadcast, plan, deps, {
      chain,
      run,
      engine,
      slices,
      range,
      owner: engineOptions.names,
    });
  } catch (error) {
    // This run's local runs go with it: a warm container's /tmp must not fill up with failed runs.
    await engine.close().catch(() => undefined);
    throw error;
  }
}

/** Reads on from where the run stands, then checkpoints (time is short) or hands the engine over to be written. */
async function readOn(
  request: ArchiveRequest,
  broadcast: Broadcast,
  plan: Plan,
  deps: ArchiveDeps,
  at: {
    chain: string;
    run: number;
    engine: ReplayEngine;
    slices: SlicePosition[];
    range: { start: number; end: number };
    owner: string;
  },
): Promise<ReadOutcome> {
  const log = deps.log ?? silent;
  const { chain, run, engine, slices, range, owner } = at;
  const before = JSON.stringify(slices);
  const margin = deps.marginMs ?? 60_000;
  const remaining = () => deps.remainingMs?.() ?? Number.POSITIVE_INFINITY;
  const reading = Date.now();
  const stats: RunStats = { run, pages: 0, throttles: 0, bytes: 0, unreadable: 0 };
  // Within the margin the reads wind down: the pages already asked for are taken, not paid for
  // again by the next run. Within half of it the run stops waiting for them: a request that hangs
  // must not take the time the checkpoint needs. Every run takes at least one page, so a chain
  // always moves on.
  let low = false;
  const pages = untilGivenUp(
    deps.chatLog.read(plan.source, slices, {
      windDown: () => low,
      ...(plan.options.window.end !== null && { busyUntil: plan.options.window.end.ms }),
    }),
    () => stats.pages > 0 && remaining() < margin / 2,
  );
  for await (const page of pages) {
    await engine.addRaw(page.records, logPosition(page.next.rank, page.seq));
    takePage(slices, page);
    stats.pages++;
    stats.throttles += page.retries;
    if (page.unreadable !== undefined) {
      stats.unreadable++;
      log.warn(`chat log object skipped: ${page.unreadable}`, { chain, run });
    }
    const left = remaining();
    low = left < margin;
    if (left < margin / 2) break;
  }
  // Slices split while read (to keep the read rate busy on an uneven chat) add to the slices.
  log.info("chat read", {
    chain,
    run,
    records: engine.recordsRead,
    slices: slices.length,
    ms: Date.now() - reading,
  });
  const progressed = JSON.stringify(slices) !== before;
  // Writing merges every run (read back at ~64 MiB/s): a run that read and lacks the time to write leaves it to the next.
  const writeMs = margin + (engine.storedBytes / (64 * 2 ** 20)) * 1000;
  const timeToWrite = (deps.remainingMs?.() ?? Number.POSITIVE_INFINITY) >= writeMs;
  if (slices.every((slice) => slice.done) && (timeToWrite || !progressed)) {
    return { status: "read", engine, chain, owner, readUntil: range.end, stats };
  }
  if (!progressed) {
    throw new ArchiverError(`run ${run} of the archive read nothing before its time ran out: no progress`, {
      permanent: true,
    });
  }
  const saving = Date.now();
  const storedBefore = engine.storedBytes;
  const checkpoint = checkpointOf({
    broadcast: broadcastName(broadcast.key),
    chain,
    run: run + 1,
    savedAt: deps.now().getTime(),
    window: plan.window,
    source: plan.source,
    read: range,
    // In time order, as the next run reads them (split slices came last).
    slices: [...slices].sort((a, b) => a.start - b.start),
    engine: await engine.save(),
  });
  await deps.checkpoints.save(chain, checkpoint);
  await engine.close();
  const bytes = engine.storedBytes - storedBefore + JSON.stringify(checkpoint).length;
  log.info("checkpoint saved", { chain, run, records: engine.recordsRead, bytes, ms: Date.now() - saving });
  const next = { ...request, chain, run: run + 1 };
  return { status: "continuing", request: next, records: engine.recordsRead, stats };
}

// How often a run that waits for a page checks whether it still has the time to.
const WAIT_CHECK_MS = 500;
const GAVE_UP = Symbol("gave up");

/**
 * The items of `source` until it ends, or until `giveUp()` (asked every WAIT_CHECK_MS while an
 * item is awaited) says to stop waiting: the item awaited then is dropped when it comes, and the
 * source is stopped once it has.
 */
async function* untilGivenUp<T>(source: AsyncIterable<T>, giveUp: () => boolean): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<T>> | undefined;
  // A wait of its own for each item: racing every item against one promise that lives as long as
  // the read would keep each item (a page of records) reachable from it to the end.
  const waitFor = (item: Promise<IteratorResult<T>>) =>
    new Promise<IteratorResult<T> | typeof GAVE_UP>((resolve, reject) => {
      const timer = setInterval(() => {
        if (!giveUp()) return;
        clearInterval(timer);
        resolve(GAVE_UP);
      }, WAIT_CHECK_MS);
      item.then(resolve, reject).finally(() => clearInterval(timer));
    });
  try {
    for (;;) {
      pending = iterator.next();
      const next = await waitFor(pending);
      if (next === GAVE_UP) return;
      pending = undefined;
      if (next.done) return;
      yield next.value;
    }
  } finally {
    if (pending === undefined) await iterator.return?.();
    else {
      // What it brings, or its failure, comes too late for this run; the source stops after it.
      pending.catch(() => undefined);
      iterator.return?.().catch(() => undefined);
    }
  }
}

/** The chain's checkpoint when this run may continue it; a bad one is logged, removed and ignored. */
async function loadCheckpoint(
  chain: string,
  broadcast: Broadcast,
  plan: Plan,
  deps: ArchiveDeps,
): Promise<Checkpoint | undefined> {
  const log = deps.log ?? silent;
  const loaded = await deps.checkpoints.load(chain);
  if (!loaded.found) {
    log.warn("checkpoint not found; the archive starts over", { chain });
    return undefined;
  }
  const checked =
    "unreadable" in loaded
      ? { rejected: loaded.unreadable }
      : validateCheckpoint(loaded.json, {
          broadcast: broadcastName(broadcast.key),
          chain,
          window: plan.window,
          source: plan.source,
          now: deps.now().getTime(),
        });
  if ("rejected" in checked) {
    log.warn(`checkpoint discarded: ${checked.rejected}; the archive starts over`, { chain });
    await deps.checkpoints.remove(chain);
    return undefined;
  }
  return checked;
}

/** Writes the replay if this run read the most, records it on the item, and removes the chain's working state. */
async function land(
  request: ArchiveRequest,
  broadcast: Broadcast,
  plan: Plan,
  read: { engine: ReplayEngine; chain: string; owner: string; readUntil: number; stats: RunStats },
  deps: ArchiveDeps,
): Promise<ArchiveResult> {
  const replay = read.engine.finish();
  const readUntil = new Date(read.readUntil).toISOString();
  const force = request.force === true;
  const superseded = (reason: string): ArchiveResult => ({ status: "superseded", reason, stats: read.stats });
  const archivedUntil = broadcast.archive?.readUntil;
  if (!force && archivedUntil !== undefined && archivedUntil > readUntil) {
    return superseded(newerReason(archivedUntil, readUntil));
  }
  const recordedAs = await nowRecorded(broadcast, deps);
  if (recordedAs !== undefined) {
    return superseded(
      `the stream is part of recording ${recordedAs.recordingSessionId}, archived next to it`,
    );
  }
  const kept = keptReplay(broadcast.archive, replay, force);
  if (kept !== undefined) {
    await deps.store.failArchive(broadcast.key, kept, deps.now().toISOString());
    return { status: "failed", reason: kept };
  }
  const claim = await deps.store.claimArchive(broadcast.key, {
    owner: read.owner,
    readUntil,
    expiresAt: new Date(deps.now().getTime() + CLAIM_MS).toISOString(),
    force,
  });
  if (!claim.granted && "newer" in claim) {
    return superseded(newerReason(claim.newer.readUntil, readUntil));
  }
  if (!claim.granted && !force && claim.heldReadUntil !== undefined && claim.heldReadUntil >= readUntil) {
    return superseded(`run ${claim.heldBy}, which read as far, is writing the replay`);
  }
  if (!claim.granted) {
    throw new ArchiveConflictError(`run ${claim.heldBy} is writing this broadcast's replay; retry later`);
  }
  const writing = Date.now();
  let bytes: number;
  try {
    bytes = await deps.replays.write(plan.location, replay);
  } catch (error) {
    // The retry (a minute later) must not find this run's claim in its way for 20 minutes.
    await deps.store.releaseClaim(broadcast.key, read.owner).catch(() => undefined);
    throw error;
  }
  (deps.log ?? silent).info("replay written", { location: plan.location, bytes, ms: Date.now() - writing });
  const state: ArchiveState = {
    status: "archived",
    at: deps.now().toISOString(),
    location: plan.location,
    window: plan.window,
    counts: replay.counts,
    readUntil,
    chatLog: describeSource(plan.source),
  };
  // With it, when the sweep queues the final pass, which picks up deletions made in the hour after the end.
  await deps.store.completeArchive(
    broadcast.key,
    state,
    read.owner,
    dueAfterArchive(state, deps.settleSeconds),
  );
  // Best effort: the replay is archived; what is left is tidied by the next archive of the broadcast.
  await tidyStreams(broadcast, deps).catch((error: unknown) =>
    (deps.log ?? silent).warn("could not tidy the streams' own archives", { error: String(error) }),
  );
  // Only the run that wrote the replay removes the chain's objects (a duplicate of it may still be merging
  // them), once its own copies to S3 have stopped.
  await read.engine.close();
  await deps.checkpoints.remove(read.chain);
  return {
    status: "archived",
    location: plan.location,
    counts: replay.counts,
    window: plan.window,
    readUntil,
    stats: { ...read.stats, bytes },
  };
}

/**
 * A stream archived (or failed) on its own before its recording was known is part of the
 * recording's replay now: its own replay in the archive bucket is removed, and its state forgotten,
 * so neither a stray replay nor a stale failure outlives the recording's archive. Either side
 * tidies, whichever lands last: the recording's archive reads its streams again once its own state
 * is recorded, and a stream's archive looks again, after recording its state, for its recording.
 */
async function tidyStreams(broadcast: Broadcast, deps: ArchiveDeps): Promise<void> {
  const recording = broadcast.recording;
  if (recording !== undefined) {
    for (const stream of await deps.store.getStreams(recording.channelArn, recording.streamIds)) {
      if (stream.archive !== undefined) await forgetStreamArchive(stream, deps);
    }
    return;
  }
  const recorded = await nowRecorded(broadcast, deps);
  if (recorded?.stream.archive !== undefined) await forgetStreamArchive(recorded.stream, deps);
}

async function forgetStreamArchive(stream: StreamRecord, deps: ArchiveDeps): Promise<void> {
  const location = stream.archive?.location;
  if (location?.bucket === deps.archiveBucket && location.key.startsWith("chat-replays/")) {
    await deps.replays.remove(location);
  }
  await deps.store.clearArchive({ channelArn: stream.channelArn, streamId: stream.streamId });
  (deps.log ?? silent).info("the stream's own archive is now its recording's", {
    streamId: stream.streamId,
    removed: location ?? null,
  });
}

/** The recording a stream has become part of since its archive began (that one writes its replay), if any. */
async function nowRecorded(
  broadcast: Broadcast,
  deps: ArchiveDeps,
): Promise<{ stream: StreamRecord; recordingSessionId: string } | undefined> {
  if (!("streamId" in broadcast.key)) return undefined;
  const stream = await deps.store.getStream(broadcast.key.channelArn, broadcast.key.streamId);
  const recording = await recordingOf(deps.store, stream);
  return stream === undefined || recording === undefined
    ? undefined
    : { stream, recordingSessionId: recording.sessionId };
}

/** Where a chat log lies, for people: `s3://bucket/prefix` or `logs:<group>:<stream>`. */
export function describeSource(source: ChatLogSource): string {
  return source.kind === "s3" ? s3Uri(source) : `logs:${source.logGroupName}:${source.logStreamName}`;
}

function newerReason(archivedUntil: string | undefined, readUntil: string): string {
  return `a replay that read the log up to ${archivedUntil} is already archived; this run read up to ${readUntil}`;
}

/** Why the replay already archived is kept rather than replaced by this one, if it is (SPEC section 8). */
function keptReplay(archived: ArchiveState | undefined, replay: Replay, force: boolean): string | undefined {
  const before = archived?.counts?.records;
  if (force || archived?.location === undefined || before === undefined) return undefined;
  if (replay.counts.records >= before) return undefined;
  const found =
    replay.counts.records === 0
      ? "no records (the log is gone or expired)"
      : `${replay.counts.records} records`;
  return `the chat log now has ${found} where the archived replay read ${before}; the archived replay is kept (redrive with "force": true to replace it)`;
}
