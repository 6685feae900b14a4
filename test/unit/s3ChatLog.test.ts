import { Readable } from "node:stream";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { hourSlices } from "../../src/archive/archive";
import type { ChatLogSource, ChatPage } from "../../src/archive/ports";
import { S3ChatLog } from "../../src/aws/s3ChatLog";
import { chatMessage } from "../support/chatRecords";

// moto cannot break a body off halfway: a client mock serves the object here.
const T0 = Date.parse("2024-01-05T14:00:00.000Z");
const KEY = "room/2024/01/05/14/chat-1.log";
const SOURCE: ChatLogSource = { kind: "s3", bucket: "chat-logs", prefix: "room/" };
const LINES = Array.from({ length: 300 }, (_, i) => chatMessage(`s${i}`, T0 + i * 1000).line);

const idOf = (line: string) => (JSON.parse(line) as { payload: { Id: string } }).payload.Id;

/** The object's lines in chunks of 25; the first body asked for breaks off after 150 lines. */
function breakingObject() {
  const s3 = mockClient(S3Client);
  let gets = 0;
  s3.on(ListObjectsV2Command).callsFake((input: { Prefix?: string }) => ({
    Contents: input.Prefix === "room/2024/01/05/14/" ? [{ Key: KEY, LastModified: new Date(T0) }] : [],
  }));
  s3.on(GetObjectCommand).callsFake(() => {
    const breaks = ++gets === 1;
    const body = (async function* () {
      for (let i = 0; i < LINES.length; i += 25) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (breaks && i >= 150) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        yield Buffer.from(`${LINES.slice(i, i + 25).join("\n")}\n`);
      }
    })();
    return { Body: Readable.from(body) };
  });
  return { s3, gets: () => gets };
}

describe("S3ChatLog winding down", () => {
  it("leaves an object whose body broke off while winding down to the next read, which reads on from its last page", async () => {
    // Prepare
    const { gets } = breakingObject();
    const reader = new S3ChatLog({ client: new S3Client({ region: "us-east-1" }), pageRecords: 100 });
    const slices = hourSlices(T0, T0 + 3_600_000);

    // Act: out of time once the first page has come
    let winding = false;
    const first: ChatPage[] = [];
    for await (const page of reader.read(SOURCE, slices, { windDown: () => winding })) {
      first.push(page);
      winding = true;
    }
    const requestsWhileWinding = gets();
    const rest: ChatPage[] = [];
    for await (const page of reader.read(
      SOURCE,
      first.map((page) => page.next),
    ))
      rest.push(page);

    // Assess: the broken body was not asked for again, the slice is not done, and nothing is lost
    expect(requestsWhileWinding).toBe(1);
    expect(first.map((page) => page.next)).toEqual([
      expect.objectContaining({ token: `100:${KEY}`, read: 100, done: false }),
    ]);
    expect(rest.at(-1)?.next.done).toBe(true);
    expect([...first, ...rest].flatMap((page) => page.records.map(idOf))).toEqual(LINES.map(idOf));
  });
});
