import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { type ArchiveDeps, type ArchiveResult, archiveBroadcast } from "../archive/archive";
import { parseArchiveRequest } from "../archive/request";
import { ArchiverError, ValidationError } from "../errors";
import { FileRunStore } from "../local/fileRuns";
import type { ArchiveScheduler } from "../sessions/model";
import { archiveHandlerDeps } from "../wiring";
import { lambda, logger, metrics, once } from "./shared";

/** The archive queue as the handler uses it: continuations, later retries, and its dead-letter queue. */
export interface ArchiveRequests extends ArchiveScheduler {
  /** Receives after which SQS dead-letters a message itself (the redrive policy's maxReceiveCount). */
  maxReceiveCount(): Promise<number>;
  deadLetter(body: string, reason: string): Promise<void>;
  retryAfter(receiptHandle: string, seconds: number): Promise<void>;
}

/** What the archive handler works with: the use case's ports and the archive queue. */
export interface ArchiveHandlerDeps {
  archive: Omit<ArchiveDeps, "remainingMs">;
  queue: ArchiveRequests;
}

// How long a message that failed for now (throttled, S3 unavailable, another run writing) stays
// hidden before its next try, by the number of times it was received: backoff from 1 to 45 minutes.
const RETRY_AFTER_SECONDS = [60, 300, 900, 2700];

// `ArchiveFailed` is what the stack's failed-archive alarm watches.
const OUTCOME_METRICS: Record<ArchiveResult["status"], string> = {
  archived: "ArchiveArchived",
  continuing: "ArchiveContinuing",
  superseded: "ArchiveSuperseded",
  failed: "ArchiveFailed",
};

/** One data point per archive run: its outcome, what it read, and for an archived replay its counts. */
function recordMetrics(result: ArchiveResult, ms: number): void {
  metrics.addMetric(OUTCOME_METRICS[result.status], MetricUnit.Count, 1);
  metrics.addMetric("ArchiveRunDuration", MetricUnit.Milliseconds, ms);
  const stats = "stats" in result ? result.stats : undefined;
  if (stats === undefined) return;
  metrics.addMetric("Pages", MetricUnit.Count, stats.pages);
  metrics.addMetric("Throttles", MetricUnit.Count, stats.throttles);
  metrics.addMetric("UnreadableLogObjects", MetricUnit.Count, stats.unreadable);
  if (result.status !== "archived") return;
  // The chain's length: how many Lambda runs the broadcast took.
  metrics.addMetric("Runs", MetricUnit.Count, result.stats.run);
  metrics.addMetric("BytesWritten", MetricUnit.Bytes, result.stats.bytes);
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

/** A queue message's archive request; a body that is not one is a ValidationError. */
function queuedRequest(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new ValidationError(`the archive queue message is not JSON: ${body.slice(0, 200)}`, {
      cause: error,
    });
  }
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
  /**
   * One queue message. One that can never succeed (not an archive request) goes to the dead-letter
   * queue at once with its reason, as does one that failed on its last receive; one that failed
   * for now is reported failed and hidden for a backoff delay, so SQS retries it later.
   */
  const record = async (message: SQSRecord, context: Context) => {
    try {
      return await archive(queuedRequest(message.body), context);
    } catch (error) {
      const receives = Number(message.attributes.ApproximateReceiveCount) || 1;
      const reason = error instanceof Error ? error.message : String(error);
      const permanent = error instanceof ArchiverError && error.permanent;
      // Powertools keeps a record's error to itself: this is where it is said, and counted.
      logger.error(`archive request failed on receive ${receives}`, { error: error as Error });
      metrics.addMetric("ArchiveErrors", MetricUnit.Count, 1);
      try {
        const { queue } = deps();
        if (permanent || receives >= (await queue.maxReceiveCount())) {
          const why = permanent ? reason : `failed on each of ${receives} receives; the last time: ${reason}`;
          await queue.deadLetter(message.body, why);
          logger.error("archive request dead-lettered", { reason: why, body: message.body.slice(0, 1000) });
          return { deadLettered: why };
        }
        const seconds = RETRY_AFTER_SECONDS[Math.min(receives, RETRY_AFTER_SECONDS.length) - 1] ?? 60;
        await queue.retryAfter(message.receiptHandle, seconds);
      } catch (queueError) {
        // The original error still decides: SQS retries it at the queue's visibility timeout, then dead-letters it.
        logger.error("the retry could not be arranged; SQS retries at the queue's visibility timeout", {
          error: queueError as Error,
        });
      }
      throw error;
    }
  };
  return lambda(async (event: unknown, context: Context) => {
    if (!isSqsEvent(event)) return archive(event, context);
    return processPartialResponse(event, (message: SQSRecord) => record(message, context), processor, {
      context,
      throwOnFullBatchFailure: false,
      // One broadcast at a time: archives are memory-heavy, and copies of a message would race for the claim.
      processInParallel: false,
    });
  }).use(logMetrics(metrics));
}

/**
 * The deployed handler: dependencies from the environment, made on the first event of a cold
 * start. In Lambda, that start also clears the runs a killed run left in /tmp (which outlives a
 * timeout): a few of a 48-hour broadcast's would fill it. Not under `serverless invoke local`,
 * where the machine's temporary folder is shared with other commands.
 */
export const handler = createArchiveHandler(
  once(() => {
    if (process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined && process.env.IS_LOCAL !== "true") {
      const removed = FileRunStore.removeLeftovers();
      if (removed.length > 0) logger.warn("removed runs left in /tmp by an earlier run", { removed });
    }
    return archiveHandlerDeps();
  }),
);
