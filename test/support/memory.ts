import type { CheckpointMark, CheckpointStore } from "../../src/archive/archive";
import type { RecordingFact, StreamFact } from "../../src/sessions/events";
import type {
  ArchiveRequest,
  ArchiveState,
  RecordingRecord,
  SessionsStore,
  StreamRecord,
} from "../../src/sessions/model";

/** The sessions table in memory, for use cases under test that only need a store behind them. */
export class MemorySessionsStore implements SessionsStore {
  readonly streams = new Map<string, StreamRecord>();
  readonly recordings = new Map<string, RecordingRecord>();
  readonly links = new Map<string, string>();
  /** Every archive state saved, in order, with the key it was saved under. */
  readonly archives: { request: ArchiveRequest; state: ArchiveState }[] = [];

  async recordStream(fact: StreamFact): Promise<{ stream: StreamRecord; changed: boolean }> {
    const at = fact.at.toISOString();
    const stream = this.streams.get(fact.streamId) ?? {
      streamId: fact.streamId,
      channelArn: fact.channelArn,
    };
    const field = fact.kind === "streamStart" ? "startAt" : "endAt";
    const current = stream[field];
    const changed = current === undefined || (field === "startAt" ? at < current : at > current);
    if (changed) stream[field] = at;
    this.streams.set(fact.streamId, stream);
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
      const stream = this.streams.get(streamId) ?? { streamId, channelArn };
      stream.recordingSessionId = sessionId;
      this.streams.set(streamId, stream);
      return structuredClone(stream);
    });
  }

  async getStream(streamId: string): Promise<StreamRecord | undefined> {
    const stream = this.streams.get(streamId);
    return stream && structuredClone(stream);
  }

  async getStreams(streamIds: readonly string[]): Promise<StreamRecord[]> {
    return streamIds
      .flatMap((id) => {
        const stream = this.streams.get(id);
        return stream === undefined ? [] : [structuredClone(stream)];
      })
      .sort((a, b) => (a.streamId < b.streamId ? -1 : 1));
  }

  async getRecording(sessionId: string): Promise<RecordingRecord | undefined> {
    const recording = this.recordings.get(sessionId);
    return recording && structuredClone(recording);
  }

  async getLink(channelArn: string): Promise<string | undefined> {
    return this.links.get(channelArn);
  }

  async putLink(channelArn: string, roomArn: string): Promise<void> {
    this.links.set(channelArn, roomArn);
  }

  async saveArchive(request: ArchiveRequest, state: ArchiveState): Promise<void> {
    this.archives.push({ request: structuredClone(request), state: structuredClone(state) });
    const item =
      "recordingSessionId" in request
        ? this.recordings.get(request.recordingSessionId)
        : this.streams.get(request.streamId);
    if (item !== undefined) item.archive = structuredClone(state);
  }
}

/** Checkpoints in memory, stored as the S3 store keeps them: the mark, then the state's text. */
export class MemoryCheckpoints implements CheckpointStore {
  readonly saved = new Map<string, { mark: CheckpointMark; text: string }>();
  readonly removed: string[] = [];

  async load(key: string) {
    const checkpoint = this.saved.get(key);
    if (checkpoint === undefined) return undefined;
    const lines = checkpoint.text.split("\n");
    return {
      mark: structuredClone(checkpoint.mark),
      state: (async function* () {
        yield lines;
      })(),
    };
  }

  async save(key: string, mark: CheckpointMark, state: Iterable<string>): Promise<void> {
    // The state is read now, as an upload would: the builder goes on changing after this call.
    this.saved.set(key, { mark: structuredClone(mark), text: [...state].join("") });
  }

  async remove(key: string): Promise<void> {
    this.saved.delete(key);
    this.removed.push(key);
  }
}
