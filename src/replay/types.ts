import type { Instant } from "./time";
import type { TimelinePiece } from "./timeline";

/** The `counts` block of a version 1 replay. */
export interface ReplayCounts {
  records: number;
  messages: number;
  events: number;
  deleted: number;
  duplicates: number;
  skipped: number;
}

/** Why a record was skipped (SPEC section 3, rule 1); reported on standard error and in logs. */
export type SkipReason =
  | "notJson"
  | "notAnObject"
  | "unknownType"
  | "missingPayload"
  | "missingId"
  | "badEventTimestamp"
  | "badSendTime";

/** Where the recording of a broadcast lies, as written in the replay. */
export interface RecordingRef {
  bucket: string;
  prefix: string;
  sessionId: string;
  durationMs: number | null;
}

/** What a replay is built for: the window to keep and the header fields to write. */
export interface ReplayOptions {
  window: { start: Instant | null; end: Instant | null };
  /** Offsets are measured from here; `null` means from the earliest `sendTime` written. Ignored with a `timeline`. */
  offsetBase: Instant | null;
  /** The recording's timeline (SPEC rule 8); absent or empty: one open piece at the offset base. */
  timeline?: readonly TimelinePiece[];
  channelArn?: string | null;
  roomArn?: string | null;
  streamIds?: readonly string[];
  recording?: RecordingRef | null;
}
