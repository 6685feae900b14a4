import { parseArgs } from "node:util";
import { archiveBroadcast } from "../archive/archive";
import { chatLogStreamName, parseS3Uri, s3Uri } from "../archive/chat";
import { parseArchiveRequest } from "../archive/request";
import { createAwsClients } from "../aws/clients";
import { SessionsTable } from "../aws/sessionsTable";
import { loadConfig } from "../config";
import { ArchiverError, ValidationError } from "../errors";
import type { ArchiveRequest } from "../sessions/model";
import { archiveDeps } from "../wiring";
import { channelOption, operationsCommands } from "./operations";

const ARN = { type: "string" } as const;

function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new ValidationError(`${flag} is required`);
  return value;
}

function runSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 900) {
    throw new ValidationError(`--max-run-seconds "${value}" is not a whole number of seconds from 1 to 900`);
  }
  return seconds;
}

const line = (message: string, extra: Record<string, unknown> = {}) =>
  process.stderr.write(`archive: ${message} ${JSON.stringify(extra)}\n`);
const stderrLog = { info: line, warn: line };

/**
 * Archives as a chain of runs of at most `maxRunSeconds` each (unbounded without it): every run
 * starts afresh, with new clients and no memory of the last, from the checkpoint it left, as a
 * new Lambda run would.
 */
async function archiveChain(first: ArchiveRequest, maxRunSeconds: number | undefined) {
  let request = first;
  for (let runs = 1; ; runs++) {
    const deadline =
      maxRunSeconds === undefined ? Number.POSITIVE_INFINITY : Date.now() + maxRunSeconds * 1000;
    const result = await archiveBroadcast(request, {
      ...archiveDeps(),
      log: stderrLog,
      remainingMs: () => deadline - Date.now(),
      // A quarter of a short run, a minute of a long one: time to save the checkpoint.
      marginMs: maxRunSeconds === undefined ? undefined : Math.min(60_000, maxRunSeconds * 250),
    });
    if (result.status !== "continuing") return { result, runs };
    request = result.request;
  }
}

/** The commands that talk to AWS (or a local AWS), loaded only when one of them runs. */
export const awsCommands: Record<string, (args: string[]) => Promise<void>> = {
  async archive(args) {
    const { values } = parseArgs({
      args,
      options: {
        "channel-arn": ARN,
        "stream-id": ARN,
        "recording-session-id": ARN,
        "max-run-seconds": { type: "string" },
        force: { type: "boolean" },
      },
    });
    const byStream = values["channel-arn"] !== undefined || values["stream-id"] !== undefined;
    if (values["recording-session-id"] === undefined && !byStream) {
      throw new ValidationError(
        "archive needs --channel-arn ARN --stream-id ID, or --recording-session-id ID",
      );
    }
    if (values["recording-session-id"] !== undefined && byStream) {
      throw new ValidationError(
        "archive takes --channel-arn ARN --stream-id ID or --recording-session-id ID: not both",
      );
    }
    const force = values.force ? { force: true } : {};
    const request = parseArchiveRequest(
      values["recording-session-id"] !== undefined
        ? { recordingSessionId: values["recording-session-id"], ...force }
        : {
            channelArn: required(values["channel-arn"], "--channel-arn"),
            streamId: required(values["stream-id"], "--stream-id"),
            ...force,
          },
    );
    const { result, runs } = await archiveChain(request, runSeconds(values["max-run-seconds"]));
    process.stdout.write(`${JSON.stringify({ ...result, runs }, null, 2)}\n`);
    if (runs > 1) process.stderr.write(`archive: ${runs} runs\n`);
    if (result.status === "failed") throw new ArchiverError(`broadcast not archived: ${result.reason}`);
  },
  async link(args) {
    const { values } = parseArgs({
      args,
      options: { "channel-arn": ARN, "room-arn": ARN, "chat-log-s3-uri": { type: "string" } },
    });
    const channelArn = channelOption(required(values["channel-arn"], "--channel-arn"));
    const roomArn = required(values["room-arn"], "--room-arn");
    chatLogStreamName(roomArn); // validates the room ARN
    const uri = values["chat-log-s3-uri"];
    // The room's own folder (where its Firehose delivers), stored as given once it parses.
    const location = uri === undefined ? undefined : parseS3Uri(uri, "--chat-log-s3-uri");
    const { SESSIONS_TABLE } = loadConfig(["SESSIONS_TABLE"]);
    await new SessionsTable(SESSIONS_TABLE, createAwsClients().documents).putLink(channelArn, {
      roomArn,
      ...(location && { chatLogS3Uri: s3Uri(location) }),
    });
    process.stdout.write(
      `linked ${channelArn} -> ${roomArn}${location ? `, chat log in ${s3Uri(location)}` : ""}\n`,
    );
  },
  ...operationsCommands(() => createAwsClients(), process.stdout),
  // provision (CloudFormation) and start (the handlers, Powertools) load only when they run.
  async provision(args) {
    parseArgs({ args, options: {} });
    const { formatEnv, provision } = require("./provision") as typeof import("./provision");
    const env = await provision({ endpoint: process.env.AWS_ENDPOINT_URL ?? "" });
    process.stdout.write(`${formatEnv(env)}\n`);
  },
  async start(args) {
    parseArgs({ args, options: {} });
    const { start } = require("./start") as typeof import("./start");
    await start({ out: process.stdout });
  },
};
