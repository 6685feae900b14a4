import type { ItemWriter } from "./runs";
import type { Instant } from "./time";

/**
 * Reads a chat message record straight from its UTF-8 bytes, for the shape IVS writes: strings
 * with no escapes but the ones `JSON.stringify` writes, `Attributes` maps of strings. Such a
 * record's output is its own tokens copied, which is what `JSON.stringify(JSON.parse(...))` would
 * give back, at a fraction of the cost of decoding, parsing and rendering it. Anything else
 * (another escape, a control character, a repeated key, a map key V8 would reorder, a value of
 * another type, an event, a byte order mark) is left to `JSON.parse`, so this reader only has to
 * be right about what it accepts: valid JSON only.
 *
 * `line` is a whole batch; `[start, end)` is one line and `line[end]` its newline (or the end of
 * the batch), which no check below accepts, so a scan never runs into the next line.
 */

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;
// Deeper values are rare enough to leave to JSON.parse, and the recursion stays shallow.
const MAX_DEPTH = 32;
// A map with more keys is left to JSON.parse: duplicates are looked for pairwise.
const MAX_KEYS = 16;

const ascii = (text: string) => Buffer.from(text, "latin1");
const TYPE = ascii("type");
const EVENT_TIMESTAMP = ascii("event_timestamp");
const PAYLOAD = ascii("payload");
const MESSAGE = ascii("MESSAGE");
const ID = ascii("Id");
const SEND_TIME = ascii("SendTime");
const CONTENT = ascii("Content");
const ATTRIBUTES = ascii("Attributes");
const SENDER = ascii("Sender");
const USER_ID = ascii("UserId");
const USERNAME = ascii("username");
const NULL = ascii("null");
const TRUE = ascii("true");
const FALSE = ascii("false");

/** A map of strings: the bounds of each key's and value's token, quotes included. */
export class StringMap {
  count = 0;
  readonly bounds = new Int32Array(4 * MAX_KEYS);
  /** Index of the `username` entry, or -1. */
  username = -1;
  usernameEscaped = false;

  reset(): void {
    this.count = 0;
    this.username = -1;
    this.usernameEscaped = false;
  }
}

/** A string token (or `null`) of the line: its bounds, quotes included; `start` is -1 while absent. */
export class Token {
  start = -1;
  end = -1;
  /** Whether the string holds an escape. */
  escaped = false;

  reset(): void {
    this.start = -1;
    this.escaped = false;
  }

  /**
   * Takes the string (or, `orNull`, the `null`) at `value` and returns where it ends; -1 when a
   * token was taken already (a repeated key) or the value is something else.
   */
  take(b: Buffer, value: number, end: number, orNull = false): number {
    if (this.start >= 0) return -1;
    const before = escapes;
    this.start = value;
    this.end = b[value] === QUOTE ? stringEnd(b, value, end) : orNull ? wordEnd(b, value, end, NULL) : -1;
    this.escaped = escapes !== before;
    return this.end;
  }

  /** `take` of a string read as text: -1 also when it holds an escape, which this reader does not decode. */
  takePlain(b: Buffer, value: number, end: number): number {
    const valueEnd = this.take(b, value, end);
    return this.escaped ? -1 : valueEnd;
  }

  /** The string's text (a `takePlain` token), decoded as UTF-8. */
  text(b: Buffer): string {
    const from = this.start + 1;
    const to = this.end - 1;
    for (let i = from; i < to; i++) if ((b[i] as number) >= 0x80) return b.toString("utf8", from, to);
    return b.toString("latin1", from, to);
  }
}

/**
 * What `scanMessage` found. A field that `prepareBatch` reads as "not an object" (Attributes,
 * Sender) or "not a string" (UserId) is absent here too, as it is there.
 */
export class MessageFields {
  readonly type = new Token();
  readonly loggedAt = new Token();
  sawPayload = false;
  readonly id = new Token();
  readonly sendTime = new Token();
  /** A string or `null`. */
  readonly content = new Token();
  sawSender = false;
  sawUserId = false;
  readonly userId = new Token();
  readonly attributes = new StringMap();
  readonly senderAttributes = new StringMap();
  sawAttributes = false;
  sawSenderAttributes = false;

  reset(): void {
    this.type.reset();
    this.loggedAt.reset();
    this.id.reset();
    this.sendTime.reset();
    this.content.reset();
    this.userId.reset();
    this.sawPayload = this.sawSender = this.sawUserId = this.sawAttributes = this.sawSenderAttributes = false;
    this.attributes.reset();
    this.senderAttributes.reset();
  }
}

function skipSpace(b: Buffer, p: number, end: number): number {
  while (p < end) {
    const c = b[p];
    if (c !== SPACE && c !== TAB && c !== LF && c !== CR) break;
    p++;
  }
  return p;
}

// How many escapes the strings scanned so far held, counted by `stringEnd` (which has no fields
// to set): a reader compares it before and after a token. A field read as text (an id, a time, a
// transcript line's parts) that holds an escape is left to JSON.parse.
let escapes = 0;

/**
 * The end (after its closing quote) of the string token at `p`, or -1 for a control character or
 * an escape other than the ones `JSON.stringify` writes itself (`\"`, `\\`, `\b`, `\f`, `\n`,
 * `\r`, `\t`): with only those, the token is the string's own rendering.
 */
function stringEnd(b: Buffer, p: number, end: number): number {
  for (let i = p + 1; i < end; i++) {
    const c = b[i] as number;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      const next = b[++i];
      // biome-ignore format: one escape a column
      if (next !== QUOTE && next !== BACKSLASH && next !== 0x62 && next !== 0x66 &&
          next !== 0x6e && next !== 0x72 && next !== 0x74) return -1;
      escapes++;
    } else if (c < SPACE) return -1;
  }
  return -1;
}

function isDigit(b: Buffer, p: number, end: number): boolean {
  if (p >= end) return false;
  const c = b[p] as number;
  return c >= ZERO && c <= NINE;
}

/** The end of the JSON number at `p` (RFC 8259's grammar), or -1. */
function numberEnd(b: Buffer, p: number, end: number): number {
  if (p < end && b[p] === MINUS) p++;
  if (!isDigit(b, p, end)) return -1;
  if (b[p++] !== ZERO) while (isDigit(b, p, end)) p++;
  if (p < end && b[p] === DOT) {
    if (!isDigit(b, ++p, end)) return -1;
    while (isDigit(b, p, end)) p++;
  }
  if (p < end && (b[p] === 0x65 || b[p] === 0x45)) {
    p++;
    if (p < end && (b[p] === 0x2b || b[p] === MINUS)) p++;
    if (!isDigit(b, p, end)) return -1;
    while (isDigit(b, p, end)) p++;
  }
  return p;
}

function wordEnd(b: Buffer, p: number, end: number, word: Buffer): number {
  if (p + word.length > end) return -1;
  for (let i = 0; i < word.length; i++) if (b[p + i] !== word[i]) return -1;
  return p + word.length;
}

/** The end of the JSON value at `p`, validated, or -1. */
function valueEnd(b: Buffer, p: number, end: number, depth: number): number {
  const c = b[p];
  if (c === QUOTE) return stringEnd(b, p, end);
  if (c === OPEN || c === OPEN_LIST) {
    if (depth > MAX_DEPTH) return -1;
    const close = c === OPEN ? CLOSE : CLOSE_LIST;
    p = skipSpace(b, p + 1, end);
    if (b[p] === close) return p + 1;
    for (;;) {
      if (c === OPEN) {
        if (b[p] !== QUOTE) return -1;
        p = stringEnd(b, p, end);
        if (p < 0) return -1;
        p = skipSpace(b, p, end);
        if (b[p] !== COLON) return -1;
        p = skipSpace(b, p + 1, end);
      }
      p = valueEnd(b, p, end, depth + 1);
      if (p < 0) return -1;
      p = skipSpace(b, p, end);
      if (b[p] === close) return p + 1;
      if (b[p] !== COMMA) return -1;
      p = skipSpace(b, p + 1, end);
    }
  }
  if (c === 0x74) return wordEnd(b, p, end, TRUE);
  if (c === 0x66) return wordEnd(b, p, end, FALSE);
  if (c === 0x6e) return wordEnd(b, p, end, NULL);
  return numberEnd(b, p, end);
}

/** True when the string token `[s, e)` holds exactly `word`. */
export function tokenIs(b: Buffer, s: number, e: number, word: Buffer): boolean {
  if (e - s - 2 !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (b[s + 1 + i] !== word[i]) return false;
  return true;
}

function sameToken(b: Buffer, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let i = 0; i < e1 - s1; i++) if (b[s1 + i] !== b[s2 + i]) return false;
  return true;
}

/** True for a key of digits only: V8 keeps array-index keys first, so the map would be reordered. */
function isDigits(b: Buffer, s: number, e: number): boolean {
  if (e - s <= 2) return false;
  for (let i = s + 1; i < e - 1; i++) if ((b[i] as number) < ZERO || (b[i] as number) > NINE) return false;
  return true;
}

// The object a member belongs to.
const IN_RECORD = 0;
const IN_PAYLOAD = 1;
const IN_SENDER = 2;
const ATTRIBUTES_MAP = 3;
const SENDER_ATTRIBUTES_MAP = 4;

/** The end of the object at `p` whose members `member` reads as `kind`'s, or -1. */
function objectEnd(b: Buffer, p: number, end: number, kind: number, f: MessageFields): number {
  p = skipSpace(b, p + 1, end);
  if (b[p] === CLOSE) return p + 1;
  for (;;) {
    if (b[p] !== QUOTE) return -1;
    const key = p;
    const keyEnd = stringEnd(b, p, end);
    if (keyEnd < 0) return -1;
    p = skipSpace(b, keyEnd, end);
    if (b[p] !== COLON) return -1;
    p = skipSpace(b, p + 1, end);
    p =
      kind >= ATTRIBUTES_MAP
        ? entryEnd(b, key, keyEnd, p, end, kind === ATTRIBUTES_MAP ? f.attributes : f.senderAttributes)
        : memberEnd(b, key, keyEnd, p, end, kind, f);
    if (p < 0) return -1;
    p = skipSpace(b, p, end);
    if (b[p] === CLOSE) return p + 1;
    if (b[p] !== COMMA) return -1;
    p = skipSpace(b, p + 1, end);
  }
}

/** Reads a map's entry into `map`; -1 for a value other than a string, a duplicate or reordered key, or too many keys. */
function entryEnd(
  b: Buffer,
  key: number,
  keyEnd: number,
  value: number,
  end: number,
  map: StringMap,
): number {
  if (b[value] !== QUOTE || map.count === MAX_KEYS || isDigits(b, key, keyEnd)) return -1;
  const before = escapes;
  const valueEnd = stringEnd(b, value, end);
  if (valueEnd < 0) return -1;
  const at = map.bounds;
  for (let i = 0; i < map.count; i++) {
    if (sameToken(b, at[4 * i] as number, at[4 * i + 1] as number, key, keyEnd)) return -1;
  }
  if (tokenIs(b, key, keyEnd, USERNAME)) {
    map.username = map.count;
    map.usernameEscaped = escapes !== before;
  }
  const i = 4 * map.count++;
  at[i] = key;
  at[i + 1] = keyEnd;
  at[i + 2] = value;
  at[i + 3] = valueEnd;
  return valueEnd;
}

/** Reads a member of the record (`kind` IN_RECORD), its payload or its sender into `f`. */
function memberEnd(
  b: Buffer,
  key: number,
  keyEnd: number,
  value: number,
  end: number,
  kind: number,
  f: MessageFields,
): number {
  if (kind === IN_RECORD) {
    if (tokenIs(b, key, keyEnd, TYPE)) return f.type.takePlain(b, value, end);
    if (tokenIs(b, key, keyEnd, EVENT_TIMESTAMP)) return f.loggedAt.takePlain(b, value, end);
    if (tokenIs(b, key, keyEnd, PAYLOAD)) {
      if (f.sawPayload || b[value] !== OPEN) return -1;
      f.sawPayload = true;
      return objectEnd(b, value, end, IN_PAYLOAD, f);
    }
  } else if (kind === IN_PAYLOAD) {
    if (tokenIs(b, key, keyEnd, ID)) return f.id.takePlain(b, value, end);
    if (tokenIs(b, key, keyEnd, SEND_TIME)) return f.sendTime.takePlain(b, value, end);
    if (tokenIs(b, key, keyEnd, CONTENT)) return f.content.take(b, value, end, true);
    if (tokenIs(b, key, keyEnd, ATTRIBUTES)) {
      if (f.sawAttributes) return -1;
      f.sawAttributes = true;
      // Not an object: read as {}, as prepareBatch reads it.
      return b[value] === OPEN ? objectEnd(b, value, end, ATTRIBUTES_MAP, f) : valueEnd(b, value, end, 1);
    }
    if (tokenIs(b, key, keyEnd, SENDER)) {
      if (f.sawSender) return -1;
      f.sawSender = true;
      return b[value] === OPEN ? objectEnd(b, value, end, IN_SENDER, f) : valueEnd(b, value, end, 1);
    }
  } else {
    if (tokenIs(b, key, keyEnd, USER_ID)) {
      if (f.sawUserId) return -1;
      f.sawUserId = true;
      if (b[value] !== QUOTE) return valueEnd(b, value, end, 1); // not a string: null, as prepareBatch reads it
      return f.userId.take(b, value, end);
    }
    if (tokenIs(b, key, keyEnd, ATTRIBUTES)) {
      if (f.sawSenderAttributes) return -1;
      f.sawSenderAttributes = true;
      return b[value] === OPEN
        ? objectEnd(b, value, end, SENDER_ATTRIBUTES_MAP, f)
        : valueEnd(b, value, end, 1);
    }
  }
  return valueEnd(b, value, end, 1);
}

/**
 * Scans the line `[start, end)` into `f`. False when the line is not valid JSON this reader
 * accepts, repeats a key it reads, or has an escape in its type, id or times: the caller then
 * parses it with `JSON.parse`.
 */
export function scanMessage(b: Buffer, start: number, end: number, f: MessageFields): boolean {
  f.reset();
  const p = skipSpace(b, start, end);
  if (b[p] !== OPEN) return false;
  const close = objectEnd(b, p, end, IN_RECORD, f);
  return close >= 0 && skipSpace(b, close, end) === end;
}

/** True when a part of the message's transcript line holds an escape (which `writeMessage` does not decode). */
export function cueEscaped(f: MessageFields): boolean {
  return f.content.escaped || f.userId.escaped || f.attributes.usernameEscaped;
}

/** True when the record's `type` is "MESSAGE". */
export function isMessage(b: Buffer, f: MessageFields): boolean {
  return f.type.start >= 0 && tokenIs(b, f.type.start, f.type.end, MESSAGE);
}

const SEND_TIME_FIELD = ascii('{"sendTime":');
const CONTENT_FIELD = ascii(',"content":');
const ATTRIBUTES_FIELD = ascii(',"attributes":');
const SENDER_FIELD = ascii(',"sender":{"userId":');
const AMP = ascii("&amp;");
const LT = ascii("&lt;");
const GT = ascii("&gt;");

/**
 * Writes the message scanned into `f` from the line `[start, end)` as a run item, as
 * `prepareBatch` renders it: `{"sendTime","content","attributes","sender":{"userId","attributes"}}`
 * and, with `transcript`, its line `<username, else userId>: <content>` escaped for WebVTT.
 */
export function writeMessage(
  w: ItemWriter,
  b: Buffer,
  lineLength: number,
  f: MessageFields,
  sentAt: Instant,
  transcript: boolean,
): void {
  // The JSON is the line's tokens and 80 bytes of keys; an escaped transcript line at most 5 bytes a byte.
  w.open(sentAt, (transcript ? 7 : 2) * lineLength + 128);
  w.field();
  w.copy(b, f.id.start + 1, f.id.end - 1);
  w.endField();
  w.field();
  if (transcript) writeCue(w, b, f);
  w.endField();
  w.copy(SEND_TIME_FIELD);
  w.copy(b, f.sendTime.start, f.sendTime.end);
  w.copy(CONTENT_FIELD);
  if (f.content.start >= 0) w.copy(b, f.content.start, f.content.end);
  else w.copy(NULL);
  w.copy(ATTRIBUTES_FIELD);
  writeMap(w, b, f.attributes);
  w.copy(SENDER_FIELD);
  if (f.userId.start >= 0) w.copy(b, f.userId.start, f.userId.end);
  else w.copy(NULL);
  w.copy(ATTRIBUTES_FIELD);
  writeMap(w, b, f.senderAttributes);
  w.byte(CLOSE);
  w.byte(CLOSE);
  w.close();
}

function writeMap(w: ItemWriter, b: Buffer, map: StringMap): void {
  w.byte(OPEN);
  const at = map.bounds;
  for (let i = 0; i < map.count; i++) {
    if (i > 0) w.byte(COMMA);
    w.copy(b, at[4 * i] as number, at[4 * i + 1] as number);
    w.byte(COLON);
    w.copy(b, at[4 * i + 2] as number, at[4 * i + 3] as number);
  }
  w.byte(CLOSE);
}

function writeCue(w: ItemWriter, b: Buffer, f: MessageFields): void {
  const map = f.attributes;
  const name = map.username;
  if (name >= 0 && (map.bounds[4 * name + 3] as number) - (map.bounds[4 * name + 2] as number) > 2) {
    writeEscaped(w, b, map.bounds[4 * name + 2] as number, map.bounds[4 * name + 3] as number);
  } else if (f.userId.start >= 0) {
    writeEscaped(w, b, f.userId.start, f.userId.end);
  }
  w.byte(COLON);
  w.byte(SPACE);
  if (f.content.start >= 0 && b[f.content.start] === QUOTE)
    writeEscaped(w, b, f.content.start, f.content.end);
}

/** The text of the string token `[s, e)` with `&`, `<` and `>` escaped (it holds no newline: those are escapes). */
function writeEscaped(w: ItemWriter, b: Buffer, s: number, e: number): void {
  let from = s + 1;
  for (let i = from; i < e - 1; i++) {
    const c = b[i];
    if (c !== 0x26 && c !== 0x3c && c !== 0x3e) continue;
    w.copy(b, from, i);
    w.copy(c === 0x26 ? AMP : c === 0x3c ? LT : GT);
    from = i + 1;
  }
  w.copy(b, from, e - 1);
}
