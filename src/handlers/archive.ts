import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { archiveBroadcast } from "../archive/archive";
import { parseArchiveRequest } from "../archive/request";
import { createAwsClients } from "../aws/clients";
import type { ArchiveRequest } from "../sessions/model";
import { archiveDeps, archiveQueue } from "../wiring";
import { lambda, logger } from "./shared";

const clients = createAwsClients();
const deps = archiveDeps(clients);
const queue = archiveQueue(clients);

function isSqsEvent(event: unknown): event is SQSEvent {
  return Array.isArray((event as SQSEvent | null)?.Records);
}

async function archive(request: ArchiveRequest, context: Context) {
  logger.appendKeys({ ...request });
  const result = await archiveBroadcast(request, {
    ...deps,
    remainingMs: () => context.getRemainingTimeInMillis(),
  });
  if (result.status === "continuing") await queue.schedule(request, 0);
  const log = result.status === "failed" ? logger.error.bind(logger) : logger.info.bind(logger);
  log(`archive ${result.status}`, { result });
  return result;
}

/**
 * Archives broadcasts from the archive queue (a failed message is reported alone, so SQS retries
 * it and finally dead-letters it) or from a redrive payload `{"channelArn","streamId"}` /
 * `{"recordingSessionId"}` given to `serverless invoke`.
 */
export const handler = lambda(async (event: unknown, context: Context) => {
  if (!isSqsEvent(event)) return archive(parseArchiveRequest(event), context);
  const response: SQSBatchResponse = { batchItemFailures: [] };
  for (const record of event.Records) {
    try {
      await archive(parseArchiveRequest(JSON.parse(record.body)), context);
    } catch (error) {
      logger.error("archive message failed", { messageId: record.messageId, body: record.body, error });
      response.batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return response;
});
