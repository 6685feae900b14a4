import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/cli/synthetic";
import { isMessage, MessageFields, scanMessage } from "../../src/replay/messageBytes";
import {
  isBlank,
  type PreparedBatch,
  type PrepareWindow,
  prepareBatch,
  prepareLines,
} from "../../src/replay/prepare";
import { parseInstant } from "../../src/replay/time";

const IVS_LINE =
  '{"event_timestamp":"2024-01-05T14:30:00.003Z","type":"MESSAGE","version":"1.0","payload":{"Type":"MESSAGE","Id":"vQu169RNVWO4","RequestId":"","Attributes":{"username":"kebonin"},"Content":"gg","SendTime":"2024-01-05T14:29:59.998837711Z","Sender":{"UserId":"0e94a931-4265-4eae-bcc4-68afcfd75365","Attributes":{}}}}';

/** JSON texts of strings: plain, with the escapes JSON.stringify writes, and with ones it does not. */
const STRINGS = [
  '""',
  '"gg"',
  '"héllo 🎉 wörld"',
  '"a & b < c > d"',
  '"line\\nbreak\\r\\n and\\ttab"',
  '"he said \\"no\\" \\\\o/"',
  '"\\b\\f"',
  '"\\u0041\\u00e9"',
  '"slash \\/"',
  '"\\ud83d\\ude00"',
  '"lone \\ud800"',
  '"\\u001F"',
  '"\u2028 separator"',
  '"raw\ttab"',
  '"0"',
  '"12"',
];
const NUMBERS = ["0", "-0", "12", "1.5", "-1.25e+3", "1E9", "01", "1.", "-", "1e", ".5", "+1", "1e999"];
const OTHERS = [
  "true",
  "false",
  "null",
  "[]",
  "[1,[2,{}]]",
  "{}",
  '{"a":{"b":[null]}}',
  "tru",
  "nul",
  "[1,]",
];
const KEYS = ["username", "color", "0", "12", "01", "__proto__", "a b", "é", "user\\u006eame", "x\\ty"];
const TIMES = [
  '"2024-01-05T14:30:00.003Z"',
  '"2024-01-05T14:29:59.998837711Z"',
  '"2024-01-05T16:29:59.998+02:00"',
  '"2024-01-05 14:30:00Z"',
  '"2024-01-05T14:30:00"',
  '"2024-02-30T14:30:00Z"',
  '"2024-01-05T14:30:00.5\\u005a"',
  '"2024-01-05T14:29:59.000000000Z"',
  "1704465000003",
];

/** Random JSON-ish lines around the shape IVS writes: most valid, many that only JSON.parse should read. */
function hostileLines(seed: number, count: number): string[] {
  const next = mulberry32(seed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
  const chance = (p: number) => next() < p;
  const space = () => (chance(0.1) ? pick([" ", "\t", "\r", " \n ".trim() || " ", "  "]) : "");
  const anyValue = (): string => (chance(0.5) ? pick(STRINGS) : chance(0.5) ? pick(NUMBERS) : pick(OTHERS));
  const object = (members: [string, string][]): string => {
    const shuffled = chance(0.2) ? [...members].sort(() => next() - 0.5) : members;
    const text = shuffled.map(([k, v]) => `${space()}"${k}"${space()}:${space()}${v}${space()}`).join(",");
    return `{${text}}`;
  };
  let odd = 1;
  const string = () => (chance(odd) ? pick(STRINGS) : pick(STRINGS.slice(0, 7)));
  const map = (): string => {
    if (chance(0.1 * odd)) return pick(['"x"', "null", "[]", "[1]", "5"]);
    const members: [string, string][] = [];
    for (let i = Math.floor(next() * 4); i > 0; i--) {
      members.push([
        chance(odd) ? pick(KEYS) : (["username", "color", "badge"][i - 1] as string),
        !chance(0.1 * odd) ? string() : anyValue(),
      ]);
    }
    return object(members);
  };
  const lines: string[] = [];
  for (let n = 0; n < count; n++) {
    // Half the lines take every choice from the whole lists, the others mostly from what IVS writes.
    odd = chance(0.5) ? 1 : 0;
    if (chance(0.03)) {
      lines.push(
        pick([
          "",
          "   ",
          "\u00a0",
          " \u2028",
          "\ufeff",
          "not json",
          "[]",
          "{}",
          `\uFEFF${IVS_LINE}`,
          `${IVS_LINE}x`,
          IVS_LINE.slice(0, 90),
        ]),
      );
      continue;
    }
    const sender: [string, string][] = [];
    if (chance(0.9)) sender.push(["UserId", !chance(0.15 * odd) ? string() : anyValue()]);
    if (chance(0.9)) sender.push(["Attributes", map()]);
    // A repeated key: JSON.parse keeps the last value.
    if (chance(0.05)) sender.push([pick(["UserId", "Attributes"]), string()]);
    const payload: [string, string][] = [["Type", '"MESSAGE"']];
    if (chance(0.97))
      payload.push([
        "Id",
        chance(0.9)
          ? `"id${Math.floor(next() * 50)}${pick(["", "", "", "é", "🎉", "\\n", '\\"'])}"`
          : pick(STRINGS.concat(NUMBERS)),
      ]);
    payload.push(["RequestId", pick(['""', '"r-1"', "null"])]);
    if (chance(0.95)) payload.push(["Attributes", map()]);
    if (chance(0.93)) payload.push(["Content", !chance(0.15 * odd) ? string() : anyValue()]);
    if (chance(0.97)) payload.push(["SendTime", chance(odd) ? pick(TIMES) : pick(TIMES.slice(0, 3))]);
    if (chance(0.9))
      payload.push(["Sender", chance(0.9) ? object(sender) : pick(['"s"', "null", "[]", "7"])]);
    if (chance(0.05 * odd)) payload.push(["Extra", pick(OTHERS)]);
    if (chance(0.05)) payload.push([pick(["Id", "Content", "Attributes", "Sender", "SendTime"]), string()]);
    const record: [string, string][] = [];
    if (chance(0.97)) record.push(["event_timestamp", chance(odd) ? pick(TIMES) : pick(TIMES.slice(0, 3))]);
    record.push([
      "type",
      !chance(0.1 * odd) ? '"MESSAGE"' : pick(['"EVENT"', '"message"', '"MESS\\u0041GE"', "1"]),
    ]);
    record.push(["version", '"1.0"']);
    if (chance(0.97))
      record.push(["payload", !chance(0.05 * odd) ? object(payload) : pick(['"p"', "null", "[]"])]);
    if (chance(0.04)) record.push([pick(["type", "payload", "event_timestamp"]), string()]);
    if (chance(0.03)) record.push(["payload", object([["Id", '"other"']])]);
    if (chance(0.03 * odd)) record.push(["deep", "[".repeat(40) + "]".repeat(40)]);
    lines.push(`${space()}${object(record)}${space()}${chance(0.05) ? "\r" : ""}`);
  }
  return lines;
}

/** A batch's columns as text, which compares much faster than typed arrays element by element. */
function columns(batch: PreparedBatch): Record<string, string> {
  const hex = (array: ArrayBufferView) =>
    Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString("hex");
  return {
    outcomes: hex(batch.outcomes),
    idText: batch.idText,
    idEnds: hex(batch.idEnds),
    items: hex(batch.items),
    itemEnds: hex(batch.itemEnds),
    targets: JSON.stringify(batch.targets),
  };
}

/** What prepareBatch gives for the non-blank lines, each decoded and parsed. */
function parsed(lines: string[], window: PrepareWindow, transcript: boolean): Record<string, string> {
  return columns(
    prepareBatch(
      lines.filter((line) => !isBlank(line)),
      window,
      transcript,
    ),
  );
}

const at = (text: string) => ({ ms: parseInstant(text)?.ms ?? Number.NaN, sub: "" });
const WINDOWS: PrepareWindow[] = [
  { start: null, end: null },
  { start: at("2024-01-05T14:30:00.000Z"), end: at("2024-01-05T14:30:00.004Z") },
];

describe("prepareLines", () => {
  it("prepares every line as prepareBatch does, on hostile records, with and without a transcript", () => {
    let read = 0;
    let total = 0;
    const fields = new MessageFields();
    for (let seed = 1; seed <= 200; seed++) {
      const lines = hostileLines(seed, 60);
      // Lines with bytes that are not UTF-8 keep the batch on the parsing path; the rest are fast.
      const bytes = Buffer.from(lines.join("\n"), "utf8");
      for (const line of lines) {
        const one = Buffer.from(`${line}\n`);
        if (scanMessage(one, 0, one.length - 1, fields)) {
          expect(() => JSON.parse(line), line).not.toThrow();
          if (isMessage(one, fields)) read++;
        }
        total++;
      }
      for (const window of WINDOWS) {
        for (const transcript of [true, false]) {
          const want = parsed(lines, window, transcript);
          expect(columns(prepareLines(bytes, window, transcript)), `seed ${seed}`).toEqual(want);
        }
      }
    }
    // Both paths are exercised: about a third of the lines are read from their bytes.
    expect(read / total).toBeGreaterThan(0.25);
    expect(read / total).toBeLessThan(0.8);
  });

  it("reads a batch with bytes that are not UTF-8 as decoding does, with U+FFFD in their place", () => {
    const bad = Buffer.concat([
      Buffer.from(IVS_LINE.replace('"gg"', '"g')),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`g"${IVS_LINE.slice(IVS_LINE.indexOf('"gg"') + 4)}\n${IVS_LINE}`),
    ]);
    const lines = bad.toString("utf8").split("\n");
    for (const transcript of [true, false]) {
      const batch = prepareLines(bad, WINDOWS[0] as PrepareWindow, transcript);
      expect(columns(batch)).toEqual(parsed(lines, WINDOWS[0] as PrepareWindow, transcript));
      // The first line is not UTF-8, the second is: the count is of lines, not of bad bytes.
      expect(batch.notUtf8).toBe(1);
    }
    expect(
      prepareLines(Buffer.from(`${IVS_LINE}\n${IVS_LINE}`), WINDOWS[0] as PrepareWindow, false).notUtf8,
    ).toBe(0);
  });
});

describe("isBlank", () => {
  it("says a line of whitespace is blank whatever whitespace it starts with", () => {
    for (const line of ["", " ", "\t\r", " \u00a0", "\u00a0 ", "\u2028", "\ufeff"])
      expect(isBlank(line), line).toBe(true);
    for (const line of ["{}", " x", "\u00a0x"]) expect(isBlank(line), line).toBe(false);
  });
});

describe("scanMessage", () => {
  const scan = (line: string) => {
    const bytes = Buffer.from(`${line}\n`);
    const fields = new MessageFields();
    return scanMessage(bytes, 0, bytes.length - 1, fields) && isMessage(bytes, fields);
  };

  it("reads IVS's own records from their bytes", () => {
    expect(scan(IVS_LINE)).toBe(true);
    expect(scan(IVS_LINE.replace('"gg"', '"he said \\"no\\"\\n\\ttab & <b>"'))).toBe(true);
    expect(scan(IVS_LINE.replace('"username":"kebonin"', '"username":"ké","color":"#f00"'))).toBe(true);
    expect(scan(` ${IVS_LINE.replaceAll('","', '" , "').replaceAll('":', '"\t:\r\n')} \r`)).toBe(true);
  });

  it("leaves to JSON.parse what it cannot copy as JSON.stringify would write it", () => {
    for (const line of [
      IVS_LINE.replace('"gg"', '"\\u0041"'), // stringify writes "A"
      IVS_LINE.replace('"gg"', '"\\/"'),
      IVS_LINE.replace('"gg"', "5"), // a content that is not a string
      IVS_LINE.replace('"username":"kebonin"', '"1":"a","username":"b"'), // V8 puts index keys first
      IVS_LINE.replace('"username":"kebonin"', '"a":"1","a":"2"'), // the last one wins
      IVS_LINE.replace('"username":"kebonin"', '"n":5'),
      IVS_LINE.replace('"Id":"vQu169RNVWO4"', '"Id":"x","Id":"y"'),
      IVS_LINE.replace('"version":"1.0"', '"version":01'),
      IVS_LINE.replace('"gg"', '"tab\there"'), // a raw control character is not JSON
      `${IVS_LINE},`,
      IVS_LINE.replace('"MESSAGE","version"', '"EVENT","version"'),
    ]) {
      expect(scan(line), line).toBe(false);
    }
  });
});
