import { setTimeout as delay } from "node:timers/promises";
import {
  CloudWatchLogsClient,
  type CloudWatchLogsClientConfig,
  CloudWatchLogsServiceException,
  DescribeLogStreamsCommand,
  GetLogEventsCommand,
  type GetLogEventsCommandInput,
  type GetLogEventsCommandOutput,
  type OutputLogEvent,
} from "@aws-sdk/client-cloudwatch-logs";
import { ChatLogReadError, ChatNotFoundError } from "../errors";

/** The part of a room's log stream to read, and where to resume. */
export interface ChatLogReadRequest {
  logGroupName: string;
  logStreamName: string;
  /** Epoch milliseconds, inclusive. */
  startTime: number;
  /** Epoch milliseconds, exclusive. */
  endTime: number;
  /** A page's `nextToken` from an earlier read of the same window (valid 24 hours): continue after it. */
  nextToken?: string;
}

/** What the reader needs; everything but the client has a production default. */
export interface ChatLogReaderDeps {
  client: CloudWatchLogsClient;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Retries of one request while throttled or unavailable before giving up; default 8. */
  maxThrottleRetries?: number;
  /** GetLogEvents `limit`; default is the service's (10,000 events or 1 MB). */
  pageLimit?: number;
}

/** One GetLogEvents response (empty ones too, for checkpoints): messages in order, token to resume after. */
export interface ChatLogPage {
  messages: string[];
  nextToken: string;
}

const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 20_000;
const DEFAULT_MAX_THROTTLE_RETRIES = 8;

// LimitExceededException is left out: CloudWatch Logs uses it for resource quotas, which waiting never fixes.
const RETRYABLE_ERROR_NAMES = new Set([
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "ServiceUnavailableException",
  "InternalServerException",
]);

/** Builds the CloudWatch Logs client, once per cold start; adaptive mode also rate-limits it client-side. */
export function createCloudWatchLogsClient(config: CloudWatchLogsClientConfig = {}): CloudWatchLogsClient {
  return new CloudWatchLogsClient({ retryMode: "adaptive", maxAttempts: 3, ...config });
}

/** Reads a log stream's [startTime, endTime) from its head or after `nextToken` until the token repeats. */
export async function* readChatLogPages(
  request: ChatLogReadRequest,
  deps: ChatLogReaderDeps,
): AsyncGenerator<ChatLogPage, void, undefined> {
  let token = request.nextToken;
  for (;;) {
    const response = await getLogEvents(request, token, deps);
    // A room nobody has chatted in yet has no log stream: nothing to read.
    if (response === undefined) return;
    const next = response.nextForwardToken;
    if (next === undefined) {
      // Neither continuing nor checkpointing is possible; a silently truncated replay would be worse.
      throw new ChatLogReadError(`GetLogEvents on ${describe(request)} returned no nextForwardToken`);
    }
    const messages = messagesInWindow(response.events ?? [], request);
    const atEnd = next === token;
    if (!atEnd || messages.length > 0) yield { messages, nextToken: next };
    if (atEnd) return;
    token = next;
  }
}

async function getLogEvents(
  request: ChatLogReadRequest,
  token: string | undefined,
  deps: ChatLogReaderDeps,
): Promise<GetLogEventsCommandOutput | undefined> {
  const { sleep = (ms) => delay(ms), random = Math.random } = deps;
  const maxRetries = deps.maxThrottleRetries ?? DEFAULT_MAX_THROTTLE_RETRIES;
  // Window bounds go with every request: tokens are positions within the window they came from.
  const input: GetLogEventsCommandInput = {
    logGroupName: request.logGroupName,
    logStreamName: request.logStreamName,
    startTime: request.startTime,
    endTime: request.endTime,
    startFromHead: true,
    nextToken: token,
    limit: deps.pageLimit,
  };
  for (let retry = 0; ; retry++) {
    try {
      return await deps.client.send(new GetLogEventsCommand(input));
    } catch (error) {
      if (error instanceof Error && error.name === "ResourceNotFoundException") {
        if (await groupExists(request, deps.client)) return undefined;
        throw new ChatNotFoundError(`Chat log group ${request.logGroupName} does not exist`, {
          cause: error,
        });
      }
      if (!isThrottledOrUnavailable(error)) throw error;
      if (retry >= maxRetries) {
        const message = `Reading chat log ${describe(request)} still failed after ${retry} retries`;
        throw new ChatLogReadError(message, { cause: error });
      }
      // Full jitter: the read quota is shared by the whole account, so retries must spread out.
      await sleep(Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** retry)));
    }
  }
}

/** Tells a missing log group (an error) from a missing stream (no chat yet), without reading error texts. */
async function groupExists(request: ChatLogReadRequest, client: CloudWatchLogsClient): Promise<boolean> {
  try {
    await client.send(
      new DescribeLogStreamsCommand({
        logGroupName: request.logGroupName,
        logStreamNamePrefix: request.logStreamName,
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof Error && error.name === "ResourceNotFoundException") return false;
    throw error;
  }
}

function isThrottledOrUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (RETRYABLE_ERROR_NAMES.has(error.name)) return true;
  const status = error instanceof CloudWatchLogsServiceException ? error.$metadata.httpStatusCode : undefined;
  return status !== undefined && (status === 429 || status >= 500);
}

// moto treats endTime as inclusive where AWS excludes it; filtering here keeps both honest.
function messagesInWindow(events: OutputLogEvent[], request: ChatLogReadRequest): string[] {
  const messages: string[] = [];
  for (const { timestamp, message } of events) {
    if (message === undefined) continue;
    if (timestamp !== undefined && (timestamp < request.startTime || timestamp >= request.endTime)) continue;
    messages.push(message);
  }
  return messages;
}

function describe(request: ChatLogReadRequest): string {
  return `${request.logGroupName}/${request.logStreamName}`;
}
