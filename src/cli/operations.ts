import type { Writable } from "node:stream";
import { parseArgs } from "node:util";
import { parseArchiveRequest } from "../archive/request";
import { ArchiveQueue } from "../aws/archiveQueue";
import type { AwsClients } from "../aws/clients";
import { type BroadcastStatus, SessionsTable } from "../aws/sessionsTable";
import { loadConfig } from "../config";
import { ValidationError } from "../errors";
import { once } from "../once";
import { parseInstant } from "../replay";
import { CHANNEL_ARN } from "../sessions/events";
import type { ArchiveRequest, BroadcastKey } from "../sessions/model";

const DAY_MS = 24 * 3600 * 1000;
const DEFAULT_SINCE = "14d";

/** `--since`: an ISO time with a zone, or a span back from now such as `48h` or `7d`. */
export function sinceOption(value: string, now: Date): string {
  const span = /^(\d+)([hd])$/.exec(value);
  if (span !== null) {
    const ms = Number(span[1]) * (span[2] === "d" ? DAY_MS : DAY_MS / 24);
    return new Date(now.getTime() - ms).toISOString();
  }
  // A date alone is the start of that day in UTC.
  const at = parseInstant(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (at === undefined) {
    throw new ValidationError(
      `--since "${value}" is neither a span such as 48h or 7d, a date such as 2024-01-05, nor an ISO 8601 time with a zone`,
    );
  }
  return new Date(at.ms).toISOString();
}

/** `--channel-arn`, when given, checked to be an IVS channel's ARN. */
export function channelOption<T extends string | undefined>(value: T): T {
  if (value !== undefined && !CHANNEL_ARN.test(value)) {
    throw new ValidationError(`--channel-arn ${value} is not an IVS channel ARN`);
  }
  return value;
}

function describeKey(key: BroadcastKey): string {
  return "recordingSessionId" in key
    ? `recording ${key.recordingSessionId}`
    : `stream ${key.streamId} of ${key.channelArn}`;
}

/** One line of `status`: which broadcast, its window, its archive state. */
export function statusLine(broadcast: BroadcastStatus): string {
  const channel = broadcast.channelArn?.split("/").pop() ?? "?";
  const what =
    "recordingSessionId" in broadcast.key
      ? `recording ${broadcast.key.recordingSessionId}`
      : `stream ${broadcast.key.streamId}`;
  const archive = broadcast.archive;
  // The window an archive read is the broadcast's; before one, the times the events gave.
  const start = archive?.window?.start ?? broadcast.startAt;
  const end = archive?.window?.end ?? broadcast.endAt;
  const window = `${start ?? "?"} .. ${end ?? "(live or unknown)"}`;
  // What a replay in S3 holds, and where: a failed attempt keeps the replay archived before it.
  const counts = archive?.counts;
  const where =
    archive?.location === undefined ? "" : ` s3://${archive.location.bucket}/${archive.location.key}`;
  const summary =
    counts === undefined
      ? ""
      : ` ${counts.records} records: ${counts.messages} messages, ${counts.events} events, ${counts.deleted} deleted, ${counts.duplicates} duplicates, ${counts.skipped} skipped;`;
  let state: string;
  if (archive?.status === "archived") {
    state = `archived ${archive.at}:${summary}${where}`;
  } else if (archive?.status === "failed") {
    state = `FAILED ${archive.at}: ${archive.reason ?? "no reason recorded"}`;
    if (where !== "") state += `; the replay archived before stands:${summary}${where}`;
  } else {
    state = "pending";
  }
  if (broadcast.dueAt !== undefined) state += ` (sweep due ${broadcast.dueAt})`;
  return `${what}  channel ${channel}  ${window}  ${state}`;
}

/** Newest first, by start (else by last update). */
function newestFirst(a: BroadcastStatus, b: BroadcastStatus): number {
  const at = (x: BroadcastStatus) => x.startAt ?? x.updatedAt ?? "";
  return at(b).localeCompare(at(a));
}

/** The request that archives a broadcast again. */
function requestOf(key: BroadcastKey, force: boolean): ArchiveRequest {
  return force ? { ...key, force: true } : key;
}

/** `status` and `redrive` (SPEC section 6), over the sessions table and the archive queue. */
export function operationsCommands(makeClients: () => AwsClients, out: Writable, now = () => new Date()) {
  const clients = once(makeClients);
  const table = () => new SessionsTable(loadConfig(["SESSIONS_TABLE"]).SESSIONS_TABLE, clients().documents);

  return {
    /** `status [--channel-arn ARN] [--failed] [--since 14d] [--limit 50] [--json]` */
    async status(args: string[]): Promise<void> {
      const { values } = parseArgs({
        args,
        options: {
          "channel-arn": { type: "string" },
          failed: { type: "boolean" },
          since: { type: "string", default: DEFAULT_SINCE },
          limit: { type: "string", default: "50" },
          json: { type: "boolean" },
        },
      });
      const limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1) {
        throw new ValidationError(`--limit "${values.limit}" is not a whole number of at least 1`);
      }
      channelOption(values["channel-arn"]);
      const since = sinceOption(values.since, now());
      const found: BroadcastStatus[] = [];
      for await (const broadcast of table().broadcasts({
        since,
        channelArn: values["channel-arn"],
        failed: values.failed,
      })) {
        found.push(broadcast);
      }
      const shown = found.sort(newestFirst).slice(0, limit);
      for (const broadcast of shown) {
        out.write(`${values.json ? JSON.stringify(broadcast) : statusLine(broadcast)}\n`);
      }
      if (!values.json) {
        const which = values.failed ? "failed broadcasts" : "broadcasts";
        const more =
          found.length > shown.length ? ` (the newest ${shown.length} shown; --limit N for more)` : "";
        out.write(`${found.length} ${which} updated since ${since}${more}\n`);
      }
    },

    /** `redrive (--failed [--since 14d] [--channel-arn ARN] | --channel-arn ARN --stream-id ID | --recording-session-id ID) [--force]` */
    async redrive(args: string[]): Promise<void> {
      const { values } = parseArgs({
        args,
        options: {
          failed: { type: "boolean" },
          "channel-arn": { type: "string" },
          "stream-id": { type: "string" },
          "recording-session-id": { type: "string" },
          since: { type: "string", default: DEFAULT_SINCE },
          force: { type: "boolean" },
        },
      });
      const force = values.force === true;
      const one = values["recording-session-id"] !== undefined || values["stream-id"] !== undefined;
      if ((values.failed === true) === one) {
        throw new ValidationError(
          "redrive needs --failed, or --channel-arn ARN --stream-id ID, or --recording-session-id ID",
        );
      }
      if (values["recording-session-id"] !== undefined && values["stream-id"] !== undefined) {
        throw new ValidationError(
          "redrive takes --channel-arn ARN --stream-id ID or --recording-session-id ID: not both",
        );
      }
      if (values["stream-id"] !== undefined && values["channel-arn"] === undefined) {
        throw new ValidationError("redrive --stream-id ID needs the stream's --channel-arn ARN");
      }
      channelOption(values["channel-arn"]);
      const session = values["recording-session-id"];
      // A recording is archived from what the table holds of it (a stream may be found at IVS instead).
      if (session !== undefined && (await table().getRecording(session)) === undefined) {
        throw new ValidationError(
          `recording session ${session} is not in the sessions table: nothing to redrive`,
        );
      }
      const requests: ArchiveRequest[] = [];
      if (one) {
        const key =
          values["recording-session-id"] !== undefined
            ? { recordingSessionId: values["recording-session-id"] }
            : { channelArn: values["channel-arn"], streamId: values["stream-id"] };
        requests.push(parseArchiveRequest(requestOf(key as BroadcastKey, force)));
      } else {
        const since = sinceOption(values.since, now());
        for await (const broadcast of table().broadcasts({
          since,
          channelArn: values["channel-arn"],
          failed: true,
        })) {
          requests.push(requestOf(broadcast.key, force));
        }
      }
      const { ARCHIVE_QUEUE_URL } = loadConfig(["ARCHIVE_QUEUE_URL"]);
      const queue = new ArchiveQueue(ARCHIVE_QUEUE_URL, clients().sqs);
      for (const request of requests) {
        await queue.schedule(request, 0);
        out.write(`queued ${describeKey(request)}${force ? " (force)" : ""}\n`);
      }
      out.write(`redrive: ${requests.length} archive(s) queued\n`);
    },
  };
}
