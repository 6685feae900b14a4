import { ChatNotFoundError, ValidationError } from "../errors";
import type { IvsLookups, RoomSource } from "./ports";

const ROOM_ARN = /^arn:aws[a-z-]*:ivschat:[a-z0-9-]+:\d{12}:room\/([A-Za-z0-9]+)$/;

/** What `resolveChat` needs to know about a channel. */
export interface ChatQuery {
  channelArn: string;
  /** Room stored by `cli link` in the sessions table. */
  linkedRoomArn?: string;
  /** CHAT_LOG_GROUP. */
  logGroupOverride?: string;
}

/** The chat of a channel: its room, the log group the room logs to, and how the room was found. */
export interface ResolvedChat {
  roomArn: string;
  logGroupName: string;
  roomSource: RoomSource;
}

type ChatLookups = Pick<IvsLookups, "roomFromChannelTag" | "roomByChannelName" | "logGroupOfRoom">;

/** Finds a channel's room and log group in SPEC section 5 order, or throws ChatNotFoundError. */
export async function resolveChat(query: ChatQuery, lookups: ChatLookups): Promise<ResolvedChat> {
  const { roomArn, roomSource } = await findRoom(query, lookups);
  if (!ROOM_ARN.test(roomArn)) {
    throw new ValidationError(
      `room "${roomArn}" (${roomSource} of channel ${query.channelArn}) is not an IVS Chat room ARN`,
    );
  }
  // `||`, not `??`: an empty CHAT_LOG_GROUP (a blank variable in serverless.yml) means no override.
  const logGroupName = query.logGroupOverride || (await lookups.logGroupOfRoom(roomArn));
  if (!logGroupName) {
    throw new ChatNotFoundError(
      `room ${roomArn} has no CloudWatch Logs logging configuration; set CHAT_LOG_GROUP`,
    );
  }
  return { roomArn, logGroupName, roomSource };
}

async function findRoom(
  query: ChatQuery,
  lookups: ChatLookups,
): Promise<{ roomArn: string; roomSource: RoomSource }> {
  if (query.linkedRoomArn) return { roomArn: query.linkedRoomArn, roomSource: "link" };
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

/** The CloudWatch Logs stream IVS Chat writes a room's log to: `aws/IVSChatLogs/1.0/room_<room id>`. */
export function chatLogStreamName(roomArn: string): string {
  const roomId = ROOM_ARN.exec(roomArn)?.[1];
  if (!roomId) throw new ValidationError(`not an IVS Chat room ARN: "${roomArn}"`);
  return `aws/IVSChatLogs/1.0/room_${roomId}`;
}
