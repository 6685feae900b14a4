import { randomBytes } from "node:crypto";
import {
  type CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";

/** One chat log record as IVS Chat logs it, with the CloudWatch timestamp it is put with. */
export interface LoggedRecord {
  timestampMs: number;
  line: string;
}

const SENDER = { UserId: "75758272-f3f2-4f65-83c5-9b8f144116b8", Attributes: {} };

/** IVS logs `SendTime` with nanoseconds; the extra digits keep the tests honest about them. */
function sendTimeOf(atMs: number): string {
  return new Date(atMs).toISOString().replace("Z", "089757Z");
}

/** A `MESSAGE` record sent and logged at `atMs`. */
export function chatMessage(id: string, atMs: number, content = `message ${id}`): LoggedRecord {
  const line = JSON.stringify({
    event_timestamp: new Date(atMs).toISOString(),
    type: "MESSAGE",
    version: "1.0",
    payload: {
      Type: "MESSAGE",
      Id: id,
      RequestId: "",
      Attributes: { username: "gleningp" },
      Content: content,
      SendTime: sendTimeOf(atMs),
      Sender: SENDER,
    },
  });
  return { timestampMs: atMs, line };
}

/** An `EVENT` record (a custom event, or an `aws:` moderation event) sent and logged at `atMs`. */
export function chatEvent(
  id: string,
  atMs: number,
  eventName: string,
  attributes: Record<string, string> = {},
): LoggedRecord {
  const line = JSON.stringify({
    event_timestamp: new Date(atMs).toISOString(),
    type: "EVENT",
    version: "1.0",
    payload: {
      Type: "EVENT",
      Id: id,
      RequestId: "",
      EventName: eventName,
      Attributes: attributes,
      SendTime: sendTimeOf(atMs),
    },
  });
  return { timestampMs: atMs, line };
}

/** A moderator's `aws:DELETE_MESSAGE` of `target`, logged at `atMs`. */
export function chatDeletion(id: string, atMs: number, target: string): LoggedRecord {
  return chatEvent(id, atMs, "aws:DELETE_MESSAGE", { MessageId: target, Reason: "spam" });
}

/** The CloudWatch log stream IVS Chat writes a room's log to (spelled out here, not taken from src/). */
export function roomLogStream(roomArn: string): string {
  return `aws/IVSChatLogs/1.0/room_${roomArn.slice(roomArn.lastIndexOf("/") + 1)}`;
}

/** The records in timestamp order, ties kept in logging order, as GetLogEvents returns them. */
export function inLogOrder(records: readonly LoggedRecord[]): LoggedRecord[] {
  return [...records].sort((a, b) => a.timestampMs - b.timestampMs);
}

/** The lines of the records logged in `[fromMs, untilMs)`, in the order a reader gets them. */
export function linesLoggedBetween(
  records: readonly LoggedRecord[],
  fromMs: number,
  untilMs: number,
): string[] {
  return inLogOrder(records)
    .filter((r) => r.timestampMs >= fromMs && r.timestampMs < untilMs)
    .map((r) => r.line);
}

function ignoreExisting(error: Error): void {
  if (error.name !== "ResourceAlreadyExistsException") throw error;
}

/** Creates a log group unless it exists. */
export async function ensureLogGroup(logs: CloudWatchLogsClient, logGroupName: string): Promise<void> {
  await logs.send(new CreateLogGroupCommand({ logGroupName })).catch(ignoreExisting);
}

/** Puts the records into a room's log stream (created as needed), in PutLogEvents-sized batches. */
export async function putChat(
  logs: CloudWatchLogsClient,
  logGroupName: string,
  logStreamName: string,
  records: readonly LoggedRecord[],
): Promise<void> {
  await ensureLogGroup(logs, logGroupName);
  await logs.send(new CreateLogStreamCommand({ logGroupName, logStreamName })).catch(ignoreExisting);
  const ordered = inLogOrder(records);
  for (let i = 0; i < ordered.length; i += 1000) {
    const logEvents = ordered.slice(i, i + 1000).map((r) => ({ timestamp: r.timestampMs, message: r.line }));
    const out = await logs.send(new PutLogEventsCommand({ logGroupName, logStreamName, logEvents }));
    // CloudWatch (and moto) silently drop events older than 14 days or too far ahead: a test must not.
    if (out.rejectedLogEventsInfo !== undefined) {
      throw new Error(`PutLogEvents rejected events: ${JSON.stringify(out.rejectedLogEventsInfo)}`);
    }
  }
}

/**
 * Messages that hardly compress (900 random bytes in base64 each), one every 200 ms from
 * `startIso`: a few thousand make a replay over lib-storage's 5 MiB part, gzipped.
 */
export function incompressibleMessages(count: number, startIso: string, idPrefix: string): string[] {
  const start = Date.parse(startIso);
  return Array.from(
    { length: count },
    (_, i) => chatMessage(`${idPrefix}${i}`, start + i * 200, randomBytes(900).toString("base64")).line,
  );
}
