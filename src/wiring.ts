import type { ArchiveDeps } from "./archive/archive";
import { ArchiveQueue } from "./aws/archiveQueue";
import { readChatLogPages } from "./aws/chatLog";
import { type AwsClients, createAwsClients } from "./aws/clients";
import { createIvsLookups } from "./aws/ivs";
import { ReplayStore, S3Checkpoints } from "./aws/replayStore";
import { SessionsTable } from "./aws/sessionsTable";
import { loadConfig } from "./config";

/** What the tracking handlers need, from the environment (read once, at cold start). */
export function trackingDeps(clients: AwsClients = createAwsClients()) {
  const config = loadConfig(["SESSIONS_TABLE", "ARCHIVE_QUEUE_URL", "SETTLE_SECONDS"]);
  return {
    store: new SessionsTable(config.SESSIONS_TABLE, clients.documents),
    scheduler: new ArchiveQueue(config.ARCHIVE_QUEUE_URL, clients.sqs),
    settleSeconds: config.SETTLE_SECONDS,
  };
}

/** What the archive needs, from the environment. */
export function archiveDeps(clients: AwsClients = createAwsClients()): ArchiveDeps {
  const config = loadConfig(["SESSIONS_TABLE", "ARCHIVE_BUCKET", "CHAT_LOG_GROUP"]);
  return {
    store: new SessionsTable(config.SESSIONS_TABLE, clients.documents),
    lookups: createIvsLookups({ ivs: clients.ivs, ivschat: clients.ivschat }),
    readChat: (request) => readChatLogPages(request, { client: clients.logs }),
    replays: new ReplayStore(clients.s3),
    checkpoints: new S3Checkpoints(clients.s3, config.ARCHIVE_BUCKET),
    archiveBucket: config.ARCHIVE_BUCKET,
    logGroupOverride: config.CHAT_LOG_GROUP,
    now: () => new Date(),
  };
}

/** The archive queue, where a long archive queues its own continuation. */
export function archiveQueue(clients: AwsClients = createAwsClients()): ArchiveQueue {
  return new ArchiveQueue(loadConfig(["ARCHIVE_QUEUE_URL"]).ARCHIVE_QUEUE_URL, clients.sqs);
}
