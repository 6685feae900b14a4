export { buildReplay, parseEngineState, Replay, ReplayEngine } from "./engine";
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
  type TimelineJson,
  type TimelinePiece,
  timelineFromPlaylist,
  timelineJson,
} from "./timeline";
export type { RecordingRef, ReplayCounts, ReplayOptions, SkipReason } from "./types";
