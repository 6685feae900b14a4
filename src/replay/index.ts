export { type Encoding, GZIP, PLAIN } from "./encoding";
export { buildReplay, parseEngineState, Replay, ReplayEngine } from "./engine";
export { DEFAULT_SEGMENT_MS, REPLAY_FILES, type ReplayPart, replayFiles } from "./files";
export { MemoryRunStore, type RunStore } from "./runs";
export {
  compareInstants,
  floorDiffMs,
  formatInstant,
  type Instant,
  parseInstant,
} from "./time";
export {
  MediaClock,
  parseTimeline,
  playlistTimeline,
  type TimelineJson,
  type TimelinePiece,
  timelineFromPlaylist,
  timelineJson,
} from "./timeline";
export type { RecordingRef, ReplayCounts, ReplayOptions, SkipReason } from "./types";
