import {
  GetChannelCommand,
  GetStreamSessionCommand,
  type IvsClient,
  ListTagsForResourceCommand,
} from "@aws-sdk/client-ivs";
import {
  GetLoggingConfigurationCommand,
  GetRoomCommand,
  type IvschatClient,
  paginateListRooms,
} from "@aws-sdk/client-ivschat";
import type { IvsLookups, RoomLogging } from "../archive/ports";

/** Channel tag whose value is the ARN of the channel's IVS Chat room. */
export const CHAT_ROOM_TAG = "chat-room-arn";

// Why each name means "not here" rather than "not now": none of them goes away by retrying later.
const UNAVAILABLE_ERRORS = new Set([
  "ResourceNotFoundException", // channel, room, logging configuration or stream session gone or never existed
  "AccessDeniedException", // the role may not read IVS/IVS Chat here; the next source may still work
  "UnrecognizedClientException", // credentials the endpoint does not know, e.g. a local AWS
  "UnknownOperationException", // the endpoint does not implement the operation
]);

/**
 * True when an IVS or IVS Chat error means the answer is not available here, so the caller should
 * fall back to its next source. Everything else (throttling, modelled 5xx such as
 * InternalServerException, network errors to AWS, ValidationException) is left to propagate after
 * the SDK's own retries, so the archive is retried later or the bug surfaces.
 */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (UNAVAILABLE_ERRORS.has(error.name)) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  // 404/501: an endpoint without this API; moto answers an HTML 404 for the IVS operations it lacks.
  if (status === 404 || status === 501) return true;
  // An unparseable 500 is not an AWS error (those are JSON): moto answers an HTML 500 for IVS Chat.
  // A 502/503/504 page may come from a gateway in front of AWS, so those stay retryable.
  if (status === 500 && error instanceof SyntaxError) return true;
  // Nothing listening on a loopback endpoint: the local AWS is gone or never served this API.
  const { code, address } = error as { code?: unknown; address?: unknown };
  return code === "ECONNREFUSED" && typeof address === "string" && isLoopback(address);
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address.startsWith("::ffff:127.");
}

async function orUndefined<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isUnavailable(error)) return undefined;
    throw error;
  }
}

/** Builds the IVS lookups on the given clients. */
export function createIvsLookups({ ivs, ivschat }: { ivs: IvsClient; ivschat: IvschatClient }): IvsLookups {
  async function roomArnsNamed(name: string): Promise<string[]> {
    const arns: string[] = [];
    // The `name` filter narrows the listing; equality is still checked here.
    for await (const page of paginateListRooms({ client: ivschat }, { name })) {
      for (const room of page.rooms ?? []) if (room.name === name && room.arn) arns.push(room.arn);
    }
    return arns;
  }

  return {
    async roomFromChannelTag(channelArn) {
      const answer = await orUndefined(() =>
        ivs.send(new ListTagsForResourceCommand({ resourceArn: channelArn })),
      );
      return answer?.tags?.[CHAT_ROOM_TAG]?.trim() || undefined;
    },

    async roomByChannelName(channelArn) {
      const answer = await orUndefined(() => ivs.send(new GetChannelCommand({ arn: channelArn })));
      if (!answer) return { reason: "its name could not be read from IVS" };
      const name = answer.channel?.name;
      if (!name) return { reason: "the channel has no name" };
      const arns = await orUndefined(() => roomArnsNamed(name));
      if (!arns) return { reason: "IVS Chat rooms could not be listed" };
      const [only, ...others] = arns;
      if (!only) return { reason: `no room is named "${name}"` };
      // Picking one of several would archive another broadcast's chat: better to fail loudly.
      if (others.length > 0)
        return { reason: `${arns.length} rooms are named "${name}": ${arns.join(", ")}` };
      return { roomArn: only };
    },

    async loggingOfRoom(roomArn) {
      const room = await orUndefined(() => ivschat.send(new GetRoomCommand({ identifier: roomArn })));
      const active: RoomLogging = {};
      // A configuration being updated may still have logged the broadcast; used when no ACTIVE one is of its kind.
      const other: RoomLogging = {};
      for (const identifier of room?.loggingConfigurationIdentifiers ?? []) {
        const config = await orUndefined(() =>
          ivschat.send(new GetLoggingConfigurationCommand({ identifier })),
        );
        const destination = config?.destinationConfiguration;
        if (destination === undefined) continue;
        const found = config?.state === "ACTIVE" ? active : other;
        found.logGroupName ??= destination.cloudWatchLogs?.logGroupName || undefined;
        found.s3Bucket ??= destination.s3?.bucketName || undefined;
        found.firehoseStream ??= destination.firehose?.deliveryStreamName || undefined;
      }
      return {
        logGroupName: active.logGroupName ?? other.logGroupName,
        s3Bucket: active.s3Bucket ?? other.s3Bucket,
        firehoseStream: active.firehoseStream ?? other.firehoseStream,
      };
    },

    async streamSessionTimes(channelArn, streamId) {
      const answer = await orUndefined(() => ivs.send(new GetStreamSessionCommand({ channelArn, streamId })));
      const session = answer?.streamSession;
      return session && { startTime: session.startTime, endTime: session.endTime };
    },
  };
}
