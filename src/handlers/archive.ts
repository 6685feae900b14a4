import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { type ArchiveDeps, type ArchiveResult, archiveBroadcast } from "../archive/archive";
import { parseArchiveRequest } from "../archive/request";
import type { ArchiveScheduler } from "../sessions/model";
import { archiveHandlerDeps } from "../wiring";
import { lambda, logger, metrics, once } from "./shared";

/** What the archive handler works with: the use case's ports and the queue for continuations. */
export interface ArchiveHandlerDeps {
  archive: Omit<ArchiveDeps, "remainingMs">;
  queue: ArchiveScheduler;
}

// `ArchiveFailed` is what the stack's failed-archive alarm watches.
const OUTCOME_METRICS: Record<ArchiveResult["status"], string> = {
  archived: "ArchiveArchived",
  continuing: "ArchiveContinuing",
  superseded: "ArchiveSuperseded",
  failed: "ArchiveFailed",
};

/** One data point per archive run: its outcome, and for an archived replay its counts. */
function recordMetrics(result: ArchiveResult, ms: number): void {
  metrics.addMetric(OUTCOME_METRICS[result.status], MetricUnit.Count, 1);
  metrics.addMetric("ArchiveRunDuration", MetricUnit.Milliseconds, ms);
  if (result.status !== "archived") return;
  const { records, messages, events, deleted, duplicates, skipped } = result.counts;
  metrics.addMetric("Records", MetricUnit.Count, records);
  metrics.addMetric("Messages", MetricUnit.Count, messages);
  metrics.addMetric("Events", MetricUnit.Count, events);
  metrics.addMetric("Deleted", MetricUnit.Count, deleted);
  metrics.addMetric("Duplicates", MetricUnit.Count, duplicates);
  metrics.addMetric("Skipped", MetricUnit.Count, skipped);
}

function isSqsEvent(event: unknown): event is SQSEvent {
  return Array.isArray((event as SQSEvent | null)?.Records);
}

/**
 * The archive Lambda over its dependencies: archives broadcasts from the archive queue (each
 * failed message reported alone through Powertools batch processing, so SQS retries it and finally
 * dead-letters it) or from a redrive payload given to `serverless invoke`.
 */
export function createArchiveHandler(deps: () => ArchiveHandlerDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const archive = async (payload: unknown, context: Context) => {
    const request = parseArchiveRequest(payload);
    logger.appendKeys({ ...request });
    const { archive: ports, queue } = deps();
    const started = Date.now();
    const result = await archiveBroadcast(request, {
      ...ports,
      log: {
        info: (message, extra = {}) => logger.info(message, extra),
        warn: (message, extra = {}) => logger.warn(message, extra),
      },
      remainingMs: () => context.getRemainingTimeInMillis(),
    });
    recordMetrics(result, Date.now() - started);
    if (result.status === "continuing") await queue.schedule(result.request, 0);
    (result.status === "failed" ? logger.error : logger.info).call(logger, `archive ${result.status}`, {
      result,
    });
    return result;
  };
  return lambda(async (event: unknown, context: Context) => {
    if (!isSqsEvent(event)) return archive(event, context);
    const record = async (message: SQSRecord) => archive(JSON.parse(message.body), context);
    return processPartialResponse(event, record, processor, {
      context,
      throwOnFullBatchFailure: false,
      // One broadcast at a time: archives are memory-heavy, and copies of a message would race for the claim.
      processInParallel: false,
    });
  }).use(logMetrics(metrics));
}

/** The deployed handler: dependencies from the environment, made on the first event of a cold start. */
export const handler = createArchiveHandler(once(() => archiveHandlerDeps()));
