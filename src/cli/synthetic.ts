import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

/** Options of {@link syntheticChatLog}; rates are fractions of all records. */
export interface SyntheticOptions {
  records: number;
  start: Date;
  durationMs: number;
  seed?: number;
  deleteRate?: number;
  duplicateRate?: number;
  junkRate?: number;
  customEventRate?: number;
  disconnectRate?: number;
  /** Fraction of records logged in the 15 minutes after the window end (half of them deletes). */
  lateRate?: number;
  /**
   * Share of the window's records logged in its middle tenth, on top of the even spread of the
   * rest (a peak of the broadcast); default 0, an even spread.
   */
  burst?: number;
}

// The burst's tenth of the window: from 45% to 55% of it.
const BURST_FROM = 0.45;
const BURST_SPAN = 0.1;

/**
 * Where in the window (0 to 1) the record at `u` (0 to 1) of the window's records falls when a
 * share `burst` of them is in its middle tenth: the inverse of the records' spread over time.
 */
export function burstTime(u: number, burst: number): number {
  const even = 1 - burst;
  const before = even * BURST_FROM;
  const within = even * BURST_SPAN + burst;
  if (u < before) return u / even;
  if (u < before + within) return BURST_FROM + ((u - before) / within) * BURST_SPAN;
  return BURST_FROM + BURST_SPAN + (u - before - within) / even;
}

/** What a generated line is meant to be, for summaries and tests. */
export type SyntheticKind = "message" | "delete" | "disconnect" | "custom" | "duplicate" | "junk";

/** One chat log line and the CloudWatch timestamp it would be put with. */
export interface SyntheticRecord {
  /** Non-decreasing across the sequence, so any slice can go straight to PutLogEvents. */
  timestampMs: number;
  line: string;
  kind: SyntheticKind;
}

interface LoggedMessage {
  payload: MessagePayload;
  line: string;
}

interface MessagePayload {
  Type: "MESSAGE";
  Id: string;
  RequestId: string;
  Attributes: Record<string, string>;
  Content: string;
  SendTime: string;
  Sender: { UserId: string; Attributes: Record<string, string> };
}

interface User {
  userId: string;
  username: string;
}

const LATE_SPAN_MS = 15 * 60_000;
// Moderators delete what they just saw: deletes and duplicates reach back at most this many messages.
const RECENT = 1024;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SYLLABLES = "gle nin ka zu mi ro xo fan dra ke lu vi ta no bo".split(" ");
const PHRASES = [
  "bbiab!",
  "lol",
  "gg",
  "W",
  "that was close",
  "hello from Berlin",
  "first time here, love the stream",
  "what song is this?",
  "¿qué pasa?",
  "すごい！",
  "Привет всем",
  "ça marche 👍",
  "🔥🔥🔥",
  "let's go 🚀",
  "😂😂",
  "👨‍👩‍👧 family watching",
  'he said "no" \\o/',
  "tabs\tand\u00a0spaces",
];
const WORDS = "nice play clutch chat is so fast today again wow the boss run".split(" ");
const EMOJI = ["😀", "🎉", "💯", "🙏", "👀", "❤️", "🤯", "🥲"];
const CUSTOM_EVENTS = ["app:poll", "app:reaction", "app:announcement"];
const REASONS = ["spam", "offensive", "off-topic"];

/** Mulberry32: a tiny seeded PRNG giving floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Yields a deterministic, real-shaped IVS Chat log (SPEC section 2) with deletes, duplicates and junk mixed in. */
export function* syntheticChatLog(options: SyntheticOptions): Generator<SyntheticRecord> {
  const rand = mulberry32(options.seed ?? 1);
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T>(items: readonly T[]): T => {
    const item = items[int(items.length)];
    if (item === undefined) throw new RangeError("pick from an empty list");
    return item;
  };
  const id = (): string => {
    let value = "";
    for (let i = 0; i < 12; i++) value += ALNUM.charAt(int(ALNUM.length));
    return value;
  };
  const uuid = (): string => {
    const hex = Array.from({ length: 32 }, () => int(16).toString(16));
    hex[12] = "4";
    hex[16] = (8 + int(4)).toString(16);
    const h = hex.join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  const content = (): string => {
    if (rand() < 0.6) return pick(PHRASES);
    const words = Array.from({ length: 2 + int(8) }, () => pick(WORDS));
    if (rand() < 0.3) words.push(pick(EMOJI));
    return words.join(" ");
  };

  const mix: [SyntheticKind, number][] = [
    ["delete", options.deleteRate ?? 0.01],
    ["duplicate", options.duplicateRate ?? 0.01],
    ["junk", options.junkRate ?? 0.01],
    ["custom", options.customEventRate ?? 0.01],
    ["disconnect", options.disconnectRate ?? 0.001],
  ];
  if (mix.reduce((sum, [, rate]) => sum + rate, 0) > 1) throw new RangeError("rates add up to more than 1");
  const chooseKind = (late: boolean): SyntheticKind => {
    // Moderation goes on after the broadcast ends; the chat mostly does not.
    if (late && rand() < 0.5) return "delete";
    let r = rand();
    for (const [kind, rate] of mix) {
      if (r < rate) return kind;
      r -= rate;
    }
    return "message";
  };

  const users: User[] = Array.from(
    { length: Math.min(20_000, Math.max(20, Math.ceil(options.records / 100))) },
    () => ({
      userId: uuid(),
      username:
        Array.from({ length: 2 + int(2) }, () => pick(SYLLABLES)).join("") + (rand() < 0.5 ? int(100) : ""),
    }),
  );
  // A ring of the last RECENT messages logged.
  const recent: LoggedMessage[] = [];
  let messageCount = 0;
  // Ids handed to a delete before their message is logged (deletes can precede their target in a log).
  const reserved: string[] = [];
  const startMs = options.start.getTime();
  const endMs = startMs + options.durationMs;
  const lateCount = Math.round(options.records * (options.lateRate ?? 0));
  const inWindow = options.records - lateCount;
  const burst = options.burst ?? 0;
  if (!(burst >= 0 && burst < 1)) throw new RangeError("burst is a share from 0 up to 1, not 1");

  // Date#toISOString per record is the generator's main cost; consecutive records share their second.
  let cachedSecond = Number.NaN;
  let cachedPrefix = "";
  const isoMillis = (ms: number): string => {
    const second = Math.floor(ms / 1000);
    if (second !== cachedSecond) {
      cachedSecond = second;
      cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20);
    }
    return cachedPrefix + String(ms - second * 1000).padStart(3, "0");
  };
  const stamp = (ms: number) => {
    // SendTime is taken when the request arrives, a little before the record is logged.
    const lagMs = rand() < 0.7 ? 0 : 1 + int(30);
    const sendTime = `${isoMillis(ms - lagMs)}${String(int(1_000_000)).padStart(6, "0")}Z`;
    return { eventTimestamp: `${isoMillis(ms)}Z`, sendTime };
  };
  const buildMessage = (ms: number, messageId: string): LoggedMessage => {
    const { eventTimestamp, sendTime } = stamp(ms);
    const user = pick(users);
    const payload: MessagePayload = {
      Type: "MESSAGE",
      Id: messageId,
      RequestId: rand() < 0.8 ? "" : uuid(),
      Attributes: { username: user.username },
      Content: content(),
      SendTime: sendTime,
      Sender: { UserId: user.userId, Attributes: {} },
    };
    const line = JSON.stringify({
      event_timestamp: eventTimestamp,
      type: "MESSAGE",
      version: "1.0",
      payload,
    });
    return { payload, line };
  };
  const message = (ms: number): string => {
    const logged = buildMessage(ms, reserved.shift() ?? id());
    recent[messageCount++ % RECENT] = logged;
    return logged.line;
  };
  const event = (ms: number, eventName: string, attributes: Record<string, string>): string => {
    const { eventTimestamp, sendTime } = stamp(ms);
    const payload = { Type: "EVENT", Id: id(), RequestId: "", EventName: eventName, Attributes: attributes };
    return JSON.stringify({
      event_timestamp: eventTimestamp,
      type: "EVENT",
      version: "1.0",
      payload: { ...payload, SendTime: sendTime },
    });
  };
  const deletion = (ms: number): string => {
    const r = rand();
    let target: string;
    if (r < 0.85 && recent.length > 0) target = pick(recent).payload.Id;
    else if (r < 0.95) {
      target = id();
      reserved.push(target);
    } else target = id();
    const key = rand() < 0.8 ? "MessageId" : "MessageID";
    return event(
      ms,
      "aws:DELETE_MESSAGE",
      rand() < 0.5 ? { [key]: target, Reason: pick(REASONS) } : { [key]: target },
    );
  };
  const duplicate = (ms: number): string | undefined => {
    const original = recent.length > 0 ? pick(recent) : undefined;
    if (original === undefined) return undefined;
    if (rand() < 0.6) return original.line;
    const { eventTimestamp, sendTime } = stamp(ms);
    const payload = {
      ...original.payload,
      Content: `${original.payload.Content} (edited)`,
      SendTime: sendTime,
    };
    return JSON.stringify({ event_timestamp: eventTimestamp, type: "MESSAGE", version: "1.0", payload });
  };
  const junk = (ms: number): string => {
    const valid = JSON.parse(buildMessage(ms, id()).line) as {
      event_timestamp: string;
      payload: Record<string, unknown>;
    };
    const { payload } = valid;
    switch (int(9)) {
      case 0:
        return JSON.stringify(valid).slice(0, 40 + int(60));
      case 1:
        return "null";
      case 2:
        return JSON.stringify([valid]);
      case 3:
        return JSON.stringify({ ...valid, type: "CONNECT" });
      case 4:
        return JSON.stringify({ ...valid, payload: { ...payload, Id: undefined } });
      case 5:
        return JSON.stringify({ ...valid, event_timestamp: "2024-13-45T99:00:00Z" });
      case 6:
        return JSON.stringify({ ...valid, payload: { ...payload, SendTime: "yesterday" } });
      case 7:
        return JSON.stringify({ ...valid, payload: undefined });
      default:
        return `${valid.event_timestamp} WARN chat logger restarted`;
    }
  };

  const customEvent = (ms: number): string => {
    const name = pick(CUSTOM_EVENTS);
    if (name === "app:poll")
      return event(ms, name, { question: "Best map?", options: '["Dust","Mirage","Nuke"]' });
    if (name === "app:reaction") return event(ms, name, { emoji: pick(EMOJI), userId: pick(users).userId });
    return event(ms, name, { text: content() });
  };
  const recordLine = (kind: SyntheticKind, ms: number): string | undefined => {
    switch (kind) {
      case "delete":
        return deletion(ms);
      case "duplicate":
        return duplicate(ms);
      case "junk":
        return junk(ms);
      case "custom":
        return customEvent(ms);
      case "disconnect":
        return event(ms, "aws:DISCONNECT_USER", {
          UserId: pick(users).userId,
          Reason: "Kicked by moderator",
        });
      case "message":
        return message(ms);
    }
  };

  for (let i = 0; i < options.records; i++) {
    const late = i >= inWindow;
    // Without a burst, the formula of old: the bench's logs stay byte for byte what they were.
    const ms = late
      ? endMs + Math.floor((LATE_SPAN_MS * (i - inWindow + rand())) / lateCount)
      : burst === 0
        ? startMs + Math.floor((options.durationMs * (i + rand())) / inWindow)
        : startMs + Math.floor(options.durationMs * burstTime((i + rand()) / inWindow, burst));
    const kind = chooseKind(late);
    const line = recordLine(kind, ms);
    // A duplicate needs an earlier message; before the first one it is a plain message.
    if (line === undefined) yield { timestampMs: ms, line: message(ms), kind: "message" };
    else yield { timestampMs: ms, line, kind };
  }
}

// Joining lines into ~64 KiB chunks keeps the gzip stream from paying per-line overhead.
function* chunks(records: Iterable<SyntheticRecord>): Generator<string> {
  let lines: string[] = [];
  let size = 0;
  for (const { line } of records) {
    lines.push(line);
    size += line.length + 1;
    if (size >= 65_536) {
      yield `${lines.join("\n")}\n`;
      lines = [];
      size = 0;
    }
  }
  if (lines.length > 0) yield `${lines.join("\n")}\n`;
}

/** Streams a synthetic chat log to a gzip file, one record per line, as IVS writes to S3 and Firehose. */
export async function writeSyntheticChatLogGz(path: string, options: SyntheticOptions): Promise<void> {
  await pipeline(Readable.from(chunks(syntheticChatLog(options))), createGzip(), createWriteStream(path));
}
