import { setTimeout as delay } from "node:timers/promises";
import {
  CloudWatchLogsClient,
  type CloudWatchLogsClientConfig,
  DescribeLogStreamsCommand,
  GetLogEventsCommand,
  type GetLogEventsCommandOutput,
  type OutputLogEvent,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  type ChatLog,
  type ChatLogSource,
  type ChatPage,
  type ReadOptions,
  SLICE_RANKS,
  type SlicePosition,
} from "../archive/ports";
import { ChatLogReadError, ChatNotFoundError } from "../errors";
import { type SliceSplit, slicePages } from "./slicePages";

type CloudWatchSource = Extract<ChatLogSource, { kind: "cloudwatch" }>;

/** What the reader needs; everything but the client has a production default. */
export interface ChatLogReaderDeps {
  client: CloudWatchLogsClient;
  /** Requests per second for all slices together: the share of the account's read quota (CHAT_LOG_READ_TPS). */
  readTps?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  /** How long one page may keep failing (throttled, 5xx, network) before the read gives up; default 5 minutes. */
  retryBudgetMs?: number;
  /** GetLogEvents `limit`; default is the service's (10,000 events or 1 MB). */
  pageLimit?: number;
  /** Pages a slice may read ahead of the consumer; default 2. */
  readAhead?: number;
}

// What a request answers once the reader was stopped (the consumer has what it needs).
const STOPPED = Symbol("stopped");
// A read starts with a burst of this many seconds' worth of requests, as the account's quota (a
// token bucket) allows after a pause; then requests are spaced evenly.
const BURST_SECONDS = 0.8;
const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 20_000;
const DEFAULT_RETRY_BUDGET_MS = 5 * 60_000;
// Nothing listening (a local AWS that stopped, a wrong endpoint) is given a minute, not five.
const UNREACHABLE_BUDGET_MS = 60_000;
const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
// A slice is split only when it has about this many pages left: a split costs about one request
// (the old slice's page that runs past the new end, the new slice's last page, which is short).
const MIN_SPLIT_PAGES = 4;
const SPLIT_PAGES = 8;
// A read that makes fewer requests than this share of its rate has room for another slice.
const BUSY_SHARE = 0.9;
// Slices read at once, at most, for each request a second: enough while a page takes up to 2 s.
const SLICES_PER_TPS = 2;
// GetLogEvents pages hold at most 10,000 events or 1 MB (26 bytes an event on top of its message).
// A page at least half full of either tells how dense the log is; a shorter one may just be cut
// short (the service may return fewer events, or none, while more remain).
const PAGE_EVENTS = 10_000;
const PAGE_BYTES = 2 ** 20;
const EVENT_OVERHEAD_BYTES = 26;

// LimitExceededException is left out: CloudWatch Logs uses it for resource quotas, which waiting never fixes.
const RETRYABLE_ERROR_NAMES = new Set([
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "ServiceUnavailableException",
  "InternalServerException",
  "TimeoutError",
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  ...UNREACHABLE,
]);

/**
 * Builds the CloudWatch Logs client, once per cold start. The SDK does not retry: the reader's
 * own loop is the one retry layer, paced by the shared rate limit and bounded in time.
 */
export function createCloudWatchLogsClient(config: CloudWatchLogsClientConfig = {}): CloudWatchLogsClient {
  return new CloudWatchLogsClient({ maxAttempts: 1, ...config });
}

/**
 * A token bucket for every caller together: `perSecond` requests a second, and a burst of `burst`
 * after a pause (reservations, so callers go in the order they asked).
 */
export class RateLimiter {
  // The time the next request would be due were requests evenly spaced (GCRA's theoretical arrival time).
  private due = Number.NEGATIVE_INFINITY;
  private readonly interval: number;
  private readonly tolerance: number;
  // When the requests of the last second (and any booked after now) go, oldest first.
  private readonly booked: number[] = [];
  private first = Number.POSITIVE_INFINITY;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => delay(ms),
    burst = 1,
  ) {
    this.interval = 1000 / perSecond;
    this.tolerance = (Math.max(1, Math.floor(burst)) - 1) * this.interval;
  }

  /**
   * True unless the requests of the last second came to less than 90% of the rate: the callers
   * ask more slowly than it allows. True in the first second, before there is a second to judge.
   */
  busy(): boolean {
    const now = this.now();
    if (now - this.first < 1000) return true;
    this.forget(now);
    return this.booked.length >= BUSY_SHARE * this.perSecond;
  }

  async take(): Promise<void> {
    const now = this.now();
    const at = Math.max(now, this.due - this.tolerance);
    this.due = Math.max(this.due, at) + this.interval;
    this.first = Math.min(this.first, at);
    this.forget(now);
    this.booked.push(at);
    if (at > now) await this.sleep(at - now);
  }

  private forget(now: number): void {
    while ((this.booked[0] ?? now) <= now - 1000) this.booked.shift();
  }
}

/**
 * The room's CloudWatch Logs stream read with GetLogEvents, as several time slices at once (each
 * with its own tokens) under one request rate. Pages come in the order they arrive; within a
 * slice they are in log order.
 */
export class CloudWatchChatLog implements ChatLog {
  constructor(private readonly deps: ChatLogReaderDeps) {}

  read(
    source: ChatLogSource,
    slices: readonly SlicePosition[],
    { windDown, busyUntil = Number.POSITIVE_INFINITY }: ReadOptions = {},
  ): AsyncIterable<ChatPage> {
    if (source.kind !== "cloudwatch") throw new TypeError(`not a CloudWatch Logs source: ${source.kind}`);
    const readTps = this.deps.readTps ?? 8;
    const limiter = new RateLimiter(readTps, this.deps.now, this.deps.sleep, BURST_SECONDS * readTps);
    // Every slice asks up to the range's end, so a slice ends on the page that passes its own end,
    // without one more request to learn that it is empty (the range's last slice still needs it).
    const rangeEnd = Math.max(...slices.map((slice) => slice.end));
    const live = slices.map((slice) => new LiveSlice(slice));
    const counts = { pages: 0, splits: 0 };
    const page = (index: number, position: SlicePosition, tokens: Set<string>, stopped: () => boolean) =>
      this.page(source, index, position, live[index] as LiveSlice, rangeEnd, limiter, tokens, stopped);
    // While the rate is not used in full (slow answers, an uneven chat): up to SLICES_PER_TPS slices
    // a request a second. A split costs about a request, and an estimate can be wrong: at most one
    // split for every SPLIT_PAGES pages read.
    const split = (index: number) => {
      if (limiter.busy() || counts.splits >= 1 + counts.pages / SPLIT_PAGES) return undefined;
      const made = splitBusiest(live, index, busyUntil);
      if (made !== undefined) counts.splits++;
      return made;
    };
    return slicePages(
      slices,
      async function* (index, from, stopped) {
        let position = from;
        const tokens = new Set<string>();
        while (!position.done && !stopped()) {
          const next = await page(index, position, tokens, stopped);
          if (next === undefined) return;
          counts.pages++;
          yield next;
          position = next.next;
        }
      },
      {
        readAhead: this.deps.readAhead ?? 2,
        ...(windDown && { windDown }),
        split: { slicesAtOnce: SLICES_PER_TPS * Math.ceil(readTps), next: split },
      },
    );
  }

  /** One GetLogEvents page of a slice, retried while throttled or unavailable. */
  private async page(
    source: CloudWatchSource,
    index: number,
    position: SlicePosition,
    live: LiveSlice,
    rangeEnd: number,
    limiter: RateLimiter,
    tokens: Set<string>,
    stopped: () => boolean,
  ): Promise<ChatPage | undefined> {
    const retries = { count: 0 };
    const response = await this.getLogEvents(source, position, rangeEnd, limiter, stopped, retries);
    if (response === STOPPED) return undefined;
    // The slice may have been split while its request was out: it ends where it ends now.
    const end = live.end;
    // A room nobody has chatted in yet has no log stream: nothing to read.
    if (response === undefined) {
      live.done = true;
      const next = { ...position, end, done: true };
      return { slice: index, seq: position.read, records: [], next, retries: retries.count };
    }
    const next = response.nextForwardToken;
    if (next === undefined) {
      // Neither continuing nor checkpointing is possible; a silently truncated replay would be worse.
      throw new ChatLogReadError(`GetLogEvents on ${source.logStreamName} returned no nextForwardToken`);
    }
    const events = response.events ?? [];
    const records = recordsInSlice(events, position.start, end);
    // Events come in timestamp order: one at or past the slice's end means the slice is read.
    const last = events[events.length - 1]?.timestamp;
    const atEnd = next === position.token || (last !== undefined && last >= end);
    live.saw(events, atEnd, this.deps.pageLimit ?? PAGE_EVENTS);
    if (!atEnd && tokens.has(next)) {
      throw new ChatLogReadError(
        `GetLogEvents on ${source.logStreamName} returned a token it had already given in this slice (a token cycle)`,
        { permanent: true },
      );
    }
    tokens.add(next);
    return {
      slice: index,
      seq: position.read,
      records,
      next: { ...position, end, token: next, read: position.read + records.length, done: atEnd },
      retries: retries.count,
    };
  }

  private async getLogEvents(
    source: CloudWatchSource,
    position: SlicePosition,
    rangeEnd: number,
    limiter: RateLimiter,
    stopped: () => boolean,
    retries: { count: number },
  ): Promise<GetLogEventsCommandOutput | undefined | typeof STOPPED> {
    // The same bounds go with every request of a slice: tokens are positions within the range they came from.
    const command = new GetLogEventsCommand({
      logGroupName: source.logGroupName,
      logStreamName: source.logStreamName,
      startTime: position.start,
      endTime: rangeEnd,
      startFromHead: true,
      nextToken: position.token,
      limit: this.deps.pageLimit,
    });
    try {
      return await this.retried(() => this.deps.client.send(command), source, limiter, stopped, retries);
    } catch (error) {
      // Waiting never grants a permission: the broadcast is marked failed at once, with the reason.
      if (error instanceof Error && error.name === "AccessDeniedException") {
        throw new ChatLogReadError(
          `not allowed to read chat log group ${source.logGroupName} (is it within chatLogGroupPattern?): ${error.message}`,
          { permanent: true, cause: error },
        );
      }
      if (!(error instanceof Error) || error.name !== "ResourceNotFoundException") throw error;
      const describe = new DescribeLogStreamsCommand({
        logGroupName: source.logGroupName,
        logStreamNamePrefix: source.logStreamName,
      });
      try {
        // Tells a missing stream (no chat yet) from a missing group (an error), without reading error texts.
        const described = await this.retried(
          () => this.deps.client.send(describe),
          source,
          limiter,
          stopped,
          retries,
        );
        return described === STOPPED ? STOPPED : undefined;
      } catch (describeError) {
        if (!(describeError instanceof Error) || describeError.name !== "ResourceNotFoundException") {
          throw describeError;
        }
        throw new ChatNotFoundError(`chat log group ${source.logGroupName} does not exist`, { cause: error });
      }
    }
  }

  /**
   * Runs a request under the rate limit, retrying while throttled or unavailable (counted in
   * `retries`), until the budget is spent or the read stops.
   */
  private async retried<T>(
    call: () => Promise<T>,
    source: CloudWatchSource,
    limiter: RateLimiter,
    stopped: () => boolean,
    retries: { count: number },
  ): Promise<T | typeof STOPPED> {
    const { sleep = (ms) => delay(ms), random = Math.random, now = Date.now } = this.deps;
    const budget = this.deps.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS;
    const started = now();
    // When the endpoint began not to answer (the first of the failures in a row that say so).
    let unreachableSince: number | undefined;
    for (let retry = 0; ; retry++) {
      if (stopped()) return STOPPED;
      await limiter.take();
      // The turn may come after the read was stopped: a request then would be read for nothing.
      if (stopped()) return STOPPED;
      try {
        return await call();
      } catch (error) {
        if (!isRetryable(error)) throw error;
        retries.count++;
        // Winding down, the page is left to the next run rather than waited for (or failed on).
        if (stopped()) return STOPPED;
        // Full jitter: the read quota is shared by the whole account, so retries must spread out.
        const wait = Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** retry));
        const unreachable = UNREACHABLE.has((error as NodeJS.ErrnoException).code ?? "");
        unreachableSince = unreachable ? (unreachableSince ?? now()) : undefined;
        const silentFor = unreachableSince === undefined ? 0 : now() - unreachableSince;
        if (now() - started + wait > budget || silentFor + wait > UNREACHABLE_BUDGET_MS) {
          const message = `reading chat log ${source.logStreamName} still failed after ${retry + 1} attempts in ${Math.round((now() - started) / 1000)} s: ${whatFailed(error)}`;
          throw new ChatLogReadError(message, { cause: error });
        }
        await sleep(wait);
      }
    }
  }
}

/** The last failure, in a few words: its name, and its message where that says more. */
function whatFailed(error: unknown): string {
  const { name, message } = error as Error;
  if (name === "Error" || message.startsWith(name)) return message || name;
  return message === "" ? name : `${name}: ${message}`;
}

function isRetryable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (RETRYABLE_ERROR_NAMES.has(error.name)) return true;
  if (RETRYABLE_ERROR_NAMES.has((error as NodeJS.ErrnoException).code ?? "")) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status !== undefined && (status === 429 || status >= 500);
}

// moto treats endTime as inclusive where AWS excludes it; filtering here keeps both honest.
function recordsInSlice(events: OutputLogEvent[], start: number, end: number): string[] {
  const records: string[] = [];
  for (const { timestamp, message } of events) {
    if (message === undefined) continue;
    if (timestamp !== undefined && (timestamp < start || timestamp >= end)) continue;
    records.push(message);
  }
  return records;
}

/** What the reader knows of a slice while reading it: where it ends now, how far it got, how much time a page covers. */
class LiveSlice {
  end: number;
  done: boolean;
  readonly rank: number;
  /** The latest time of an event read: the slice can be split after it. */
  reached: number;
  /** The time the slice's latest page at least half full took to read through, in ms; undefined before one. */
  pageMs: number | undefined;

  constructor(slice: SlicePosition) {
    this.end = slice.end;
    this.done = slice.done;
    this.rank = slice.rank;
    this.reached = slice.start;
  }

  /** Takes in a page of the slice, `pageEvents` the most events a page may hold. */
  saw(events: readonly OutputLogEvent[], atEnd: boolean, pageEvents: number): void {
    if (atEnd) this.done = true;
    const last = events[events.length - 1]?.timestamp;
    if (last === undefined) return;
    // The time a page took, from where the one before ended. A slice's last page is cut short by
    // its end: it says nothing of how dense the log is. Another page that is not half full says
    // the log may be sparse here: no estimate until a fuller page comes.
    if (!atEnd) this.pageMs = isHalfFull(events, pageEvents) ? Math.max(1, last - this.reached) : undefined;
    this.reached = Math.max(this.reached, last);
  }

  /** The pages left to read before `busyUntil` (after it the log holds little), as the latest page's span foretells. */
  pagesLeft(busyUntil: number): number {
    if (this.done || this.pageMs === undefined) return 0;
    return (Math.min(this.end, busyUntil) - this.reached) / this.pageMs;
  }
}

/** True for a page at least half full, of events or of bytes (counted as UTF-16 units, which UTF-8 never has fewer of). */
function isHalfFull(events: readonly OutputLogEvent[], pageEvents: number): boolean {
  if (events.length >= pageEvents / 2) return true;
  let bytes = events.length * EVENT_OVERHEAD_BYTES;
  for (const { message } of events) bytes += message?.length ?? 0;
  return bytes >= PAGE_BYTES / 2;
}

/** The least rank above `rank` among the slices (SLICE_RANKS when none is). */
function rankAbove(live: readonly LiveSlice[], rank: number): number {
  let least = SLICE_RANKS;
  for (const other of live) if (other.rank > rank && other.rank < least) least = other.rank;
  return least;
}

/**
 * Splits the slice with the most pages left (at least MIN_SPLIT_PAGES) in two halves of its time
 * left before `busyUntil`; the second half becomes slice `index`, ranked between the slice and the
 * one after it. Undefined when no slice is worth splitting.
 */
function splitBusiest(live: LiveSlice[], index: number, busyUntil: number): SliceSplit | undefined {
  let from: number | undefined;
  let rank = 0;
  let most = MIN_SPLIT_PAGES;
  for (const [i, slice] of live.entries()) {
    const pages = slice.pagesLeft(busyUntil);
    if (pages < most) continue;
    const between = Math.floor((slice.rank + rankAbove(live, slice.rank)) / 2);
    if (between === slice.rank) continue;
    from = i;
    rank = between;
    most = pages;
  }
  if (from === undefined) return undefined;
  const slice = live[from] as LiveSlice;
  const at = slice.reached + Math.max(1, Math.floor((Math.min(slice.end, busyUntil) - slice.reached) / 2));
  const position = { start: at, end: slice.end, read: 0, done: false, rank };
  // The new slice earns its own estimate: the part of the log it holds may be sparser.
  live[index] = new LiveSlice(position);
  slice.end = at;
  return { from, position };
}
