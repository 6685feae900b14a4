export { buildReplay, parseEngineState, Replay, ReplayEngine } from "./engine";
export { MemoryRunStore, type RunStore } from "./runs";
export {
  compareInstants,
  floorDiffMs,
  formatInstant,
  type Instant,
  parseInstant,
} from "./time";
export type { RecordingRef, ReplayCounts, ReplayOptions, SkipReason } from "./types";
