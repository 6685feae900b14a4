import { compareInstants, floorDiffMs, formatInstant, type Instant, parseInstant } from "./time";

/**
 * One piece of a recording's timeline (SPEC section 3, rule 8): a span of wall-clock time
 * `[start, end)` that the recording holds, starting at media time `mediaMs`; `end` is `null` for
 * an open last piece.
 */
export interface TimelinePiece {
  start: Instant;
  end: Instant | null;
  mediaMs: number;
}

/** A piece as the replay's header writes it. */
export interface TimelineJson {
  start: string;
  end: string | null;
  mediaMs: number;
}

/** The header's form of a timeline: times as `Date.toISOString()` (rule 11). */
export function timelineJson(pieces: readonly TimelinePiece[]): TimelineJson[] {
  return pieces.map((piece) => ({
    start: formatInstant(piece.start),
    end: piece.end === null ? null : formatInstant(piece.end),
    mediaMs: piece.mediaMs,
  }));
}

/**
 * Media offsets of send times in ascending order (a replay's messages, or its events): a cursor
 * over the pieces, so each offset costs O(1) on average.
 */
export class MediaClock {
  private index = 0;

  constructor(private readonly pieces: readonly TimelinePiece[]) {
    if (pieces.length === 0) throw new Error("a media clock needs at least one timeline piece");
  }

  /** `offsetMs` of a send time (rule 8); times must come in ascending order. */
  offsetMs(t: Instant): number {
    const pieces = this.pieces;
    const first = pieces[0] as TimelinePiece;
    if (compareInstants(t, first.start) < 0) return first.mediaMs + floorDiffMs(t, first.start);
    // The last piece starting at or before t.
    while (
      this.index + 1 < pieces.length &&
      compareInstants((pieces[this.index + 1] as TimelinePiece).start, t) <= 0
    ) {
      this.index++;
    }
    const piece = pieces[this.index] as TimelinePiece;
    const next = pieces[this.index + 1];
    const inside = piece.end === null || compareInstants(t, piece.end) < 0;
    // In a gap the offset is the join point: where the next piece begins in the media.
    if (!inside && next !== undefined) return next.mediaMs;
    return piece.mediaMs + floorDiffMs(t, piece.start);
  }
}

/** Parses a timeline given as JSON (`--timeline FILE`): pieces in order, each after the one before. */
export function parseTimeline(json: unknown): TimelinePiece[] | string {
  if (!Array.isArray(json) || json.length === 0) return "is not a non-empty JSON list of pieces";
  const pieces: TimelinePiece[] = [];
  for (const [i, raw] of json.entries()) {
    const piece = raw as Partial<Record<keyof TimelineJson, unknown>> | null;
    const start = parseInstant(piece?.start);
    const end = piece?.end === null ? null : parseInstant(piece?.end);
    const mediaMs = piece?.mediaMs;
    const where = `piece ${i + 1}`;
    if (start === undefined) return `${where}: "start" is not an ISO 8601 time with a zone`;
    if (end === undefined) return `${where}: "end" is neither null nor an ISO 8601 time with a zone`;
    if (typeof mediaMs !== "number" || !Number.isSafeInteger(mediaMs)) {
      return `${where}: "mediaMs" is not a whole number of milliseconds`;
    }
    if (end !== null && compareInstants(end, start) <= 0) return `${where}: "end" is not after "start"`;
    const before = pieces[i - 1];
    if (before !== undefined) {
      if (before.end === null) return `${where} follows an open piece (only the last may have "end": null)`;
      if (compareInstants(start, before.end) < 0)
        return `${where} starts before the end of the piece before it`;
      if (mediaMs < before.mediaMs) return `${where}: "mediaMs" is smaller than the piece before it`;
    }
    pieces.push({ start, end, mediaMs });
  }
  return pieces;
}

const US_PER_MS = 1000;
// A segment whose date is off from where the one before it ends by more than this starts a new piece.
const JUMP_US = 1_000_000;

/** `#EXTINF` seconds as whole microseconds, exactly (no float rounding); undefined when not a duration. */
function durationUs(text: string): number | undefined {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (match === null) return undefined;
  const whole = Number(match[1]);
  const fraction = Number((match[2] ?? "").slice(0, 6).padEnd(6, "0"));
  return whole * 1_000_000 + fraction;
}

/** An instant to whole microseconds (sub-microsecond digits dropped). */
function toUs(at: Instant): number {
  return at.ms * US_PER_MS + Number((at.sub.slice(0, 3) || "0").padEnd(3, "0"));
}

/** Whole microseconds to an instant, floored to the millisecond (the precision times are written in). */
function msInstant(us: number): Instant {
  return { ms: Math.floor(us / US_PER_MS), sub: "" };
}

interface Segment {
  dateUs?: number;
  durationUs: number;
  discontinuity: boolean;
}

/**
 * A media playlist's segments, with the first tag it could not read (by line number): a segment
 * is then read as if the tag were not there (no date; a duration of 0).
 */
function readPlaylist(text: string): { segments: Segment[]; problem?: string } {
  const segments: Segment[] = [];
  let problem: string | undefined;
  let pending: Partial<Segment> = {};
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("#EXTINF:")) {
      const value = line.slice("#EXTINF:".length).split(",")[0] ?? "";
      pending.durationUs = durationUs(value);
      if (pending.durationUs === undefined)
        problem ??= `line ${i + 1}: #EXTINF "${value}" is not a duration in seconds`;
    } else if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) {
      const value = line.slice("#EXT-X-PROGRAM-DATE-TIME:".length);
      const at = parseInstant(value);
      if (at !== undefined) pending.dateUs = toUs(at);
      else
        problem ??= `line ${i + 1}: #EXT-X-PROGRAM-DATE-TIME "${value}" is not an ISO 8601 time with a zone`;
    } else if (line === "#EXT-X-DISCONTINUITY") {
      pending.discontinuity = true;
    } else if (!line.startsWith("#")) {
      // A segment's URI closes its tags.
      segments.push({
        dateUs: pending.dateUs,
        durationUs: pending.durationUs ?? 0,
        discontinuity: pending.discontinuity === true,
      });
      pending = {};
    }
  }
  return problem === undefined ? { segments } : { segments, problem };
}

/**
 * The timeline of an HLS media playlist with `#EXT-X-PROGRAM-DATE-TIME` (rule 8 (a)): a new piece
 * at the first segment, after each `#EXT-X-DISCONTINUITY`, and where a segment's date differs from
 * the previous segment's date plus its `#EXTINF` by more than 1 s; `mediaMs` is the sum of the
 * earlier durations, floored to the millisecond. `undefined` when the playlist carries no date.
 */
export function timelineFromPlaylist(text: string): TimelinePiece[] | undefined {
  return playlistTimeline(text).timeline;
}

/**
 * `timelineFromPlaylist`, with what is wrong with the playlist: its first `#EXTINF` or
 * `#EXT-X-PROGRAM-DATE-TIME` that cannot be read, which the timeline passes over (the archive
 * reads playlists IVS wrote; a playlist given offline with `--playlist` is refused for it).
 */
export function playlistTimeline(text: string): { timeline: TimelinePiece[] | undefined; problem?: string } {
  const { segments, problem } = readPlaylist(text);
  const timeline = timelineOf(segments);
  return problem === undefined ? { timeline } : { timeline, problem };
}

function timelineOf(segments: Segment[]): TimelinePiece[] | undefined {
  const firstDated = segments.findIndex((segment) => segment.dateUs !== undefined);
  if (firstDated < 0) return undefined;
  // A segment without a date of its own follows the one before it (or precedes the first dated one).
  for (let i = firstDated - 1; i >= 0; i--) {
    const after = segments[i + 1] as Segment;
    const segment = segments[i] as Segment;
    segment.dateUs = (after.dateUs as number) - segment.durationUs;
  }
  for (let i = firstDated + 1; i < segments.length; i++) {
    const before = segments[i - 1] as Segment;
    const segment = segments[i] as Segment;
    segment.dateUs ??= (before.dateUs as number) + before.durationUs;
  }
  const pieces: { startUs: number; endUs: number; mediaUs: number }[] = [];
  let mediaUs = 0;
  let previous: Segment | undefined;
  for (const segment of segments) {
    const dateUs = segment.dateUs as number;
    const expected = previous === undefined ? undefined : (previous.dateUs as number) + previous.durationUs;
    const newPiece = expected === undefined || segment.discontinuity || Math.abs(dateUs - expected) > JUMP_US;
    if (newPiece) pieces.push({ startUs: dateUs, endUs: dateUs + segment.durationUs, mediaUs });
    else (pieces[pieces.length - 1] as { endUs: number }).endUs = dateUs + segment.durationUs;
    mediaUs += segment.durationUs;
    previous = segment;
  }
  // A date that steps back (a clock corrected mid-stream) must not make pieces overlap: offsets only grow.
  for (let i = 1; i < pieces.length; i++) {
    const before = pieces[i - 1] as { endUs: number };
    const piece = pieces[i] as { startUs: number; endUs: number };
    if (piece.startUs < before.endUs) {
      piece.endUs += before.endUs - piece.startUs;
      piece.startUs = before.endUs;
    }
  }
  return pieces.map((piece) => ({
    start: msInstant(piece.startUs),
    end: msInstant(piece.endUs),
    mediaMs: Math.floor(piece.mediaUs / US_PER_MS),
  }));
}
