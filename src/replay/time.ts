/**
 * An instant with the full precision of an RFC 3339 timestamp: whole epoch milliseconds plus the
 * decimal digits below the millisecond. IVS logs `SendTime` with nanoseconds, which a float
 * (or `Date`) cannot hold, so ordering and offsets never go through a float.
 */
export interface Instant {
  /** Epoch milliseconds, floored. */
  readonly ms: number;
  /** Fraction digits after the millisecond, trailing zeros removed ("089757" for .894089757). */
  readonly sub: string;
}

const DAYS_BEFORE_MONTH = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days from 1970-01-01 to the given proleptic Gregorian date. */
function epochDays(year: number, month: number, day: number): number {
  const y = year - 1;
  const leapDays = Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400) - 477; // 477 = leap days before 1970
  const leapThisYear = month > 2 && isLeap(year) ? 1 : 0;
  return (year - 1970) * 365 + leapDays + (DAYS_BEFORE_MONTH[month - 1] ?? 0) + leapThisYear + day - 1;
}

function digits(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    value = value * 10 + c;
  }
  return value;
}

/**
 * Parses an RFC 3339 timestamp (`2024-01-05T14:33:32.894089757Z`, any number of fraction
 * digits, `Z` or a `±hh:mm` offset). Anything else, including a date without a zone, whose
 * meaning would depend on the reader's time zone, gives `undefined`.
 */
export function parseInstant(text: unknown): Instant | undefined {
  if (typeof text !== "string" || text.length < 20) return undefined;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  const sep = text.charCodeAt(10);
  if (
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    (sep !== 84 && sep !== 116 && sep !== 32) || // T, t or space
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58 ||
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59
  ) {
    return undefined;
  }
  let i = 19;
  let fraction = "";
  if (text.charCodeAt(i) === 46) {
    const start = ++i;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      i++;
    }
    if (i === start) return undefined;
    fraction = text.slice(start, i);
  }
  let offsetMinutes = 0;
  const zone = text.charCodeAt(i);
  if (zone === 90 || zone === 122) {
    // Z or z
    if (i + 1 !== text.length) return undefined;
  } else if (zone === 43 || zone === 45) {
    // +hh:mm or -hh:mm
    if (i + 6 !== text.length || text.charCodeAt(i + 3) !== 58) return undefined;
    const oh = digits(text, i + 1, 2);
    const om = digits(text, i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
    offsetMinutes = (zone === 43 ? 1 : -1) * (oh * 60 + om);
  } else {
    return undefined;
  }
  const millis = fraction.length >= 3 ? digits(fraction, 0, 3) : digits(fraction.padEnd(3, "0"), 0, 3);
  const seconds =
    epochDays(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60;
  let sub = fraction.length > 3 ? fraction.slice(3) : "";
  if (sub.length > 0 && sub.charCodeAt(sub.length - 1) === 48) sub = sub.replace(/0+$/, "");
  return { ms: seconds * 1000 + millis, sub };
}

/** Orders two instants exactly; negative when `a` is earlier. */
export function compareInstants(a: Instant, b: Instant): number {
  if (a.ms !== b.ms) return a.ms - b.ms;
  return compareFraction(a.sub, b.sub);
}

function compareFraction(a: string, b: string): number {
  if (a === b) return 0;
  // Without trailing zeros, an empty fraction is the smallest and equal widths compare as text.
  if (b === "") return 1;
  if (a === "") return -1;
  if (a.length === b.length) return a < b ? -1 : 1;
  const width = Math.max(a.length, b.length);
  const pa = a.padEnd(width, "0");
  const pb = b.padEnd(width, "0");
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** `floor((a - b) / 1 ms)`, exact for any precision, negative when `a` is before `b`. */
export function floorDiffMs(a: Instant, b: Instant): number {
  const whole = a.ms - b.ms;
  return compareFraction(a.sub, b.sub) < 0 ? whole - 1 : whole;
}

/** `Date.toISOString()` of the instant's millisecond, the form the service writes times in. */
export function formatInstant(instant: Instant): string {
  return new Date(instant.ms).toISOString();
}
