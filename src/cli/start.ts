import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Writable } from "node:stream";
import { gunzipSync } from "node:zlib";
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse } from "aws-lambda";
import { clientConfig, createAwsClients } from "../aws/clients";
import { SessionsTable } from "../aws/sessionsTable";
import { createArchiveHandler } from "../handlers/archive";
import { createRecordingStateHandler } from "../handlers/recordingState";
import { createStreamStateHandler } from "../handlers/streamState";
import type { ArchiveState } from "../sessions/model";
import { archiveHandlerDeps, trackingDeps } from "../wiring";
import { type LambdaHandler, lambdaContext, sqsEvent } from "./lambda";
import { MOTO_ENV, type Moto, startMoto } from "./moto";
import { provision } from "./provision";
import { syntheticChatLog } from "./synthetic";

const ROOT = resolve(__dirname, "..", "..");
const EVENTS = join(ROOT, "events");
const ROOM_ARN = "arn:aws:ivschat:us-east-1:123456789012:room/0wgOPVl4ZRdu";
const LOG_GROUP = "/aws/vendedlogs/ivschat/demo";
const SAMPLE_START = Date.parse("2024-01-05T14:30:00Z"); // the broadcast of the samples in events/
const BROADCAST_MS = 60 * 60 * 1000;
// CloudWatch Logs (and moto) refuse events older than 14 days: the demo broadcast ended an hour ago.
const BROADCAST_START = Math.floor((Date.now() - 2 * BROADCAST_MS) / 60_000) * 60_000;

/** A sample of events/, moved in time to the demo broadcast. */
async function sampleEvent(
  name: string,
): Promise<{ time: string; resources: string[]; detail: Record<string, string> }> {
  const event = JSON.parse(await readFile(join(EVENTS, `${name}.json`), "utf8"));
  return { ...event, time: new Date(Date.parse(event.time) - SAMPLE_START + BROADCAST_START).toISOString() };
}

/** Puts the synthetic chat into the room's log stream, in PutLogEvents-sized batches. */
async function logChat(logs: CloudWatchLogsClient, stream: string): Promise<number> {
  const records = [
    ...syntheticChatLog({
      records: 400,
      start: new Date(BROADCAST_START),
      durationMs: BROADCAST_MS,
      seed: 7,
      deleteRate: 0.05,
      duplicateRate: 0.04,
      junkRate: 0.03,
      customEventRate: 0.05,
      lateRate: 0.05,
    }),
  ];
  await logs.send(new CreateLogGroupCommand({ logGroupName: LOG_GROUP })).catch(ignoreExisting);
  await logs
    .send(new CreateLogStreamCommand({ logGroupName: LOG_GROUP, logStreamName: stream }))
    .catch(ignoreExisting);
  for (let i = 0; i < records.length; i += 500) {
    const logEvents = records.slice(i, i + 500).map((r) => ({ timestamp: r.timestampMs, message: r.line }));
    await logs.send(new PutLogEventsCommand({ logGroupName: LOG_GROUP, logStreamName: stream, logEvents }));
  }
  return records.length;
}

function ignoreExisting(error: Error): void {
  if (!/AlreadyExists|BucketAlreadyOwnedByYou/.test(error.name)) throw error;
}

/**
 * `npm start`: the whole flow on a local AWS. Starts moto (unless AWS_ENDPOINT_URL is set),
 * provisions what serverless.yml declares, logs a synthetic chat, plays the broadcast's IVS
 * events (out of order, duplicated) through the real handlers, archives it from the queue and
 * copies the replay to out/.
 */
export async function start({ out }: { out: Writable }): Promise<void> {
  const step = (text: string) => out.write(`• ${text}\n`);
  let moto: Moto | undefined;
  if (!process.env.AWS_ENDPOINT_URL) {
    moto = await startMoto();
    step(`started moto at ${moto.endpoint}`);
  }
  try {
    const endpoint = process.env.AWS_ENDPOINT_URL ?? moto?.endpoint ?? "";
    const provisioned = await provision({ endpoint, region: process.env.AWS_REGION ?? MOTO_ENV.AWS_REGION });
    // The handlers get this environment as their configuration: process.env stays as it was.
    const env: NodeJS.ProcessEnv = {
      ...MOTO_ENV,
      ...pick(process.env, ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]),
      ...provisioned,
      // The demo needs no settle delay.
      SETTLE_SECONDS: "0",
      CHAT_LOG_GROUP: LOG_GROUP,
      AWS_ENDPOINT_URL: endpoint,
    };
    step(
      `provisioned table ${env.SESSIONS_TABLE}, queue ${env.ARCHIVE_QUEUE_URL}, bucket ${env.ARCHIVE_BUCKET}`,
    );

    const recordingStarted = await sampleEvent("recording-started");
    const { recording_s3_bucket_name: bucket = "", recording_s3_key_prefix: prefix = "" } =
      recordingStarted.detail;
    const clients = createAwsClients(env);
    const { s3, sqs } = clients;
    const logs = new CloudWatchLogsClient(clientConfig(env, "CLOUDWATCH_LOGS"));
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch(ignoreExisting);
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${prefix}/events/recording-started.json`,
        Body: JSON.stringify({
          version: "v1",
          recording_status: "RECORDING_STARTED",
          recording_started_at: recordingStarted.time,
        }),
      }),
    );
    step(`created recording bucket ${bucket} with ${prefix}/events/recording-started.json`);

    const channelArn = recordingStarted.resources[0] ?? "";
    await new SessionsTable(env.SESSIONS_TABLE ?? "", clients.documents).putLink(channelArn, ROOM_ARN);
    step(`linked ${channelArn} to room ${ROOM_ARN}`);
    const count = await logChat(logs, `aws/IVSChatLogs/1.0/room_${ROOM_ARN.split("/")[1]}`);
    step(
      `logged ${count} chat records (deletes, duplicates, custom events, junk, some after the end) to ${LOG_GROUP}`,
    );

    // The real handlers, built over this environment's dependencies as the deployed ones are over theirs.
    const tracking = trackingDeps(env, clients);
    const streamState: LambdaHandler = createStreamStateHandler(() => tracking);
    const recordingState: LambdaHandler = createRecordingStateHandler(() => tracking);
    const archiving = archiveHandlerDeps(env, clients);
    const archive: LambdaHandler = createArchiveHandler(() => archiving);
    const plays: [LambdaHandler | undefined, string, string][] = [
      [recordingState, "recordingState", "recording-started"],
      [streamState, "streamState", "stream-start"],
      [streamState, "streamState", "session-created"],
      [recordingState, "recordingState", "recording-ended"],
      [streamState, "streamState", "stream-start"],
      [streamState, "streamState", "stream-end"],
      [recordingState, "recordingState", "recording-ended"],
    ];
    for (const [handler, name, sample] of plays)
      await handler?.(await sampleEvent(sample), lambdaContext(name));
    step(`played ${plays.map(([, , sample]) => sample).join(", ")} through the handlers`);

    let archived = 0;
    for (;;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: env.ARCHIVE_QUEUE_URL,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: 1,
        }),
      );
      const [message] = Messages;
      if (message === undefined) break;
      const event = sqsEvent([
        {
          messageId: message.MessageId ?? "",
          body: message.Body ?? "",
          receiptHandle: message.ReceiptHandle,
        },
      ]);
      const response = (await archive?.(event, lambdaContext("archive"))) as SQSBatchResponse;
      if (response.batchItemFailures.length > 0) throw new Error(`archive failed for ${message.Body}`);
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: env.ARCHIVE_QUEUE_URL, ReceiptHandle: message.ReceiptHandle }),
      );
      archived++;
    }
    step(`ran the archive for ${archived} queued message(s)`);

    // Every file of the replay (replay.json, index.json, segments/, replay.vtt), unzipped, into out/.
    const folder = `${prefix}/chat/`;
    const out = join(ROOT, "out");
    await rm(join(out, "segments"), { recursive: true, force: true });
    const copied: string[] = [];
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: folder })) {
      for (const { Key } of page.Contents ?? []) {
        if (Key === undefined) continue;
        const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
        const body = Buffer.from(
          await (object.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())),
        );
        const file = join(out, Key.slice(folder.length));
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, object.ContentEncoding === "gzip" ? gunzipSync(body) : body);
        copied.push(Key.slice(folder.length));
      }
    }
    const replay = await readFile(join(out, "replay.json"), "utf8");
    const { counts } = JSON.parse(replay) as { counts: ArchiveState["counts"] };
    const segments = copied.filter((file) => file.startsWith("segments/")).length;
    step(
      `replay at s3://${bucket}/${folder}replay.json, with index.json, ${segments} segments and replay.vtt; copies in out/`,
    );
    step(`counts ${JSON.stringify(counts)}`);
    for (const client of [s3, logs, sqs, clients.logs, clients.ivs, clients.ivschat]) client.destroy();
  } finally {
    if (moto !== undefined) {
      await moto.stop();
      step("stopped moto");
    }
  }
}

function pick(env: NodeJS.ProcessEnv, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.flatMap((key) => (env[key] ? [[key, env[key] as string]] : [])));
}
