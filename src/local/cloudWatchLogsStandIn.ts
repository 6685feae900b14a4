import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** How the stand-in behaves; the defaults are CloudWatch Logs' own limits. */
export interface StandInOptions {
  /** Requests per second the account may make (a token bucket with this burst); default 10. */
  quotaTps?: number;
  /** Most events in a page; default 10,000. */
  maxEvents?: number;
  /** Most bytes in a page, counted as AWS does (message bytes + 26 per event); default 1 MiB. */
  maxBytes?: number;
  /** Fixed latency of a request, ms; default 20. */
  baseLatencyMs?: number;
  /** Latency per MiB of page, ms; default 150. */
  latencyPerMiBMs?: number;
  /** Every Nth GetLogEvents of a stream answers an empty page with a new token, as the service does while scanning; default 20 (0: never). */
  emptyPageEvery?: number;
}

/** What the stand-in counted. */
export interface StandInStats {
  requests: number;
  throttled: number;
  pages: number;
  emptyPages: number;
  bytes: number;
}

const PAGE_BYTES = 1_048_576;
const EVENT_OVERHEAD = 26;
const BLOCK_BYTES = 256 * 2 ** 20;

/** A log stream's events in timestamp order, their messages packed in large buffers. */
class StoredStream {
  timestamps = new Float64Array(1024);
  private blockOf = new Uint16Array(1024);
  private startOf = new Uint32Array(1024);
  private lengthOf = new Uint32Array(1024);
  private readonly blocks: Buffer[] = [Buffer.allocUnsafe(BLOCK_BYTES)];
  private used = 0;
  length = 0;

  add(timestamp: number, message: string): void {
    if (this.length > 0 && timestamp < (this.timestamps[this.length - 1] as number)) {
      throw new Error("events must be added in timestamp order");
    }
    if (this.length === this.timestamps.length) this.grow();
    const bytes = Buffer.byteLength(message);
    if (this.used + bytes > BLOCK_BYTES) {
      this.blocks.push(Buffer.allocUnsafe(Math.max(BLOCK_BYTES, bytes)));
      this.used = 0;
    }
    const block = this.blocks.length - 1;
    (this.blocks[block] as Buffer).write(message, this.used, "utf8");
    this.timestamps[this.length] = timestamp;
    this.blockOf[this.length] = block;
    this.startOf[this.length] = this.used;
    this.lengthOf[this.length] = bytes;
    this.used += bytes;
    this.length++;
  }

  bytes(i: number): number {
    return this.lengthOf[i] as number;
  }

  message(i: number): string {
    const start = this.startOf[i] as number;
    return (this.blocks[this.blockOf[i] as number] as Buffer).toString("utf8", start, start + this.bytes(i));
  }

  /** The first index whose timestamp is at or after `at`. */
  firstAtOrAfter(at: number): number {
    let low = 0;
    let high = this.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.timestamps[mid] as number) < at) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private grow(): void {
    const size = this.timestamps.length * 2;
    const timestamps = new Float64Array(size);
    timestamps.set(this.timestamps);
    const blockOf = new Uint16Array(size);
    blockOf.set(this.blockOf);
    const startOf = new Uint32Array(size);
    startOf.set(this.startOf);
    const lengthOf = new Uint32Array(size);
    lengthOf.set(this.lengthOf);
    Object.assign(this, { timestamps, blockOf, startOf, lengthOf });
  }
}

/**
 * A local CloudWatch Logs for what moto lacks (SPEC section 9): pages capped at 10,000 events
 * or 1 MB, empty pages that carry a new token, the same token handed back at the end, an account
 * read quota answered with ThrottlingException, and latency that grows with the page's bytes.
 * It serves GetLogEvents and DescribeLogStreams over the JSON protocol the SDK speaks; the SDK
 * reaches it through `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`.
 */
export class CloudWatchLogsStandIn {
  readonly stats: StandInStats = { requests: 0, throttled: 0, pages: 0, emptyPages: 0, bytes: 0 };
  private readonly streams = new Map<string, StoredStream>();
  private readonly requestsByStream = new Map<string, number>();
  private server: Server | undefined;
  private bucket: number;
  private refilledAt = Date.now();
  private readonly options: Required<StandInOptions>;

  constructor(options: StandInOptions = {}) {
    this.options = {
      quotaTps: 10,
      maxEvents: 10_000,
      maxBytes: PAGE_BYTES,
      baseLatencyMs: 20,
      latencyPerMiBMs: 150,
      emptyPageEvery: 20,
      ...options,
    };
    this.bucket = this.options.quotaTps;
  }

  /** Adds events to a stream (creating it and its group); timestamps must not decrease. */
  add(group: string, stream: string, events: Iterable<{ timestampMs: number; line: string }>): number {
    const key = `${group}\n${stream}`;
    let stored = this.streams.get(key);
    if (stored === undefined) {
      stored = new StoredStream();
      this.streams.set(key, stored);
    }
    let count = 0;
    for (const event of events) {
      stored.add(event.timestampMs, event.line);
      count++;
    }
    return count;
  }

  /** Removes a group's streams, as retention or an operator would. */
  deleteGroup(group: string): void {
    for (const key of [...this.streams.keys()]) if (key.startsWith(`${group}\n`)) this.streams.delete(key);
  }

  /** Starts serving on a free loopback port; resolves to its endpoint URL. */
  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.reply(response, 500, { __type: "InternalServerException", message: String(error) });
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    this.server?.closeAllConnections();
  }

  private takeQuota(): boolean {
    const now = Date.now();
    const rate = this.options.quotaTps;
    this.bucket = Math.min(rate, this.bucket + ((now - this.refilledAt) / 1000) * rate);
    this.refilledAt = now;
    if (this.bucket < 1) return false;
    this.bucket -= 1;
    return true;
  }

  private reply(response: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    response.writeHead(status, {
      "content-type": "application/x-amz-json-1.1",
      "content-length": Buffer.byteLength(text),
      "x-amzn-requestid": `standin-${this.stats.requests}`,
    });
    response.end(text);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const target = String(request.headers["x-amz-target"] ?? "").split(".")[1];
    const input = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
    this.stats.requests++;
    if (!this.takeQuota()) {
      this.stats.throttled++;
      this.reply(response, 400, { __type: "ThrottlingException", message: "Rate exceeded" });
      return;
    }
    const group = String(input.logGroupName ?? "");
    const hasGroup = [...this.streams.keys()].some((key) => key.startsWith(`${group}\n`));
    if (target === "DescribeLogStreams") {
      if (!hasGroup) {
        this.reply(response, 400, {
          __type: "ResourceNotFoundException",
          message: "The specified log group does not exist.",
        });
        return;
      }
      const prefix = String(input.logStreamNamePrefix ?? "");
      const logStreams = [...this.streams.keys()]
        .filter((key) => key.startsWith(`${group}\n${prefix}`))
        .map((key) => ({ logStreamName: key.slice(group.length + 1) }));
      this.reply(response, 200, { logStreams });
      return;
    }
    if (target !== "GetLogEvents") {
      this.reply(response, 400, {
        __type: "UnknownOperationException",
        message: `${target} is not served here`,
      });
      return;
    }
    const streamName = String(input.logStreamName ?? "");
    const key = `${group}\n${streamName}`;
    const stream = this.streams.get(key);
    if (stream === undefined) {
      this.reply(response, 400, {
        __type: "ResourceNotFoundException",
        message: "The specified log stream does not exist.",
      });
      return;
    }
    const page = this.page(key, stream, input);
    this.stats.pages++;
    if (page.events.length === 0) this.stats.emptyPages++;
    this.stats.bytes += page.bytes;
    const latency = this.options.baseLatencyMs + (page.bytes / PAGE_BYTES) * this.options.latencyPerMiBMs;
    await new Promise((resolve) => setTimeout(resolve, latency));
    this.reply(response, 200, {
      events: page.events,
      nextForwardToken: page.token,
      nextBackwardToken: "b/0",
    });
  }

  private page(key: string, stream: StoredStream, input: Record<string, unknown>) {
    const start = typeof input.startTime === "number" ? input.startTime : Number.NEGATIVE_INFINITY;
    const end = typeof input.endTime === "number" ? input.endTime : Number.POSITIVE_INFINITY;
    const token = typeof input.nextToken === "string" ? input.nextToken : undefined;
    const limit = Math.min(
      this.options.maxEvents,
      typeof input.limit === "number" ? input.limit : Number.POSITIVE_INFINITY,
    );
    const from = token === undefined ? stream.firstAtOrAfter(start) : Number(token.split("/")[1]);
    const count = (this.requestsByStream.get(key) ?? 0) + 1;
    this.requestsByStream.set(key, count);
    const more = from < stream.length && (stream.timestamps[from] as number) < end;
    if (more && this.options.emptyPageEvery > 0 && count % this.options.emptyPageEvery === 0) {
      // The service scans in steps and may answer a step without events: a new token, no events.
      return { events: [], bytes: 0, token: `f/${from}/${count}` };
    }
    const events: { timestamp: number; message: string; ingestionTime: number }[] = [];
    let bytes = 0;
    let i = from;
    for (; i < stream.length && events.length < limit; i++) {
      const timestamp = stream.timestamps[i] as number;
      if (timestamp >= end) break;
      const size = stream.bytes(i) + EVENT_OVERHEAD;
      if (bytes + size > this.options.maxBytes) break;
      bytes += size;
      events.push({ timestamp, message: stream.message(i), ingestionTime: timestamp });
    }
    // At the end the token sent comes back; a first read that found nothing gets one to come back with.
    const next = events.length === 0 && token !== undefined ? token : `f/${i}`;
    return { events, bytes, token: next };
  }
}
