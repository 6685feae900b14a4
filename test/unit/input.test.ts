import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { DocumentEvents, type RecordBatch, readAll } from "../../src/cli/input";

const FIXTURES = join(__dirname, "..", "fixtures", "chat");

/** The messages as JSON.parse of the whole document gives them. */
function parsedWhole(text: string): string[] {
  const { events } = JSON.parse(text) as { events: unknown[] };
  return events.map((event) => {
    const message = (event as { message?: unknown } | null)?.message;
    return typeof message === "string" ? message : JSON.stringify(message ?? null);
  });
}

/** The messages `DocumentEvents` reads from `text` cut into the given pieces. */
function streamed(text: string, cuts: number[]): string[] {
  const bytes = Buffer.from(text);
  const reader = new DocumentEvents("doc.json");
  const messages: string[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    messages.push(...reader.push(bytes.subarray(from, cut)));
    from = cut;
  }
  reader.end();
  return messages;
}

describe("DocumentEvents: the events of an aws logs JSON document, read as its bytes come", () => {
  const odd = JSON.stringify(
    {
      nextToken: "t,[{}]",
      searchedLogStreams: [{ logStreamName: "events", searchedCompletely: true }],
      events: [
        { message: 'say "hi", [then] {leave}\\\\', eventId: "1" },
        { message: { not: "a string" } },
        null,
        7,
        "text",
        [1, { message: "inner" }],
        { message: "naïve 🔥" },
      ],
      events2: [{ message: "not these" }],
    },
    null,
    2,
  );

  it.each([
    ["get-log-events.json", readFileSync(join(FIXTURES, "get-log-events.json"), "utf8")],
    ["filter-log-events.json", readFileSync(join(FIXTURES, "filter-log-events.json"), "utf8")],
    ["a document of odd events and members", odd],
  ])("gives %s's messages as parsing it whole does, however its bytes are cut", (_, text) => {
    const whole = parsedWhole(text);
    expect(whole.length).toBeGreaterThan(0);
    const length = Buffer.byteLength(text);
    for (let cut = 0; cut <= length; cut++) expect(streamed(text, [cut]), `cut at ${cut}`).toEqual(whole);
    expect(
      streamed(
        text,
        Array.from({ length }, (_, i) => i),
      ),
    ).toEqual(whole);
  });

  it("knows the events list by its key decoded, and refuses two of them, whose first JSON.parse would drop", () => {
    expect(streamed('{"nextToken": "x", "\\u0065vents": [{"message": "a"}]}', [])).toEqual(["a"]);
    expect(() => streamed('{"events": [{"message": "a"}], "events": []}', [])).toThrow(
      'cannot read doc.json: an aws logs JSON document has one "events" list; it has 2',
    );
  });

  it("reads the list of events alone (--query events) as the document it comes from", () => {
    const text = readFileSync(join(FIXTURES, "filter-log-events.json"), "utf8");
    const list = JSON.stringify((JSON.parse(text) as { events: unknown[] }).events, null, 4);

    expect(streamed(list, [7])).toEqual(parsedWhole(text));
    expect(streamed("[ ]", [])).toEqual([]);
    expect(() => streamed('[{"message": "a"}] []', [])).toThrow("is not valid JSON");
  });

  it("hands out each event once its bytes are in, before the document ends", () => {
    const reader = new DocumentEvents("doc.json");

    const first = reader.push(Buffer.from('{"events": [{"message": "a"}, {"message": "b"}, {"mess'));

    expect(first).toEqual(["a", "b"]);
    expect(reader.push(Buffer.from('age": "c"}]}'))).toEqual(["c"]);
    expect(() => reader.end()).not.toThrow();
  });

  it.each([
    ["cut short", '{"events": [{"message": "a"}'],
    ["followed by more", '{"events": [{"message": "a"}]} {}'],
    ["with an event that is not JSON", '{"events": [{"message": a}]}'],
    ["with a bracket that closes none", '{"events": [{"message": "a"}]]'],
    ["with brackets that do not match", '{"events": [{"message": "a"}}}'],
    ["with a comma after the last event", '{"events": [{"message": "a"},]}'],
    ["with an event missing between commas", '{"events": [{"message": "a"},,{"message": "b"}]}'],
    ["with a member that is not JSON", '{"events": [{"message": "a"}], "nextToken": bogus}'],
    ["with a comma after the last member", '{"events": [{"message": "a"}],}'],
    ["with a form feed, which JSON does not take for a space", '{"events":\f[{"message": "a"}]}'],
  ])("refuses a document %s, in one line", (_, text) => {
    expect(() => streamed(text, [])).toThrow(
      "cannot read doc.json: looks like aws logs JSON output but is not valid JSON",
    );
  });
});

describe("readAll: the form of a source told from its start", () => {
  it("tells an aws logs document from lines, and drops a byte order mark, however finely a pipe cuts them", async () => {
    const text = readFileSync(join(FIXTURES, "get-log-events.json"));
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text]);
    // The first bytes one by one, as a slow writer's pipe may hand them over.
    const pieces = [...Array.from(bytes.subarray(0, 16), (byte) => Buffer.from([byte])), bytes.subarray(16)];

    const batches: RecordBatch[] = [];
    for await (const batch of readAll([{ name: "pipe", open: () => Readable.from(pieces) }]))
      batches.push(batch);

    const records = batches.flatMap((batch) => ("records" in batch ? batch.records : []));
    expect(batches.every((batch) => "records" in batch)).toBe(true);
    expect(records).toEqual(parsedWhole(text.toString("utf8")));
  });

  it("tells the list of events alone (--query events) from lines", async () => {
    const text = readFileSync(join(FIXTURES, "get-log-events.json"), "utf8");
    const list = JSON.stringify((JSON.parse(text) as { events: unknown[] }).events, null, 2);

    const batches: RecordBatch[] = [];
    for await (const batch of readAll([{ name: "list", open: () => Readable.from([Buffer.from(list)]) }]))
      batches.push(batch);

    expect(batches.flatMap((batch) => ("records" in batch ? batch.records : ["(lines)"]))).toEqual(
      parsedWhole(text),
    );
  });
});
