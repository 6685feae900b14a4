import { parseArgs } from "node:util";
import { archiveBroadcast } from "../archive/archive";
import { parseArchiveRequest } from "../archive/request";
import { createAwsClients } from "../aws/clients";
import { chatLogStreamName } from "../aws/ivs";
import { SessionsTable } from "../aws/sessionsTable";
import { loadConfig } from "../config";
import { ArchiverError, ValidationError } from "../errors";
import { CHANNEL_ARN } from "../sessions/events";
import { archiveDeps } from "../wiring";
import { formatEnv, provision } from "./provision";
import { start } from "./start";

const ARN = { type: "string" } as const;

function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new ValidationError(`${flag} is required`);
  return value;
}

/** The commands that talk to AWS (or a local AWS), loaded only when one of them runs. */
export const awsCommands: Record<string, (args: string[]) => Promise<void>> = {
  async archive(args) {
    const { values } = parseArgs({
      args,
      options: { "channel-arn": ARN, "stream-id": ARN, "recording-session-id": ARN },
    });
    const request = parseArchiveRequest(
      values["recording-session-id"] !== undefined
        ? { recordingSessionId: values["recording-session-id"] }
        : {
            channelArn: required(values["channel-arn"], "--channel-arn"),
            streamId: required(values["stream-id"], "--stream-id"),
          },
    );
    const result = await archiveBroadcast(request, archiveDeps());
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (result.status === "failed") throw new ArchiverError(`broadcast not archived: ${result.reason}`);
  },
  async link(args) {
    const { values } = parseArgs({ args, options: { "channel-arn": ARN, "room-arn": ARN } });
    const channelArn = required(values["channel-arn"], "--channel-arn");
    if (!CHANNEL_ARN.test(channelArn))
      throw new ValidationError(`--channel-arn ${channelArn} is not an IVS channel ARN`);
    const roomArn = required(values["room-arn"], "--room-arn");
    chatLogStreamName(roomArn); // validates the room ARN
    const { SESSIONS_TABLE } = loadConfig(["SESSIONS_TABLE"]);
    await new SessionsTable(SESSIONS_TABLE, createAwsClients().documents).putLink(channelArn, roomArn);
    process.stdout.write(`linked ${channelArn} -> ${roomArn}\n`);
  },
  async provision(args) {
    parseArgs({ args, options: {} });
    const env = await provision({ endpoint: process.env.AWS_ENDPOINT_URL ?? "" });
    process.stdout.write(`${formatEnv(env)}\n`);
  },
  async start(args) {
    parseArgs({ args, options: {} });
    await start({ out: process.stdout });
  },
};
