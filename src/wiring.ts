import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import type { ArchiveDeps } from "./archive/archive";
import type { ChatLog, ChatLogSource } from "./archive/ports";
import { ArchiveQueue } from "./aws/archiveQueue";
import { CloudWatchChatLog } from "./aws/chatLog";
import { S3Checkpoints } from "./aws/checkpoints";
import { type AwsClients, createAwsClients } from "./aws/clients";
import { createIvsLookups } from "./aws/ivs";
import { ReplayStore } from "./aws/replayStore";
import { S3ChatLog } from "./aws/s3ChatLog";
import { SessionsTable } from "./aws/sessionsTable";
import { loadConfig, settleSeconds } from "./config";
import type { SweepDeps } from "./sessions/sweep";

/** One chat log reader over both kinds of source. */
export function chatLogs(readers: Record<ChatLogSource["kind"], ChatLog>): ChatLog {
  return { read: (source, slices, windDown) => readers[source.kind].read(source, slices, windDown) };
}

/** What the tracking handlers need, from the environment (read once, at cold start). */
export function trackingDeps(
  env: NodeJS.ProcessEnv = process.env,
  clients: AwsClients = createAwsClients(env),
) {
  const config = loadConfig(
    [
      "SESSIONS_TABLE",
      "ARCHIVE_QUEUE_URL",
      "SETTLE_SECONDS",
      "CHAT_LOG_S3_URI",
      "RECORDING_END_GRACE_MINUTES",
      "RECORDING_BUCKETS",
    ],
    env,
  );
  return {
    store: new SessionsTable(config.SESSIONS_TABLE, clients.documents),
    scheduler: new ArchiveQueue(config.ARCHIVE_QUEUE_URL, clients.sqs),
    settleSeconds: settleSeconds(config),
    recordingEndGraceMinutes: config.RECORDING_END_GRACE_MINUTES,
    recordingBuckets: config.RECORDING_BUCKETS,
    now: () => new Date(),
  };
}

/** What the sweep needs, from the environment. */
export function sweepDeps(
  env: NodeJS.ProcessEnv = process.env,
  clients: AwsClients = createAwsClients(env),
): SweepDeps {
  const config = loadConfig(
    ["SESSIONS_TABLE", "ARCHIVE_QUEUE_URL", "SETTLE_SECONDS", "CHAT_LOG_S3_URI"],
    env,
  );
  return {
    store: new SessionsTable(config.SESSIONS_TABLE, clients.documents),
    scheduler: new ArchiveQueue(config.ARCHIVE_QUEUE_URL, clients.sqs),
    settleSeconds: settleSeconds(config),
    now: () => new Date(),
  };
}

/** What the archive use case needs, from the environment; `remainingMs` is per run. */
export function archiveDeps(
  env: NodeJS.ProcessEnv = process.env,
  clients: AwsClients = createAwsClients(env),
): Omit<ArchiveDeps, "remainingMs"> {
  const config = loadConfig(
    [
      "SESSIONS_TABLE",
      "ARCHIVE_BUCKET",
      "CHAT_LOG_GROUP",
      "CHAT_LOG_S3_URI",
      "CHAT_LOG_READ_TPS",
      "SETTLE_SECONDS",
      "RECORDING_BUCKETS",
      "SEGMENT_SECONDS",
    ],
    env,
  );
  const replays = new ReplayStore(clients.s3, { segmentMs: config.SEGMENT_SECONDS * 1000 });
  return {
    store: new SessionsTable(config.SESSIONS_TABLE, clients.documents),
    lookups: createIvsLookups({ ivs: clients.ivs, ivschat: clients.ivschat }),
    chatLog: chatLogs({
      cloudwatch: new CloudWatchChatLog({ client: clients.logs, readTps: config.CHAT_LOG_READ_TPS }),
      s3: new S3ChatLog({ client: clients.s3 }),
    }),
    replays,
    recordings: replays,
    // Runs are staged in the function's ephemeral storage (/tmp) and copied to S3 for later runs.
    checkpoints: new S3Checkpoints(clients.s3, config.ARCHIVE_BUCKET, tmpdir()),
    archiveBucket: config.ARCHIVE_BUCKET,
    logGroupOverride: config.CHAT_LOG_GROUP,
    s3Override: config.CHAT_LOG_S3_URI,
    readTps: config.CHAT_LOG_READ_TPS,
    settleSeconds: settleSeconds(config),
    recordingBuckets: config.RECORDING_BUCKETS,
    now: () => new Date(),
    newChainId: () => randomUUID(),
  };
}

/** What the archive handler needs: the use case's ports and the queue it queues continuations on, over one set of clients. */
export function archiveHandlerDeps(
  env: NodeJS.ProcessEnv = process.env,
  clients: AwsClients = createAwsClients(env),
) {
  const queueUrl = loadConfig(["ARCHIVE_QUEUE_URL"], env).ARCHIVE_QUEUE_URL;
  return { archive: archiveDeps(env, clients), queue: new ArchiveQueue(queueUrl, clients.sqs) };
}
