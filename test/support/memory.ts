import type { CheckpointStore, LoadedCheckpoint } from "../../src/archive/ports";
import { MemoryRunStore, type RunStore } from "../../src/replay";
import type { RecordingFact, StreamFact } from "../../src/sessions/events";
import type {
  ArchiveClaim,
  ArchiveState,
  BroadcastKey,
  ChannelLink,
  ClaimResult,
  DueEntry,
  RecordingRecord,
  SessionsStore,
  StreamRecord,
  SweepTarget,
} from "../../src/sessions/model";

/** The key of a stream in `MemorySessionsStore.streams`: channel and id, as the table keys it. */
export const streamName = (channelArn: string, streamId: string) => `${channelArn}#${streamId}`;

const dueKey = (target: SweepTarget) =>
  "streamId" in target
    ? `STREAM#${streamName(target.channelArn, target.streamId)}`
    : `RECORDING#${target.recordingSessionId}`;

/** The sessions table in memory, for use cases under test that only need a store behind them. */
export class MemorySessionsStore implements SessionsStore {
  readonly streams = new Map<string, StreamRecord>();
  readonly recordings = new Map<string, RecordingRecord>();
  readonly links = new Map<string, ChannelLink>();
  /** Every archive state saved, in order, with the key it was saved under. */
  readonly archives: { request: BroadcastKey; state: ArchiveState }[] = [];
  readonly claims = new Map<string, { owner: string; readUntil: string; expiresAt: string }>();

  async recordStream(fact: StreamFact): Promise<{ stream: StreamRecord; changed: boolean }> {
    const at = fact.at.toISOString();
    const stream = this.streams.get(streamName(fact.channelArn, fact.streamId)) ?? {
      streamId: fact.streamId,
      channelArn: fact.channelArn,
    };
    const field = fact.kind === "streamStart" ? "startAt" : "endAt";
    const current = stream[field];
    const changed = current === undefined || (field === "startAt" ? at < current : at > current);
    if (changed) stream[field] = at;
    this.streams.set(streamName(fact.channelArn, fact.streamId), stream);
    return { stream: structuredClone(stream), changed };
  }

  async recordRecording(fact: RecordingFact): Promise<{ recording: RecordingRecord; changed: boolean }> {
    const at = fact.at.toISOString();
    const recording = this.recordings.get(fact.sessionId) ?? {
      sessionId: fact.sessionId,
      channelArn: fact.channelArn,
      streamIds: [],
    };
    recording.streamIds = [...new Set([...recording.streamIds, ...fact.streamIds])].sort();
    recording.bucket = fact.bucket ?? recording.bucket;
    recording.prefix = fact.prefix ?? recording.prefix;
    let changed = false;
    if (fact.kind === "recordingStart" && (recording.startAt === undefined || at < recording.startAt)) {
      recording.startAt = at;
      changed = true;
    } else if (fact.kind === "recordingEnd" && (recording.endAt === undefined || at > recording.endAt)) {
      recording.endAt = at;
      if (fact.durationMs !== undefined) recording.durationMs = fact.durationMs;
      changed = true;
    } else if (fact.kind === "recordingStartFailure" && recording.startFailure === undefined) {
      recording.startFailure = { at, ...(fact.reason === undefined ? {} : { reason: fact.reason }) };
      changed = true;
    } else if (fact.kind === "recordingEndFailure" && recording.endFailure === undefined) {
      recording.endFailure = { at, ...(fact.reason === undefined ? {} : { reason: fact.reason }) };
      changed = true;
    }
    this.recordings.set(fact.sessionId, recording);
    return { recording: structuredClone(recording), changed };
  }

  async attachStreams(
    channelArn: string,
    streamIds: readonly string[],
    sessionId: string,
  ): Promise<StreamRecord[]> {
    return streamIds.map((streamId) => {
      const stream = this.streams.get(streamName(channelArn, streamId)) ?? { streamId, channelArn };
      stream.recordingSessionId = sessionId;
      this.streams.set(streamName(channelArn, streamId), stream);
      return structuredClone(stream);
    });
  }

  async getStream(channelArn: string, streamId: string): Promise<StreamRecord | undefined> {
    const stream = this.streams.get(streamName(channelArn, streamId));
    return stream && structuredClone(stream);
  }

  async getStreams(channelArn: string, streamIds: readonly string[]): Promise<StreamRecord[]> {
    return streamIds
      .flatMap((id) => {
        const stream = this.streams.get(streamName(channelArn, id));
        return stream === undefined ? [] : [structuredClone(stream)];
      })
      .sort((a, b) => (a.streamId < b.streamId ? -1 : 1));
  }

  async getRecording(sessionId: string): Promise<RecordingRecord | undefined> {
    const recording = this.recordings.get(sessionId);
    return recording && structuredClone(recording);
  }

  async getLink(channelArn: string): Promise<ChannelLink | undefined> {
    return this.links.get(channelArn);
  }

  async putLink(channelArn: string, link: ChannelLink): Promise<void> {
    this.links.set(channelArn, link);
  }

  private item(key: BroadcastKey): { archive?: ArchiveState } | undefined {
    return "recordingSessionId" in key
      ? this.recordings.get(key.recordingSessionId)
      : this.streams.get(streamName(key.channelArn, key.streamId));
  }

  private name(key: BroadcastKey): string {
    return "recordingSessionId" in key ? key.recordingSessionId : streamName(key.channelArn, key.streamId);
  }

  private async saveArchive(request: BroadcastKey, state: ArchiveState): Promise<void> {
    this.archives.push({ request: structuredClone(request), state: structuredClone(state) });
    const item = this.item(request);
    if (item !== undefined) item.archive = structuredClone(state);
  }

  async claimArchive(key: BroadcastKey, claim: ArchiveClaim): Promise<ClaimResult> {
    const archive = this.item(key)?.archive;
    if (!claim.force && archive?.readUntil !== undefined && archive.readUntil > claim.readUntil) {
      return { granted: false, newer: structuredClone(archive) };
    }
    const held = this.claims.get(this.name(key));
    if (held !== undefined && held.owner !== claim.owner && held.expiresAt >= new Date().toISOString()) {
      return { granted: false, heldBy: held.owner, heldReadUntil: held.readUntil };
    }
    this.claims.set(this.name(key), {
      owner: claim.owner,
      readUntil: claim.readUntil,
      expiresAt: claim.expiresAt,
    });
    return { granted: true };
  }

  async completeArchive(
    key: BroadcastKey,
    state: ArchiveState,
    owner: string,
    due: number | null | undefined,
  ): Promise<void> {
    if (this.claims.get(this.name(key))?.owner !== owner) throw new Error(`${owner} holds no claim`);
    this.claims.delete(this.name(key));
    await this.saveArchive(key, state);
    if (due !== undefined) await this.setDue(key, due);
  }

  async releaseClaim(key: BroadcastKey, owner: string): Promise<void> {
    if (this.claims.get(this.name(key))?.owner === owner) this.claims.delete(this.name(key));
  }

  async clearArchive(key: BroadcastKey): Promise<void> {
    const item = this.item(key);
    if (item !== undefined) delete item.archive;
    this.due.delete(dueKey(key));
  }

  async failArchive(key: BroadcastKey, reason: string, at: string): Promise<void> {
    const before = this.item(key)?.archive;
    await this.saveArchive(key, { ...before, status: "failed", reason, at });
    this.due.delete(dueKey(key));
  }

  /** The sweep's index: due time and attempts by item key. */
  readonly due = new Map<string, { target: SweepTarget; dueAt: number; attempts: number }>();

  async setDue(
    target: SweepTarget,
    dueAt: number | null,
    options: { expected?: number; attempts?: number } = {},
  ): Promise<boolean> {
    const key = dueKey(target);
    const exists =
      "streamId" in target
        ? this.streams.has(streamName(target.channelArn, target.streamId))
        : this.recordings.has(target.recordingSessionId);
    if (options.expected !== undefined ? this.due.get(key)?.dueAt !== options.expected : !exists)
      return false;
    if (dueAt === null) this.due.delete(key);
    else this.due.set(key, { target, dueAt, attempts: options.attempts ?? 0 });
    return true;
  }

  async *dueEntries(now: number): AsyncIterable<DueEntry> {
    const due = [...this.due.values()]
      .filter((entry) => entry.dueAt <= now)
      .sort((a, b) => a.dueAt - b.dueAt);
    for (const entry of due) yield structuredClone(entry);
  }
}

/** Checkpoints in memory: documents as JSON text, runs in memory stores, per chain. */
export class MemoryCheckpoints implements CheckpointStore {
  readonly documents = new Map<string, string>();
  readonly stores = new Map<string, MemoryRunStore>();
  readonly removed: string[] = [];

  async load(chain: string): Promise<LoadedCheckpoint> {
    const text = this.documents.get(chain);
    if (text === undefined) return { found: false };
    try {
      return { found: true, json: JSON.parse(text) };
    } catch {
      return { found: true, unreadable: "it is not JSON" };
    }
  }

  async save(chain: string, checkpoint: unknown): Promise<void> {
    this.documents.set(chain, JSON.stringify(checkpoint));
  }

  runs(chain: string): RunStore {
    let store = this.stores.get(chain);
    if (store === undefined) {
      store = new MemoryRunStore();
      this.stores.set(chain, store);
    }
    return store;
  }

  async remove(chain: string): Promise<void> {
    this.documents.delete(chain);
    this.stores.delete(chain);
    this.removed.push(chain);
  }
}
