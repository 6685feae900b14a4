export { buildReplay, type RecordSource, Replay, ReplayBuilder } from "./builder";
export { splitLines } from "./lines";
export {
  compareInstants,
  floorDiffMs,
  formatInstant,
  type Instant,
  parseInstant,
} from "./time";
export type { RecordingRef, ReplayCounts, ReplayOptions, SkipReason } from "./types";
