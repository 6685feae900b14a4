import { ChatNotFoundError, ValidationError } from "../errors";
import type { ChannelLink } from "../sessions/model";
import type { ChatLogSource, IvsLookups, RoomSource } from "./ports";

const ROOM_ARN = /^arn:aws[a-z-]*:ivschat:([a-z0-9-]+):(\d{12}):room\/([A-Za-z0-9]+)$/;

/** An S3 location: a bucket and a key prefix ("" or ending with "/"). */
export interface S3Location {
  bucket: string;
  prefix: string;
}

/** What `resolveChat` needs to know about a channel. */
export interface ChatQuery {
  channelArn: string;
  /** What `cli link` stored for the channel in the sessions table. */
  link?: ChannelLink;
  /** CHAT_LOG_S3_URI: where an S3 logging destination writes (the part before `AWSLogs/`). */
  s3Override?: S3Location;
  /** CHAT_LOG_GROUP. */
  logGroupOverride?: string;
}

/** The chat of a channel: its room, where the room's log lies, and how the room was found. */
export interface ResolvedChat {
  roomArn: string;
  source: ChatLogSource;
  roomSource: RoomSource;
}

type ChatLookups = Pick<IvsLookups, "roomFromChannelTag" | "roomByChannelName" | "loggingOfRoom">;

/**
 * Finds a channel's room (SPEC section 7 order) and its log: the link's own S3 location, else
 * CHAT_LOG_S3_URI, else CHAT_LOG_GROUP, else the room's logging configurations (CloudWatch Logs
 * first, else S3). Throws ChatNotFoundError when either cannot be found.
 */
export async function resolveChat(query: ChatQuery, lookups: ChatLookups): Promise<ResolvedChat> {
  const { roomArn, roomSource } = await findRoom(query, lookups);
  if (!ROOM_ARN.test(roomArn)) {
    throw new ValidationError(
      `room "${roomArn}" (${roomSource} of channel ${query.channelArn}) is not an IVS Chat room ARN`,
    );
  }
  return { roomArn, roomSource, source: await findLog(roomArn, query, lookups) };
}

async function findLog(roomArn: string, query: ChatQuery, lookups: ChatLookups): Promise<ChatLogSource> {
  const linked = query.link?.chatLogS3Uri;
  if (linked) return { kind: "s3", ...parseS3Uri(linked, "the link's chat log S3 URI") };
  if (query.s3Override) return { kind: "s3", ...ivsS3Folder(query.s3Override, roomArn) };
  // `||`, not `??`: an empty CHAT_LOG_GROUP (a blank variable in serverless.yml) means no override.
  if (query.logGroupOverride) return cloudWatchSource(query.logGroupOverride, roomArn);
  const logging = await lookups.loggingOfRoom(roomArn);
  if (logging.logGroupName) return cloudWatchSource(logging.logGroupName, roomArn);
  if (logging.s3Bucket)
    return { kind: "s3", ...ivsS3Folder({ bucket: logging.s3Bucket, prefix: "" }, roomArn) };
  if (logging.firehoseStream) {
    throw new ChatNotFoundError(
      `room ${roomArn} logs only to Firehose delivery stream ${logging.firehoseStream}; link the S3 location it delivers to: npm run cli -- link --channel-arn ${query.channelArn} --room-arn ${roomArn} --chat-log-s3-uri s3://BUCKET/PREFIX`,
    );
  }
  throw new ChatNotFoundError(
    `room ${roomArn} has no CloudWatch Logs or S3 logging configuration; set CHAT_LOG_GROUP or CHAT_LOG_S3_URI`,
  );
}

function cloudWatchSource(logGroupName: string, roomArn: string): ChatLogSource {
  return { kind: "cloudwatch", logGroupName, logStreamName: chatLogStreamName(roomArn) };
}

async function findRoom(
  query: ChatQuery,
  lookups: ChatLookups,
): Promise<{ roomArn: string; roomSource: RoomSource }> {
  if (query.link?.roomArn) return { roomArn: query.link.roomArn, roomSource: "link" };
  const tagged = await lookups.roomFromChannelTag(query.channelArn);
  if (tagged) return { roomArn: tagged, roomSource: "tag" };
  const named = await lookups.roomByChannelName(query.channelArn);
  if (named.roomArn === undefined) {
    throw new ChatNotFoundError(
      `no chat room linked, tagged or named like channel ${query.channelArn} (${named.reason})`,
    );
  }
  return { roomArn: named.roomArn, roomSource: "name" };
}

function roomParts(roomArn: string): { region: string; account: string; roomId: string } {
  const match = ROOM_ARN.exec(roomArn);
  if (!match) throw new ValidationError(`not an IVS Chat room ARN: "${roomArn}"`);
  const [, region, account, roomId] = match as unknown as [string, string, string, string];
  return { region, account, roomId };
}

// Where IVS Chat writes a room's log: all this service relies on of the layout is here.

/** The CloudWatch Logs stream IVS Chat writes a room's log to: `aws/IVSChatLogs/1.0/room_<room id>`. */
export function chatLogStreamName(roomArn: string): string {
  return `aws/IVSChatLogs/1.0/room_${roomParts(roomArn).roomId}`;
}

/**
 * The folder an S3 logging destination writes a room's log to, below `base` (the part before
 * `AWSLogs/`): `AWSLogs/<account>/IVSChatLogs/1.0/<region>/room_<room id>/`.
 */
export function ivsS3Folder(base: S3Location, roomArn: string): S3Location {
  const { region, account, roomId } = roomParts(roomArn);
  return {
    bucket: base.bucket,
    prefix: `${base.prefix}AWSLogs/${account}/IVSChatLogs/1.0/${region}/room_${roomId}/`,
  };
}

/**
 * The folder of objects delivered in the UTC hour holding `ms`: `<folder>YYYY/MM/DD/HH/`, as both
 * the S3 logging destination (below the room's folder) and Firehose (below its prefix) write them.
 * The objects' names are not relied on.
 */
export function hourFolder(folderPrefix: string, ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${folderPrefix}${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(11, 13)}/`;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket[/prefix]` as a bucket and a folder prefix ("" or ending with "/"); `what` names it in errors. */
export function parseS3Uri(uri: string, what: string): S3Location {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(uri.trim());
  const bucket = match?.[1] ?? "";
  if (!match || !BUCKET_NAME.test(bucket)) {
    throw new ValidationError(`${what} "${uri}" is not s3://bucket[/prefix] with a valid bucket name`);
  }
  const path = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
  return { bucket, prefix: path === "" ? "" : `${path}/` };
}

/** An S3 location as `s3://bucket/prefix`. */
export function s3Uri(location: S3Location): string {
  return `s3://${location.bucket}/${location.prefix}`;
}
