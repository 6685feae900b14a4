import { ConditionalCheckFailedException, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  paginateScan,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { ArchiveConflictError } from "../errors";
import type { RecordingFact, StreamFact } from "../sessions/events";
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
} from "../sessions/model";

// Broadcast items expire (TTL attribute expiresAt) this long after their last event; links never do.
const RETENTION_SECONDS = 400 * 24 * 3600;

// A stream id is only unique within its channel as far as this table knows: streams are keyed by both.
const streamKey = (channelArn: string, streamId: string) => ({ pk: `STREAM#${channelArn}#${streamId}` });
const recordingKey = (sessionId: string) => ({ pk: `RECORDING#${sessionId}` });
const linkKey = (channelArn: string) => ({ pk: `LINK#${channelArn}` });
/** The sparse index of pending work: only items with `sweep` set are in it, ordered by `dueAt`. */
const DUE_INDEX = "due";
const DUE = "due";
const NOT_DUE = "#sweep, #dueAt, #dueAttempts";

/**
 * What an archive write sets so that an item it creates (a redrive of a broadcast no event told
 * of) still says what it is: the sweep reads it back.
 */
function identity(key: BroadcastKey): { set: string; values: Record<string, unknown> } {
  const keep = (field: string, value: string) => `#${field} = if_not_exists(#${field}, ${value})`;
  if ("recordingSessionId" in key) {
    return {
      set: [keep("kind", ":kind"), keep("sessionId", ":id")].join(", "),
      values: { ":kind": "recording", ":id": key.recordingSessionId },
    };
  }
  return {
    set: [keep("kind", ":kind"), keep("channelArn", ":channel"), keep("streamId", ":id")].join(", "),
    values: { ":kind": "stream", ":channel": key.channelArn, ":id": key.streamId },
  };
}

// Named condition fragments: a start only moves earlier, an end only later, a failure is kept once.
const EARLIER = (field: string) => `attribute_not_exists(#${field}) OR #${field} > :at`;
const LATER = (field: string) => `attribute_not_exists(#${field}) OR #${field} < :at`;
const FIRST = (field: string) => `attribute_not_exists(#${field})`;

/** Builds the DynamoDB document client, once per cold start. */
export function createDocumentClient(client = new DynamoDBClient({})): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

// Bookkeeping attributes the records leave out.
function withoutBookkeeping(item: Record<string, unknown>): Record<string, unknown> {
  const {
    pk: _pk,
    kind: _kind,
    updatedAt: _u,
    expiresAt: _e,
    archiveClaim: _c,
    sweep: _s,
    dueAt: _d,
    dueAttempts: _a,
    ...rest
  } = item;
  return rest;
}

function toStream(item: Record<string, unknown>): StreamRecord {
  return withoutBookkeeping(item) as unknown as StreamRecord;
}

function toRecording(item: Record<string, unknown>): RecordingRecord {
  const { streamIds, ...rest } = withoutBookkeeping(item);
  const ids = streamIds instanceof Set ? [...(streamIds as Set<string>)].sort() : [];
  return { ...(rest as unknown as RecordingRecord), streamIds: ids };
}

/** Adds ExpressionAttributeNames for every `#name` used, so no attribute collides with a reserved word. */
function named(input: UpdateCommandInput): UpdateCommandInput {
  return { ...input, ExpressionAttributeNames: namesIn(input.UpdateExpression, input.ConditionExpression) };
}

/** `{"#name": "name"}` for every `#name` in the expressions. */
function namesIn(...expressions: (string | undefined)[]): Record<string, string> {
  const text = expressions.join(" ");
  return Object.fromEntries([...text.matchAll(/#(\w+)/g)].map((match) => [match[0], match[1] ?? ""]));
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as Error).name === "ConditionalCheckFailedException"
  );
}

/** The sessions table (see README, "Data model"): one item per stream, recording session and link. */
export class SessionsTable implements SessionsStore {
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBDocumentClient,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private stamp(): Record<string, unknown> {
    const now = this.now();
    return { ":now": now.toISOString(), ":exp": Math.floor(now.getTime() / 1000) + RETENTION_SECONDS };
  }

  /** Runs an update (its `#names` filled in); false when its condition does not hold. */
  private async updateIf(update: UpdateCommandInput): Promise<boolean> {
    try {
      await this.client.send(new UpdateCommand(named(update)));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Runs an update whose condition may fail; on failure runs `fallback` (or reads the item) instead. */
  private async conditional(
    update: UpdateCommandInput,
    fallback: UpdateCommandInput | undefined,
  ): Promise<{ item: Record<string, unknown>; changed: boolean }> {
    try {
      const out = await this.client.send(new UpdateCommand(named({ ...update, ReturnValues: "ALL_NEW" })));
      return { item: out.Attributes ?? {}, changed: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    if (fallback !== undefined) {
      const out = await this.client.send(new UpdateCommand(named({ ...fallback, ReturnValues: "ALL_NEW" })));
      return { item: out.Attributes ?? {}, changed: false };
    }
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: update.Key, ConsistentRead: true }),
    );
    return { item: out.Item ?? {}, changed: false };
  }

  async recordStream(fact: StreamFact): Promise<{ stream: StreamRecord; changed: boolean }> {
    const field = fact.kind === "streamStart" ? "startAt" : "endAt";
    const { item, changed } = await this.conditional(
      {
        TableName: this.tableName,
        Key: streamKey(fact.channelArn, fact.streamId),
        UpdateExpression: `SET #kind = :kind, #channelArn = :channel, #streamId = :stream, #${field} = :at, #updatedAt = :now, #expiresAt = :exp`,
        ConditionExpression: field === "startAt" ? EARLIER(field) : LATER(field),
        ExpressionAttributeValues: {
          ":kind": "stream",
          ":channel": fact.channelArn,
          ":stream": fact.streamId,
          ":at": fact.at.toISOString(),
          ...this.stamp(),
        },
      },
      undefined,
    );
    return { stream: toStream(item), changed };
  }

  async recordRecording(fact: RecordingFact): Promise<{ recording: RecordingRecord; changed: boolean }> {
    // Always merged, whatever the condition: only values the event carries, so nothing is erased.
    const set = [
      "#kind = :kind",
      "#channelArn = :channel",
      "#sessionId = :session",
      "#updatedAt = :now",
      "#expiresAt = :exp",
    ];
    const values: Record<string, unknown> = {
      ":kind": "recording",
      ":channel": fact.channelArn,
      ":session": fact.sessionId,
      ...this.stamp(),
    };
    if (fact.bucket !== undefined) {
      set.push("#bucket = :bucket");
      values[":bucket"] = fact.bucket;
    }
    if (fact.prefix !== undefined) {
      set.push("#prefix = :prefix");
      values[":prefix"] = fact.prefix;
    }
    const add = fact.streamIds.length > 0 ? " ADD #streamIds :ids" : "";
    if (add) values[":ids"] = new Set(fact.streamIds);
    const merge: UpdateCommandInput = {
      TableName: this.tableName,
      Key: recordingKey(fact.sessionId),
      UpdateExpression: `SET ${set.join(", ")}${add}`,
      ExpressionAttributeValues: values,
    };

    const at = fact.at.toISOString();
    const failure = { at, ...(fact.reason === undefined ? {} : { reason: fact.reason }) };
    const factUpdate = {
      recordingStart: { set: "#startAt = :at", condition: EARLIER("startAt"), values: { ":at": at } },
      recordingEnd: {
        set: fact.durationMs === undefined ? "#endAt = :at" : "#endAt = :at, #durationMs = :duration",
        condition: LATER("endAt"),
        values: { ":at": at, ...(fact.durationMs === undefined ? {} : { ":duration": fact.durationMs }) },
      },
      recordingStartFailure: {
        set: "#startFailure = :failure",
        condition: FIRST("startFailure"),
        values: { ":failure": failure },
      },
      recordingEndFailure: {
        set: "#endFailure = :failure",
        condition: FIRST("endFailure"),
        values: { ":failure": failure },
      },
    }[fact.kind];
    const { item, changed } = await this.conditional(
      {
        ...merge,
        UpdateExpression: `SET ${[...set, factUpdate.set].join(", ")}${add}`,
        ConditionExpression: factUpdate.condition,
        ExpressionAttributeValues: { ...values, ...factUpdate.values },
      },
      merge,
    );
    return { recording: toRecording(item), changed };
  }

  async attachStreams(
    channelArn: string,
    streamIds: readonly string[],
    sessionId: string,
  ): Promise<StreamRecord[]> {
    return Promise.all(
      streamIds.map(async (streamId) => {
        const out = await this.client.send(
          new UpdateCommand(
            named({
              TableName: this.tableName,
              Key: streamKey(channelArn, streamId),
              UpdateExpression:
                "SET #kind = :kind, #channelArn = :channel, #streamId = :stream, #recordingSessionId = :session, #updatedAt = :now, #expiresAt = :exp",
              ExpressionAttributeValues: {
                ":kind": "stream",
                ":channel": channelArn,
                ":stream": streamId,
                ":session": sessionId,
                ...this.stamp(),
              },
              ReturnValues: "ALL_NEW",
            }),
          ),
        );
        return toStream(out.Attributes ?? {});
      }),
    );
  }

  async getStream(channelArn: string, streamId: string): Promise<StreamRecord | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: streamKey(channelArn, streamId),
        ConsistentRead: true,
      }),
    );
    return out.Item === undefined ? undefined : toStream(out.Item);
  }

  async getStreams(channelArn: string, streamIds: readonly string[]): Promise<StreamRecord[]> {
    const found: StreamRecord[] = [];
    // BatchGet takes 100 keys; a recording session merges a handful of streams.
    for (let i = 0; i < streamIds.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = streamIds
        .slice(i, i + 100)
        .map((streamId) => streamKey(channelArn, streamId));
      for (let attempt = 0; keys !== undefined && keys.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
        const out: BatchGetCommandOutput = await this.client.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
        );
        found.push(...(out.Responses?.[this.tableName] ?? []).map(toStream));
        keys = out.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return found.sort((a, b) => (a.streamId < b.streamId ? -1 : 1));
  }

  async getRecording(sessionId: string): Promise<RecordingRecord | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: recordingKey(sessionId), ConsistentRead: true }),
    );
    return out.Item === undefined ? undefined : toRecording(out.Item);
  }

  async getLink(channelArn: string): Promise<ChannelLink | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: linkKey(channelArn) }),
    );
    const { roomArn, chatLogS3Uri } = out.Item ?? {};
    if (typeof roomArn !== "string") return undefined;
    return typeof chatLogS3Uri === "string" ? { roomArn, chatLogS3Uri } : { roomArn };
  }

  async putLink(channelArn: string, link: ChannelLink): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...linkKey(channelArn),
          kind: "link",
          channelArn,
          ...link,
          updatedAt: this.now().toISOString(),
        },
      }),
    );
  }

  async claimArchive(key: BroadcastKey, claim: ArchiveClaim): Promise<ClaimResult> {
    const { force, ...held } = claim;
    const free = `(${FIRST("archiveClaim")} OR #archiveClaim.#expiresAt < :now OR #archiveClaim.#owner = :owner)`;
    // Named fragment: the replay on record read no further than this run did.
    const notNewer = "(attribute_not_exists(#archive.#readUntil) OR #archive.#readUntil <= :readUntil)";
    const who = identity(key);
    const { item, changed } = await this.conditional(
      {
        TableName: this.tableName,
        Key: itemKey(key),
        UpdateExpression: `SET #archiveClaim = :claim, ${who.set}, #updatedAt = :now, #expiresAt = :exp`,
        ConditionExpression: force ? free : `${free} AND ${notNewer}`,
        ExpressionAttributeValues: {
          ":claim": held,
          ":owner": claim.owner,
          ...(force ? {} : { ":readUntil": claim.readUntil }),
          ...who.values,
          ...this.stamp(),
        },
      },
      undefined,
    );
    if (changed) return { granted: true };
    const archive = item.archive as ArchiveState | undefined;
    if (!force && archive?.readUntil !== undefined && archive.readUntil > claim.readUntil) {
      return { granted: false, newer: archive };
    }
    const holder = item.archiveClaim as { owner?: string; readUntil?: string } | undefined;
    return { granted: false, heldBy: holder?.owner ?? "another run", heldReadUntil: holder?.readUntil };
  }

  async completeArchive(
    key: BroadcastKey,
    state: ArchiveState,
    owner: string,
    due: number | null | undefined,
  ): Promise<void> {
    // The sweep's next look at the broadcast lands with the state, in the same write.
    const set = ["#archive = :archive", "#updatedAt = :now", "#expiresAt = :exp"];
    const remove = ["#archiveClaim"];
    const values: Record<string, unknown> = { ":archive": state, ":owner": owner, ...this.stamp() };
    if (due === null) remove.push(NOT_DUE);
    else if (due !== undefined) {
      set.push("#sweep = :sweep", "#dueAt = :dueAt", "#dueAttempts = :zero");
      Object.assign(values, { ":sweep": DUE, ":dueAt": due, ":zero": 0 });
    }
    const recorded = await this.updateIf({
      TableName: this.tableName,
      Key: itemKey(key),
      UpdateExpression: `SET ${set.join(", ")} REMOVE ${remove.join(", ")}`,
      ConditionExpression: "#archiveClaim.#owner = :owner",
      ExpressionAttributeValues: values,
    });
    if (!recorded)
      throw new ArchiveConflictError(`run ${owner} lost its claim on the replay before recording it`);
  }

  async releaseClaim(key: BroadcastKey, owner: string): Promise<void> {
    await this.updateIf({
      TableName: this.tableName,
      Key: itemKey(key),
      UpdateExpression: "REMOVE #archiveClaim",
      ConditionExpression: "#archiveClaim.#owner = :owner",
      ExpressionAttributeValues: { ":owner": owner },
    });
  }

  async clearArchive(key: BroadcastKey): Promise<void> {
    await this.updateIf({
      TableName: this.tableName,
      Key: itemKey(key),
      UpdateExpression: `REMOVE #archive, ${NOT_DUE}`,
      ConditionExpression: "attribute_exists(#pk)",
    });
  }

  async failArchive(key: BroadcastKey, reason: string, at: string): Promise<void> {
    // A failure is final until a redrive: the broadcast leaves the sweep's index in the same write.
    const values = { ":failed": "failed", ":reason": reason, ":at": at, ...this.stamp() };
    const who = identity(key);
    await this.conditional(
      {
        TableName: this.tableName,
        Key: itemKey(key),
        // Keep what the item says of the replay archived before: it is still the one in S3.
        UpdateExpression: `SET #archive.#status = :failed, #archive.#reason = :reason, #archive.#at = :at, #updatedAt = :now, #expiresAt = :exp REMOVE ${NOT_DUE}`,
        ConditionExpression: "attribute_exists(#archive)",
        ExpressionAttributeValues: values,
      },
      {
        TableName: this.tableName,
        Key: itemKey(key),
        UpdateExpression: `SET #archive = :archive, ${who.set}, #updatedAt = :now, #expiresAt = :exp REMOVE ${NOT_DUE}`,
        // Only where no archive is recorded: a state that landed meanwhile keeps its replay's fields.
        ConditionExpression: "attribute_not_exists(#archive)",
        ExpressionAttributeValues: {
          ":archive": { status: "failed", reason, at },
          ...who.values,
          ...this.stamp(),
        },
      },
    ).catch(async (error: unknown) => {
      if (!isConditionFailure(error)) throw error;
      await this.failArchive(key, reason, at);
    });
  }
  async setDue(
    target: SweepTarget,
    dueAt: number | null,
    options: { expected?: number; attempts?: number } = {},
  ): Promise<boolean> {
    const values: Record<string, unknown> =
      dueAt === null ? {} : { ":sweep": DUE, ":dueAt": dueAt, ":attempts": options.attempts ?? 0 };
    if (options.expected !== undefined) values[":expected"] = options.expected;
    return this.updateIf({
      TableName: this.tableName,
      Key: itemKey(target),
      UpdateExpression:
        dueAt === null
          ? `REMOVE ${NOT_DUE}`
          : "SET #sweep = :sweep, #dueAt = :dueAt, #dueAttempts = :attempts",
      ConditionExpression: options.expected === undefined ? "attribute_exists(#pk)" : "#dueAt = :expected",
      ...(Object.keys(values).length > 0 && { ExpressionAttributeValues: values }),
    });
  }

  /**
   * The broadcasts updated since a time, for operators (`status`, `redrive --failed`): recording
   * sessions, and streams that are broadcasts of their own (no recording, or an archive of their
   * own). A Scan: it reads the whole table, which is fine for a command run by hand, never for a function.
   */
  async *broadcasts(filter: BroadcastFilter): AsyncIterable<BroadcastStatus> {
    const conditions = [
      "#updatedAt >= :since",
      "(#kind = :recording OR (#kind = :stream AND (attribute_not_exists(#recordingSessionId) OR attribute_exists(#archive))))",
    ];
    const values: Record<string, unknown> = {
      ":since": filter.since,
      ":recording": "recording",
      ":stream": "stream",
    };
    if (filter.channelArn !== undefined) {
      conditions.push("#channelArn = :channel");
      values[":channel"] = filter.channelArn;
    }
    if (filter.failed) {
      conditions.push("#archive.#status = :failed");
      values[":failed"] = "failed";
    }
    const expression = conditions.join(" AND ");
    const pages = paginateScan(
      { client: this.client },
      {
        TableName: this.tableName,
        FilterExpression: expression,
        ExpressionAttributeNames: namesIn(expression),
        ExpressionAttributeValues: values,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const status = toStatus(item);
        if (status !== undefined) yield status;
      }
    }
  }

  async *dueEntries(now: number): AsyncIterable<DueEntry> {
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        IndexName: DUE_INDEX,
        KeyConditionExpression: "#sweep = :due AND #dueAt <= :now",
        ExpressionAttributeNames: { "#sweep": "sweep", "#dueAt": "dueAt" },
        ExpressionAttributeValues: { ":due": DUE, ":now": now },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const target = targetOf(String(item.pk));
        if (target === undefined) continue;
        yield {
          target,
          dueAt: Number(item.dueAt),
          attempts: Number(item.dueAttempts ?? 0),
        };
      }
    }
  }
}

/** One broadcast as `status` shows it: its item's times, archive state and pending sweep deadline. */
export interface BroadcastStatus {
  key: BroadcastKey;
  channelArn?: string;
  startAt?: string;
  endAt?: string;
  streamIds?: string[];
  archive?: ArchiveState;
  /** When the sweep looks at it next (ISO), if it has pending work. */
  dueAt?: string;
  updatedAt?: string;
}

/** Which broadcasts `broadcasts()` lists. */
export interface BroadcastFilter {
  /** Items updated at or after this time (ISO). */
  since: string;
  channelArn?: string;
  failed?: boolean;
}

function toStatus(item: Record<string, unknown>): BroadcastStatus | undefined {
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  const common = {
    channelArn: text(item.channelArn),
    startAt: text(item.startAt),
    endAt: text(item.endAt),
    archive: item.archive as ArchiveState | undefined,
    dueAt: typeof item.dueAt === "number" ? new Date(item.dueAt * 1000).toISOString() : undefined,
    updatedAt: text(item.updatedAt),
  };
  if (item.kind === "recording" && typeof item.sessionId === "string") {
    return { key: { recordingSessionId: item.sessionId }, ...common, streamIds: toRecording(item).streamIds };
  }
  if (item.kind === "stream" && typeof item.streamId === "string" && common.channelArn !== undefined) {
    return { key: { channelArn: common.channelArn, streamId: item.streamId }, ...common };
  }
  return undefined;
}

/** The broadcast an item key names: `STREAM#<channel ARN>#<stream id>` or `RECORDING#<session id>`. */
function targetOf(pk: string): SweepTarget | undefined {
  const [kind, rest] = [pk.slice(0, pk.indexOf("#")), pk.slice(pk.indexOf("#") + 1)];
  if (kind === "RECORDING") return { recordingSessionId: rest };
  // A channel ARN has no "#": the stream id follows the last one.
  const cut = rest.lastIndexOf("#");
  if (kind !== "STREAM" || cut < 0) return undefined;
  return { channelArn: rest.slice(0, cut), streamId: rest.slice(cut + 1) };
}

function itemKey(key: SweepTarget): Record<string, string> {
  return "recordingSessionId" in key
    ? recordingKey(key.recordingSessionId)
    : streamKey(key.channelArn, key.streamId);
}
