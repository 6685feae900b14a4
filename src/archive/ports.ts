import type { RecordingRef, Replay, RunStore } from "../replay";

/** Where the room of a channel was found, in the order SPEC section 5 tries them. */
export type RoomSource = "link" | "tag" | "name";

/** The room found by the channel's name, or why there is none. */
export type NameMatch = { roomArn: string } | { roomArn?: undefined; reason: string };

/** The destinations of a room's logging configurations, by kind. */
export interface RoomLogging {
  logGroupName?: string;
  s3Bucket?: string;
  firehoseStream?: string;
}

/** Times of one IVS stream session; `endTime` is absent while the stream is live. */
export interface StreamSessionTimes {
  startTime?: Date;
  endTime?: Date;
}

/** IVS and IVS Chat lookups; each resolves to undefined where the answer is not available. */
export interface IvsLookups {
  roomFromChannelTag(channelArn: string): Promise<string | undefined>;
  roomByChannelName(channelArn: string): Promise<NameMatch>;
  /** Where the room's logging configurations send its chat (an ACTIVE one of each kind first). */
  loggingOfRoom(roomArn: string): Promise<RoomLogging>;
  streamSessionTimes(channelArn: string, streamId: string): Promise<StreamSessionTimes | undefined>;
}

/**
 * Where a broadcast's chat log lies: a CloudWatch Logs stream, or the folder of S3 objects holding
 * the room's log (`prefix` ends with "/", or is "" for the bucket's root) in hour folders.
 */
export type ChatLogSource =
  | { kind: "cloudwatch"; logGroupName: string; logStreamName: string }
  | { kind: "s3"; bucket: string; prefix: string };

/**
 * Where one time slice of the log read stands: `[start, end)` in epoch ms, the token to continue
 * after, records read so far. `rank` orders slices as their times do, and stays with a slice from
 * run to run (a split slice's new part takes a rank between its neighbours'): a record's place in
 * the log is `logPosition(rank, i)`.
 */
export interface SlicePosition {
  start: number;
  end: number;
  token?: string;
  read: number;
  done: boolean;
  rank: number;
}

/** Ranks are below this, so that every log position is an exact double. */
export const SLICE_RANKS = 2 ** 21;

/** Ranks of `count` slices in time order, spread out so that each gap can be split many times. */
export function spreadRanks(count: number): number[] {
  const step = Math.min(2 ** 14, Math.floor(SLICE_RANKS / Math.max(1, count)));
  return Array.from({ length: count }, (_, i) => i * step);
}

/** The place in the log of record `i` of the slice ranked `rank`: slices in time order, then records in log order. */
export function logPosition(rank: number, i: number): number {
  return rank * 2 ** 32 + i;
}

/**
 * Records of one slice in log order; record `i` sits at position `seq + i` of its slice; `next` is
 * where the slice stands after it; `retries` counts the attempts refused (throttled, unavailable)
 * before it came; `unreadable` names a log object given up on (corrupt, truncated), with why.
 * `splitOf` marks the first page of a slice split from slice `splitOf` while it was read (no
 * records yet): that slice now ends where this one starts.
 */
export interface ChatPage {
  slice: number;
  seq: number;
  records: string[];
  next: SlicePosition;
  retries: number;
  unreadable?: string;
  splitOf?: number;
}

/** How a read goes on: `windDown` (see `ChatLog`); `busyUntil`, the time past which the log holds little (the broadcast's end). */
export interface ReadOptions {
  windDown?: () => boolean;
  busyUntil?: number;
}

/**
 * Reads a chat log: every slice not done, concurrently; pages of one slice come in log order.
 * Returning from the iteration stops the reads at once. Once `windDown()` is true no request
 * starts, and the pages already asked for still come before the iteration ends: a run out of
 * time keeps what its quota paid for. A reader may split a slice while it reads it, to keep its
 * rate busy when the chat is uneven (a `splitOf` page announces the new slice).
 */
export interface ChatLog {
  read(
    source: ChatLogSource,
    slices: readonly SlicePosition[],
    options?: ReadOptions,
  ): AsyncIterable<ChatPage>;
}

/** Where a replay is written. */
export interface ReplayLocation {
  bucket: string;
  key: string;
}

/** Writes finished replays, whole or not at all; resolves to the bytes stored. */
export interface ReplayWriter {
  write(location: ReplayLocation, replay: Replay): Promise<number>;
  /** Removes a replay that should not be there (a stream's own, once its recording is archived). */
  remove(location: ReplayLocation): Promise<void>;
}

/** What IVS wrote about a recording beside it. */
export interface RecordingMetadata {
  /** `recording_started_at` of `events/recording-started.json`, when it can be read. */
  startedAt(recording: RecordingRef): Promise<Date | undefined>;
  /** The first rendition's media playlist named by `events/recording-ended.json`, when both can be read. */
  mediaPlaylist(recording: RecordingRef): Promise<string | undefined>;
}

/** A saved checkpoint as found: its JSON (to validate), or why it could not be read. */
export type LoadedCheckpoint =
  | { found: false }
  | { found: true; json: unknown }
  | { found: true; unreadable: string };

/** Working state of long archives: one checkpoint document per chain of runs, and the chain's runs. */
export interface CheckpointStore {
  load(chain: string): Promise<LoadedCheckpoint>;
  save(chain: string, checkpoint: unknown): Promise<void>;
  /** Where the chain's engine keeps its runs and id pages. */
  runs(chain: string): RunStore;
  /** Removes the chain's checkpoint and runs. */
  remove(chain: string): Promise<void>;
}
