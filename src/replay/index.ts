export {
  buildReplay,
  type EngineOptions,
  type EngineState,
  parseEngineState,
  type RecordSource,
  Replay,
  ReplayEngine,
} from "./engine";
export { type KeptItem, MemoryRunStore, type RunStore } from "./runs";
export {
  compareInstants,
  floorDiffMs,
  formatInstant,
  type Instant,
  parseInstant,
} from "./time";
export type { RecordingRef, ReplayCounts, ReplayOptions, SkipReason } from "./types";
