import {
  AccessDeniedException,
  GetChannelCommand,
  GetStreamSessionCommand,
  InternalServerException,
  IvsClient,
  ListTagsForResourceCommand,
  ResourceNotFoundException,
  ThrottlingException,
  ValidationException,
} from "@aws-sdk/client-ivs";
import {
  ThrottlingException as ChatThrottlingException,
  GetLoggingConfigurationCommand,
  GetRoomCommand,
  IvschatClient,
  ListRoomsCommand,
} from "@aws-sdk/client-ivschat";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chatLogStreamName, hourFolder, parseS3Uri, resolveChat } from "../../src/archive/chat";
import type { IvsLookups } from "../../src/archive/ports";
import { createIvsLookups, isUnavailable } from "../../src/aws/ivs";
import { ChatNotFoundError, ValidationError } from "../../src/errors";

const CHANNEL = "arn:aws:ivs:us-east-1:123456789012:channel/AbCdef1G2hij";
const ROOM = "arn:aws:ivschat:us-east-1:123456789012:room/0wgOPVl4ZRdu";
const OTHER_ROOM = "arn:aws:ivschat:us-east-1:123456789012:room/9xYzOPVl4ZRd";
const LOGGING = "arn:aws:ivschat:us-east-1:123456789012:logging-configuration/ABcdef34ghIJ";
const LOGGING_2 = "arn:aws:ivschat:us-east-1:123456789012:logging-configuration/KLmnop56qrST";

const ivsMock = mockClient(IvsClient);
const chatMock = mockClient(IvschatClient);
let lookups: IvsLookups;

beforeEach(() => {
  ivsMock.reset();
  chatMock.reset();
  lookups = createIvsLookups({
    ivs: new IvsClient({ region: "us-east-1" }),
    ivschat: new IvschatClient({ region: "us-east-1" }),
  });
});

afterEach(() => {
  ivsMock.reset();
  chatMock.reset();
});

/** What the SDK throws when moto answers an HTML page instead of an AWS error (seen against moto 5.2). */
function htmlAnswer(status: number): Error {
  return Object.assign(new SyntaxError(`Unexpected token '<', "<!doctype "... is not valid JSON`), {
    $metadata: { httpStatusCode: status },
    $response: { statusCode: status },
  });
}

function connectionRefused(address: string): Error {
  return Object.assign(new Error(`connect ECONNREFUSED ${address}:4566`), {
    code: "ECONNREFUSED",
    address,
    $metadata: {},
  });
}

function awsError(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $fault: "client", $metadata: { httpStatusCode: status } });
}

const throttled = () =>
  new ThrottlingException({ message: "Rate exceeded", $metadata: { httpStatusCode: 429 } });

describe("roomFromChannelTag", () => {
  it("returns the channel's chat-room-arn tag", async () => {
    ivsMock
      .on(ListTagsForResourceCommand, { resourceArn: CHANNEL })
      .resolves({ tags: { team: "live", "chat-room-arn": ROOM } });

    await expect(lookups.roomFromChannelTag(CHANNEL)).resolves.toBe(ROOM);
  });

  it("returns undefined when the channel has no such tag", async () => {
    ivsMock.on(ListTagsForResourceCommand).resolves({ tags: { team: "live" } });

    await expect(lookups.roomFromChannelTag(CHANNEL)).resolves.toBeUndefined();
  });

  it("returns undefined when the tag is blank", async () => {
    ivsMock.on(ListTagsForResourceCommand).resolves({ tags: { "chat-room-arn": " " } });

    await expect(lookups.roomFromChannelTag(CHANNEL)).resolves.toBeUndefined();
  });

  it("returns undefined when moto does not implement ListTagsForResource", async () => {
    ivsMock.on(ListTagsForResourceCommand).rejects(htmlAnswer(404));

    await expect(lookups.roomFromChannelTag(CHANNEL)).resolves.toBeUndefined();
  });

  it("lets throttling propagate so the archive is retried later", async () => {
    ivsMock.on(ListTagsForResourceCommand).rejects(throttled());

    await expect(lookups.roomFromChannelTag(CHANNEL)).rejects.toBeInstanceOf(ThrottlingException);
  });
});

describe("roomByChannelName", () => {
  it("returns the one room whose name equals the channel's name", async () => {
    ivsMock.on(GetChannelCommand, { arn: CHANNEL }).resolves({ channel: { arn: CHANNEL, name: "demo" } });
    chatMock.on(ListRoomsCommand, { name: "demo" }).resolves({
      rooms: [
        { arn: OTHER_ROOM, name: "demo-old" },
        { arn: ROOM, name: "demo" },
      ],
    });

    await expect(lookups.roomByChannelName(CHANNEL)).resolves.toEqual({ roomArn: ROOM });
  });

  it("follows ListRooms pages until the room is found", async () => {
    ivsMock.on(GetChannelCommand).resolves({ channel: { name: "demo" } });
    chatMock
      .on(ListRoomsCommand, { name: "demo", nextToken: undefined })
      .resolves({ rooms: [], nextToken: "page-2" })
      .on(ListRoomsCommand, { name: "demo", nextToken: "page-2" })
      .resolves({ rooms: [{ arn: ROOM, name: "demo" }] });

    await expect(lookups.roomByChannelName(CHANNEL)).resolves.toEqual({ roomArn: ROOM });
    expect(chatMock.commandCalls(ListRoomsCommand)).toHaveLength(2);
  });

  it("refuses to choose when rooms on different pages share the name", async () => {
    ivsMock.on(GetChannelCommand).resolves({ channel: { name: "demo" } });
    chatMock
      .on(ListRoomsCommand, { nextToken: undefined })
      .resolves({ rooms: [{ arn: ROOM, name: "demo" }], nextToken: "page-2" })
      .on(ListRoomsCommand, { nextToken: "page-2" })
      .resolves({ rooms: [{ arn: OTHER_ROOM, name: "demo" }] });

    await expect(lookups.roomByChannelName(CHANNEL)).resolves.toEqual({
      reason: `2 rooms are named "demo": ${ROOM}, ${OTHER_ROOM}`,
    });
  });

  it("says so when no room has the exact name", async () => {
    ivsMock.on(GetChannelCommand).resolves({ channel: { name: "demo" } });
    chatMock.on(ListRoomsCommand).resolves({ rooms: [{ arn: ROOM, name: "Demo" }] });

    await expect(lookups.roomByChannelName(CHANNEL)).resolves.toEqual({ reason: `no room is named "demo"` });
  });

  it("does not list rooms when the channel has no name", async () => {
    ivsMock.on(GetChannelCommand).resolves({ channel: { arn: CHANNEL, name: "" } });

    await expect(lookups.roomByChannelName(CHANNEL)).resolves.toEqual({ reason: "the channel has no name" });
    expect(chatMock.calls()).toHaveLength(0);
  });

  it("says why when the channel is gone", async () => {
    ivsMock
      .on(GetChannelCommand)
      .rejects(new ResourceNotFoundException({ message: "not found", $metadata: { httpStatusCode: 404 } }));

    await expect(lookups.roomByChannelName(CHANNEL)).resolves.toEqual({
      reason: "its name could not be read from IVS",
    });
  });

  it("says why when the local AWS has no IVS Chat", async () => {
    ivsMock.on(GetChannelCommand).resolves({ channel: { name: "demo" } });
    chatMock.on(ListRoomsCommand).rejects(htmlAnswer(500));

    await expect(lookups.roomByChannelName(CHANNEL)).resolves.toEqual({
      reason: "IVS Chat rooms could not be listed",
    });
  });

  it("lets throttling of ListRooms propagate", async () => {
    ivsMock.on(GetChannelCommand).resolves({ channel: { name: "demo" } });
    chatMock.on(ListRoomsCommand).rejects(
      new ChatThrottlingException({
        message: "slow down",
        $metadata: {},
        resourceId: ROOM,
        resourceType: "ROOM",
        limit: 10,
      }),
    );

    await expect(lookups.roomByChannelName(CHANNEL)).rejects.toBeInstanceOf(ChatThrottlingException);
  });
});

describe("loggingOfRoom", () => {
  it("returns the log group of the room's CloudWatch Logs logging configuration", async () => {
    chatMock
      .on(GetRoomCommand, { identifier: ROOM })
      .resolves({ arn: ROOM, loggingConfigurationIdentifiers: [LOGGING] });
    chatMock.on(GetLoggingConfigurationCommand, { identifier: LOGGING }).resolves({
      state: "ACTIVE",
      destinationConfiguration: { cloudWatchLogs: { logGroupName: "/ivs/chat" } },
    });

    expect((await lookups.loggingOfRoom(ROOM)).logGroupName).toBe("/ivs/chat");
  });

  it("reports each kind of destination: CloudWatch Logs, S3 and Firehose", async () => {
    chatMock
      .on(GetRoomCommand)
      .resolves({ loggingConfigurationIdentifiers: [LOGGING, LOGGING_2, "firehose-config"] });
    chatMock
      .on(GetLoggingConfigurationCommand, { identifier: LOGGING })
      .resolves({ state: "ACTIVE", destinationConfiguration: { s3: { bucketName: "chat-logs" } } })
      .on(GetLoggingConfigurationCommand, { identifier: LOGGING_2 })
      .resolves({
        state: "ACTIVE",
        destinationConfiguration: { cloudWatchLogs: { logGroupName: "/ivs/chat" } },
      })
      .on(GetLoggingConfigurationCommand, { identifier: "firehose-config" })
      .resolves({ state: "ACTIVE", destinationConfiguration: { firehose: { deliveryStreamName: "chat" } } });

    expect(await lookups.loggingOfRoom(ROOM)).toEqual({
      logGroupName: "/ivs/chat",
      s3Bucket: "chat-logs",
      firehoseStream: "chat",
    });
  });

  it("prefers an ACTIVE configuration over one being updated", async () => {
    chatMock.on(GetRoomCommand).resolves({ loggingConfigurationIdentifiers: [LOGGING, LOGGING_2] });
    chatMock
      .on(GetLoggingConfigurationCommand, { identifier: LOGGING })
      .resolves({
        state: "UPDATING",
        destinationConfiguration: { cloudWatchLogs: { logGroupName: "/ivs/old" } },
      })
      .on(GetLoggingConfigurationCommand, { identifier: LOGGING_2 })
      .resolves({
        state: "ACTIVE",
        destinationConfiguration: { cloudWatchLogs: { logGroupName: "/ivs/chat" } },
      });

    expect((await lookups.loggingOfRoom(ROOM)).logGroupName).toBe("/ivs/chat");
  });

  it("falls back to a configuration that is not ACTIVE when it is the only CloudWatch one", async () => {
    chatMock.on(GetRoomCommand).resolves({ loggingConfigurationIdentifiers: [LOGGING] });
    chatMock.on(GetLoggingConfigurationCommand).resolves({
      state: "UPDATING",
      destinationConfiguration: { cloudWatchLogs: { logGroupName: "/ivs/chat" } },
    });

    expect((await lookups.loggingOfRoom(ROOM)).logGroupName).toBe("/ivs/chat");
  });

  it("returns undefined when the room has no logging configuration", async () => {
    chatMock.on(GetRoomCommand).resolves({ arn: ROOM, loggingConfigurationIdentifiers: [] });

    expect(await lookups.loggingOfRoom(ROOM)).toEqual({});
  });

  it("skips a logging configuration that was deleted", async () => {
    chatMock.on(GetRoomCommand).resolves({ loggingConfigurationIdentifiers: [LOGGING, LOGGING_2] });
    chatMock
      .on(GetLoggingConfigurationCommand, { identifier: LOGGING })
      .rejects(awsError("ResourceNotFoundException", 404))
      .on(GetLoggingConfigurationCommand, { identifier: LOGGING_2 })
      .resolves({
        state: "ACTIVE",
        destinationConfiguration: { cloudWatchLogs: { logGroupName: "/ivs/chat" } },
      });

    expect((await lookups.loggingOfRoom(ROOM)).logGroupName).toBe("/ivs/chat");
  });

  it("returns undefined when IVS Chat denies GetRoom", async () => {
    chatMock.on(GetRoomCommand).rejects(awsError("AccessDeniedException", 403));

    expect(await lookups.loggingOfRoom(ROOM)).toEqual({});
  });
});

describe("streamSessionTimes", () => {
  it("returns the start and end of the stream session", async () => {
    const startTime = new Date("2024-01-05T14:30:00.000Z");
    const endTime = new Date("2024-01-05T15:30:00.000Z");
    ivsMock
      .on(GetStreamSessionCommand, { channelArn: CHANNEL, streamId: "st-1" })
      .resolves({ streamSession: { streamId: "st-1", startTime, endTime } });

    await expect(lookups.streamSessionTimes(CHANNEL, "st-1")).resolves.toEqual({ startTime, endTime });
  });

  it("has no end time while the stream is live", async () => {
    const startTime = new Date("2024-01-05T14:30:00.000Z");
    ivsMock.on(GetStreamSessionCommand).resolves({ streamSession: { streamId: "st-1", startTime } });

    await expect(lookups.streamSessionTimes(CHANNEL, "st-1")).resolves.toEqual({
      startTime,
      endTime: undefined,
    });
  });

  it("returns undefined when IVS no longer knows the session", async () => {
    ivsMock
      .on(GetStreamSessionCommand)
      .rejects(new ResourceNotFoundException({ message: "not found", $metadata: { httpStatusCode: 404 } }));

    await expect(lookups.streamSessionTimes(CHANNEL, "st-1")).resolves.toBeUndefined();
  });

  it("lets an internal server error propagate", async () => {
    ivsMock
      .on(GetStreamSessionCommand)
      .rejects(new InternalServerException({ message: "oops", $metadata: { httpStatusCode: 500 } }));

    await expect(lookups.streamSessionTimes(CHANNEL, "st-1")).rejects.toBeInstanceOf(InternalServerException);
  });
});

describe("isUnavailable", () => {
  it.each([
    ["ResourceNotFoundException", new ResourceNotFoundException({ message: "gone", $metadata: {} })],
    ["AccessDeniedException", new AccessDeniedException({ message: "no", $metadata: {} })],
    ["UnrecognizedClientException", awsError("UnrecognizedClientException", 400)],
    ["UnknownOperationException", awsError("UnknownOperationException", 400)],
    ["an unmodelled 404", awsError("NotFound", 404)],
    ["a 501 not implemented", awsError("NotImplemented", 501)],
    ["moto's HTML 404 for an IVS operation it lacks", htmlAnswer(404)],
    ["moto's HTML 500 for IVS Chat, which it lacks", htmlAnswer(500)],
    ["a refused connection to a loopback endpoint", connectionRefused("127.0.0.1")],
    ["a refused connection to ::1", connectionRefused("::1")],
  ])("treats %s as unavailable", (_, error) => {
    expect(isUnavailable(error)).toBe(true);
  });

  it.each([
    ["ThrottlingException", throttled()],
    ["InternalServerException", new InternalServerException({ message: "oops", $metadata: {} })],
    ["ValidationException", new ValidationException({ message: "bad arn", $metadata: {} })],
    ["a gateway's HTML 503", htmlAnswer(503)],
    ["a refused connection to a remote endpoint", connectionRefused("52.94.1.1")],
    ["a reset connection", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
    ["a thrown string", "boom"],
  ])("lets %s propagate", (_, error) => {
    expect(isUnavailable(error)).toBe(false);
  });
});

describe("resolveChat", () => {
  const logs = (logGroupName: string) => ({
    kind: "cloudwatch",
    logGroupName,
    logStreamName: "aws/IVSChatLogs/1.0/room_0wgOPVl4ZRdu",
  });
  /** Lookups that answer from fixed values and record which ones were asked. */
  function fakeLookups(answers: {
    tag?: string;
    name?: string;
    logGroup?: string;
    s3?: string;
    firehose?: string;
  }) {
    const asked: string[] = [];
    return {
      asked,
      lookups: {
        roomFromChannelTag: async () => {
          asked.push("tag");
          return answers.tag;
        },
        roomByChannelName: async () => {
          asked.push("name");
          return answers.name ? { roomArn: answers.name } : { reason: `no room is named "demo"` };
        },
        loggingOfRoom: async () => {
          asked.push("logGroup");
          return { logGroupName: answers.logGroup, s3Bucket: answers.s3, firehoseStream: answers.firehose };
        },
      },
    };
  }

  it("uses the linked room before the tag and the name", async () => {
    const { lookups: fake, asked } = fakeLookups({
      tag: OTHER_ROOM,
      name: OTHER_ROOM,
      logGroup: "/ivs/chat",
    });

    const chat = await resolveChat({ channelArn: CHANNEL, link: { roomArn: ROOM } }, fake);

    expect(chat).toEqual({ roomArn: ROOM, source: logs("/ivs/chat"), roomSource: "link" });
    expect(asked).toEqual(["logGroup"]);
  });

  it("uses the channel's tag before the room's name", async () => {
    const { lookups: fake, asked } = fakeLookups({ tag: ROOM, name: OTHER_ROOM, logGroup: "/ivs/chat" });

    const chat = await resolveChat({ channelArn: CHANNEL }, fake);

    expect(chat).toEqual({ roomArn: ROOM, source: logs("/ivs/chat"), roomSource: "tag" });
    expect(asked).toEqual(["tag", "logGroup"]);
  });

  it("falls back to the room named like the channel", async () => {
    const { lookups: fake, asked } = fakeLookups({ name: ROOM, logGroup: "/ivs/chat" });

    const chat = await resolveChat({ channelArn: CHANNEL }, fake);

    expect(chat).toEqual({ roomArn: ROOM, source: logs("/ivs/chat"), roomSource: "name" });
    expect(asked).toEqual(["tag", "name", "logGroup"]);
  });

  it("uses CHAT_LOG_GROUP instead of the room's logging configuration", async () => {
    const { lookups: fake, asked } = fakeLookups({ tag: ROOM, logGroup: "/ivs/chat" });

    const chat = await resolveChat({ channelArn: CHANNEL, logGroupOverride: "/override" }, fake);

    expect(chat.source).toEqual(logs("/override"));
    expect(asked).toEqual(["tag"]);
  });

  it("ignores an empty CHAT_LOG_GROUP and an empty link", async () => {
    const { lookups: fake } = fakeLookups({ tag: ROOM, logGroup: "/ivs/chat" });

    const chat = await resolveChat(
      { channelArn: CHANNEL, link: { roomArn: "" }, logGroupOverride: "" },
      fake,
    );

    expect(chat).toEqual({ roomArn: ROOM, source: logs("/ivs/chat"), roomSource: "tag" });
  });

  it("makes no IVS call at all with a link and CHAT_LOG_GROUP", async () => {
    const chat = await resolveChat(
      { channelArn: CHANNEL, link: { roomArn: ROOM }, logGroupOverride: "/override" },
      createIvsLookups({ ivs: new IvsClient({ region: "us-east-1" }), ivschat: new IvschatClient({}) }),
    );

    expect(chat).toEqual({ roomArn: ROOM, source: logs("/override"), roomSource: "link" });
    expect(ivsMock.calls()).toHaveLength(0);
    expect(chatMock.calls()).toHaveLength(0);
  });

  it("names the channel and the reason when no room is found", async () => {
    const { lookups: fake } = fakeLookups({});

    const attempt = resolveChat({ channelArn: CHANNEL }, fake);

    await expect(attempt).rejects.toBeInstanceOf(ChatNotFoundError);
    await expect(attempt).rejects.toThrow(
      `no chat room linked, tagged or named like channel ${CHANNEL} (no room is named "demo")`,
    );
  });

  it("asks for CHAT_LOG_GROUP or CHAT_LOG_S3_URI when the room logs nowhere it can read", async () => {
    const { lookups: fake } = fakeLookups({ tag: ROOM });

    const attempt = resolveChat({ channelArn: CHANNEL }, fake);

    await expect(attempt).rejects.toBeInstanceOf(ChatNotFoundError);
    await expect(attempt).rejects.toThrow(
      `room ${ROOM} has no CloudWatch Logs or S3 logging configuration; set CHAT_LOG_GROUP or CHAT_LOG_S3_URI`,
    );
  });

  it("reads the room's S3 logging destination when it has no CloudWatch Logs one", async () => {
    const { lookups: fake } = fakeLookups({ tag: ROOM, s3: "chat-logs" });

    const chat = await resolveChat({ channelArn: CHANNEL }, fake);

    expect(chat.source).toEqual({
      kind: "s3",
      bucket: "chat-logs",
      prefix: "AWSLogs/123456789012/IVSChatLogs/1.0/us-east-1/room_0wgOPVl4ZRdu/",
    });
  });

  it("prefers the room's CloudWatch Logs destination to its S3 one", async () => {
    const { lookups: fake } = fakeLookups({ tag: ROOM, s3: "chat-logs", logGroup: "/ivs/chat" });

    expect((await resolveChat({ channelArn: CHANNEL }, fake)).source).toEqual(logs("/ivs/chat"));
  });

  it("reads CHAT_LOG_S3_URI, below its prefix, before CHAT_LOG_GROUP and the room's configurations", async () => {
    const { lookups: fake, asked } = fakeLookups({ tag: ROOM, logGroup: "/ivs/chat" });

    const chat = await resolveChat(
      {
        channelArn: CHANNEL,
        s3Override: parseS3Uri("s3://archive-logs/ivs/", "CHAT_LOG_S3_URI"),
        logGroupOverride: "/override",
      },
      fake,
    );

    expect(chat.source).toEqual({
      kind: "s3",
      bucket: "archive-logs",
      prefix: "ivs/AWSLogs/123456789012/IVSChatLogs/1.0/us-east-1/room_0wgOPVl4ZRdu/",
    });
    expect(asked).toEqual(["tag"]);
  });

  it("reads a linked room's own S3 location (Firehose) as given, before any override", async () => {
    const chat = await resolveChat(
      {
        channelArn: CHANNEL,
        link: { roomArn: ROOM, chatLogS3Uri: "s3://firehose-out/chat/demo" },
        s3Override: parseS3Uri("s3://archive-logs", "CHAT_LOG_S3_URI"),
      },
      fakeLookups({}).lookups,
    );

    expect(chat.source).toEqual({ kind: "s3", bucket: "firehose-out", prefix: "chat/demo/" });
  });

  it("says how to link a room that logs only to Firehose", async () => {
    const { lookups: fake } = fakeLookups({ tag: ROOM, firehose: "chat-stream" });

    await expect(resolveChat({ channelArn: CHANNEL }, fake)).rejects.toThrow(
      `room ${ROOM} logs only to Firehose delivery stream chat-stream; link the S3 location it delivers to: npm run cli -- link --channel-arn ${CHANNEL} --room-arn ${ROOM} --chat-log-s3-uri s3://BUCKET/PREFIX`,
    );
  });

  it("rejects a tag that is not a room ARN", async () => {
    const { lookups: fake } = fakeLookups({ tag: "my-room", logGroup: "/ivs/chat" });

    await expect(resolveChat({ channelArn: CHANNEL }, fake)).rejects.toBeInstanceOf(ValidationError);
  });

  it("resolves through the real lookups when only IVS Chat names the room", async () => {
    ivsMock.on(ListTagsForResourceCommand).rejects(htmlAnswer(404));
    ivsMock.on(GetChannelCommand).resolves({ channel: { name: "demo" } });
    chatMock.on(ListRoomsCommand).resolves({ rooms: [{ arn: ROOM, name: "demo" }] });
    chatMock.on(GetRoomCommand).resolves({ loggingConfigurationIdentifiers: [LOGGING] });
    chatMock.on(GetLoggingConfigurationCommand).resolves({
      state: "ACTIVE",
      destinationConfiguration: { cloudWatchLogs: { logGroupName: "/ivs/chat" } },
    });

    await expect(resolveChat({ channelArn: CHANNEL }, lookups)).resolves.toEqual({
      roomArn: ROOM,
      source: logs("/ivs/chat"),
      roomSource: "name",
    });
  });
});

describe("parseS3Uri", () => {
  it.each([
    ["s3://chat-logs", { bucket: "chat-logs", prefix: "" }],
    ["s3://chat-logs/", { bucket: "chat-logs", prefix: "" }],
    ["s3://chat-logs/a/b", { bucket: "chat-logs", prefix: "a/b/" }],
    [" s3://chat-logs/a/b/ ", { bucket: "chat-logs", prefix: "a/b/" }],
  ])("reads %s", (uri, location) => {
    expect(parseS3Uri(uri, "CHAT_LOG_S3_URI")).toEqual(location);
  });

  it.each(["chat-logs", "s3://", "s3://Chat_Logs/x", "https://chat-logs.s3.amazonaws.com/x"])(
    "names %s and what it is when it is not an S3 URI",
    (uri) => {
      expect(() => parseS3Uri(uri, "CHAT_LOG_S3_URI")).toThrow(
        `CHAT_LOG_S3_URI "${uri}" is not s3://bucket[/prefix] with a valid bucket name`,
      );
    },
  );
});

describe("hourFolder", () => {
  it("is the UTC hour's folder below the prefix", () => {
    expect(hourFolder("room_x/", Date.parse("2024-01-05T09:59:59.999Z"))).toBe("room_x/2024/01/05/09/");
  });
});

describe("chatLogStreamName", () => {
  it("derives the log stream from the room id", () => {
    expect(chatLogStreamName(ROOM)).toBe("aws/IVSChatLogs/1.0/room_0wgOPVl4ZRdu");
  });

  it("accepts rooms of other partitions", () => {
    expect(chatLogStreamName("arn:aws-us-gov:ivschat:us-gov-west-1:123456789012:room/abc123DEF456")).toBe(
      "aws/IVSChatLogs/1.0/room_abc123DEF456",
    );
  });

  it.each([
    ["a bare room id", "0wgOPVl4ZRdu"],
    ["a channel ARN", CHANNEL],
    ["a logging configuration ARN", LOGGING],
    ["a room ARN with a trailing path", `${ROOM}/extra`],
  ])("rejects %s", (_, arn) => {
    expect(() => chatLogStreamName(arn)).toThrow(ValidationError);
  });
});
