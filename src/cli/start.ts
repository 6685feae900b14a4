import { execFileSync } from "node:child_process";
import { cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
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
// Each run is a broadcast of its own, with its own streams, recording session and room (so its own
// log stream): a run again against the same local AWS neither merges with the last nor reads its chat.
const RUN = Date.now().toString(36).toUpperCase();
const ROOM_ARN = `arn:aws:ivschat:us-east-1:123456789012:room/demo${RUN}`;
const LOG_GROUP = "/aws/vendedlogs/ivschat/demo";
const RECORDING = join(ROOT, "demo", "recording");
const SAMPLE_START = Date.parse("2024-01-05T14:30:00Z"); // the broadcast of the samples in events/ and demo/
// CloudWatch Logs (and moto) refuse events older than 14 days: the demo broadcast was two hours ago.
const BROADCAST_START = Math.floor((Date.now() - 2 * 3_600_000) / 60_000) * 60_000;
const SECOND = 1000;
const at = (seconds: number) => new Date(BROADCAST_START + seconds * SECOND).toISOString();
// The demo recording (demo/recording, made by scripts/make-demo-recording.mjs): a first stream of
// 20 s, the broadcaster's reconnect, a second stream of 20 s, merged by IVS into one session.
const FIRST_STREAM = `st-demo${RUN}First`;
const SECOND_STREAM = `st-demo${RUN}Reconnect`;
const SESSION_ID = `demo${RUN}`;
const TIMES = { start: 0, recordingStart: 1, firstEnd: 21, reconnect: 36, secondEnd: 56, recordingEnd: 62 };

type IvsEvent = { time: string; resources: string[]; detail: Record<string, unknown> };

/** Where IVS would record the demo broadcast: `ivs/v1/<account>/<channel>/<y>/<m>/<d>/<h>/<min>/<session>`. */
function recordingPrefix(channelId: string): string {
  const start = new Date(BROADCAST_START);
  const parts = [
    start.getUTCFullYear(),
    start.getUTCMonth() + 1,
    start.getUTCDate(),
    start.getUTCHours(),
    start.getUTCMinutes(),
  ];
  return `ivs/v1/123456789012/${channelId}/${parts.join("/")}/${SESSION_ID}`;
}

/** A sample of events/ with the demo broadcast's time, ids and details. */
async function demoEvent(
  name: string,
  seconds: number,
  detail: Record<string, unknown> = {},
): Promise<IvsEvent> {
  const event = JSON.parse(await readFile(join(EVENTS, `${name}.json`), "utf8")) as IvsEvent;
  const own: Record<string, unknown> = {};
  if ("stream_id" in event.detail) own.stream_id = FIRST_STREAM;
  if ("recording_session_id" in event.detail) {
    const channelId = String(event.resources[0]).split("/").pop() ?? "";
    own.recording_session_id = SESSION_ID;
    own.recording_s3_key_prefix = recordingPrefix(channelId);
    own.recording_session_stream_ids = [FIRST_STREAM];
  }
  return { ...event, time: at(seconds), detail: { ...event.detail, ...own, ...detail } };
}

/** A playlist's program dates moved from the samples' time to the demo broadcast's. */
function movedPlaylist(text: string): string {
  return text.replace(/^#EXT-X-PROGRAM-DATE-TIME:(.+)$/gm, (_line, date: string) => {
    const moved = new Date(Date.parse(date) - SAMPLE_START + BROADCAST_START).toISOString();
    return `#EXT-X-PROGRAM-DATE-TIME:${moved}`;
  });
}

/** Every file of the demo recording, as S3 keys below its prefix and their bytes (playlists moved in time). */
async function recordingFiles(): Promise<[string, Buffer][]> {
  const files: [string, Buffer][] = [];
  const walk = async (dir: string, prefix: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path, `${prefix}${entry.name}/`);
      else {
        const bytes = await readFile(path);
        files.push([
          `${prefix}${entry.name}`,
          entry.name.endsWith(".m3u8") ? Buffer.from(movedPlaylist(bytes.toString("utf8"))) : bytes,
        ]);
      }
    }
  };
  await walk(RECORDING, "");
  return files;
}

/** Puts the synthetic chat into the room's log stream, in PutLogEvents-sized batches. */
async function logChat(logs: CloudWatchLogsClient, stream: string): Promise<number> {
  const records = [
    ...syntheticChatLog({
      records: 400,
      start: new Date(BROADCAST_START),
      durationMs: TIMES.secondEnd * SECOND,
      seed: 7,
      deleteRate: 0.05,
      duplicateRate: 0.04,
      junkRate: 0.03,
      customEventRate: 0.05,
      lateRate: 0.05,
    }),
    // Chat with markup, which the viewer must show as text: one during each stream, one in the gap.
    markup("Markup001", TIMES.start + 5, "<b>bold?</b> <script>alert('no')</script>"),
    markup("Markup002", (TIMES.firstEnd + TIMES.reconnect) / 2, "reconnecting… <img src=x onerror=alert(1)>"),
    markup("Markup003", TIMES.reconnect + 5, "we're back & <i>better</i> --> than ever"),
  ].sort((a, b) => a.timestampMs - b.timestampMs);
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

/** A chat message of the demo at `seconds` into the broadcast. */
function markup(id: string, seconds: number, content: string): { timestampMs: number; line: string } {
  const sendTime = at(seconds);
  const payload = {
    Type: "MESSAGE",
    Id: id,
    RequestId: "",
    Attributes: { username: "markup-tester" },
    Content: content,
    SendTime: sendTime,
    Sender: { UserId: "user-markup", Attributes: {} },
  };
  const line = JSON.stringify({ event_timestamp: sendTime, type: "MESSAGE", version: "1.0", payload });
  return { timestampMs: Date.parse(sendTime), line };
}

function ignoreExisting(error: Error): void {
  if (!/AlreadyExists|BucketAlreadyOwnedByYou/.test(error.name)) throw error;
}

/**
 * `npm start`: the whole flow on a local AWS. Starts moto (unless AWS_ENDPOINT_URL is set),
 * provisions what serverless.yml declares, logs a synthetic chat, plays the broadcast's IVS
 * events (out of order, duplicated) through the real handlers, archives it from the queue and
 * copies the replay files, the recording and the viewer to out/.
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

    const recordingStarted = await demoEvent("recording-started", TIMES.recordingStart);
    const bucket = String(recordingStarted.detail.recording_s3_bucket_name);
    const prefix = String(recordingStarted.detail.recording_s3_key_prefix);
    const clients = createAwsClients(env);
    const { s3, sqs } = clients;
    const logs = new CloudWatchLogsClient(clientConfig(env, "CLOUDWATCH_LOGS"));
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch(ignoreExisting);
    // What IVS writes: the media, and its metadata (the exact start; the renditions at the end).
    const media = await recordingFiles();
    const metadata: [string, unknown][] = [
      [
        "events/recording-started.json",
        {
          version: "v1",
          recording_status: "RECORDING_STARTED",
          recording_started_at: at(TIMES.recordingStart),
        },
      ],
      [
        "events/recording-ended.json",
        {
          version: "v1",
          recording_status: "RECORDING_ENDED",
          recording_started_at: at(TIMES.recordingStart),
          recording_ended_at: at(TIMES.recordingEnd),
          media: {
            hls: {
              duration_ms: 40_000,
              path: "media/hls",
              playlist: "master.m3u8",
              renditions: [
                { path: "160p30", playlist: "playlist.m3u8", resolution_width: 160, resolution_height: 90 },
              ],
            },
          },
        },
      ],
    ];
    for (const [key, body] of [
      ...media,
      ...metadata.map(([key, json]): [string, Buffer] => [key, Buffer.from(JSON.stringify(json))]),
    ]) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}`, Body: body }));
    }
    step(`uploaded the demo recording (two streams joined across a 15 s gap) to s3://${bucket}/${prefix}/`);

    const channelArn = recordingStarted.resources[0] ?? "";
    await new SessionsTable(env.SESSIONS_TABLE ?? "", clients.documents).putLink(channelArn, {
      roomArn: ROOM_ARN,
    });
    step(`linked ${channelArn} to room ${ROOM_ARN}`);
    const count = await logChat(logs, `aws/IVSChatLogs/1.0/room_${ROOM_ARN.split("/")[1]}`);
    step(
      `logged ${count} chat records (deletes, duplicates, custom events, junk, markup, some in the gap and after the end) to ${LOG_GROUP}`,
    );

    // The real handlers, built over this environment's dependencies as the deployed ones are over theirs.
    const tracking = trackingDeps(env, clients);
    const streamState: LambdaHandler = createStreamStateHandler(() => tracking);
    const recordingState: LambdaHandler = createRecordingStateHandler(() => tracking);
    const archiving = archiveHandlerDeps(env, clients);
    const archive: LambdaHandler = createArchiveHandler(() => archiving);
    const session = { recording_session_stream_ids: [FIRST_STREAM, SECOND_STREAM] };
    const recordingEnded = await demoEvent("recording-ended", TIMES.recordingEnd, {
      ...session,
      stream_id: SECOND_STREAM,
      recording_duration_ms: 40_000,
    });
    // Out of order and duplicated, as EventBridge may deliver them.
    const plays: [LambdaHandler, string, IvsEvent][] = [
      [recordingState, "recording-started", recordingStarted],
      [streamState, "stream-start", await demoEvent("stream-start", TIMES.start)],
      [streamState, "session-created", await demoEvent("session-created", TIMES.start)],
      [streamState, "stream-end", await demoEvent("stream-end", TIMES.firstEnd)],
      [recordingState, "recording-ended", recordingEnded],
      [
        streamState,
        "stream-start",
        await demoEvent("stream-start", TIMES.reconnect, { stream_id: SECOND_STREAM }),
      ],
      [streamState, "stream-start", await demoEvent("stream-start", TIMES.start)],
      [
        streamState,
        "stream-end",
        await demoEvent("stream-end", TIMES.secondEnd, { stream_id: SECOND_STREAM }),
      ],
      [recordingState, "recording-ended", recordingEnded],
    ];
    for (const [handler, , event] of plays)
      await handler(
        structuredClone(event),
        lambdaContext(handler === streamState ? "streamState" : "recordingState"),
      );
    step(`played ${plays.map(([, name]) => name).join(", ")} through the handlers`);

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

    // For the viewer (`npm run view`): out/chat/ (every file of the replay, unzipped), out/recording/
    // (the media) and out/viewer/ (the page, as `npm run build` makes it).
    const folder = `${prefix}/chat/`;
    const outDir = join(ROOT, "out");
    const out = join(outDir, "chat");
    await rm(outDir, { recursive: true, force: true });
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
    for (const [key, bytes] of media) {
      await mkdir(dirname(join(outDir, "recording", key)), { recursive: true });
      await writeFile(join(outDir, "recording", key), bytes);
    }
    execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { stdio: "ignore" });
    await cp(join(ROOT, "dist", "viewer"), join(outDir, "viewer"), { recursive: true });
    step(
      `replay at s3://${bucket}/${folder}replay.json, with index.json, ${segments} segments and replay.vtt; copies in out/chat/`,
    );
    step("recording in out/recording/, viewer in out/viewer/: `npm run view` serves them");
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
