import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hourSlices } from "../../src/archive/archive";
import { hourFolder, ivsS3Folder, type S3Location } from "../../src/archive/chat";
import type { ChatLogSource, ChatPage, SlicePosition } from "../../src/archive/ports";
import { S3ChatLog } from "../../src/aws/s3ChatLog";
import { ChatLogReadError, ChatNotFoundError } from "../../src/errors";
import { putIvsChatObjects } from "../../src/local/ivsChatObjects";
import { chatMessage, type LoggedRecord } from "../support/chatRecords";
import { type Moto, motoClientConfig, startMoto } from "../support/moto";

const BUCKET = "chat-logs-test";
const ROOM = "arn:aws:ivschat:us-east-1:123456789012:room/S3Rm0wgOPVl4";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
// An hour boundary, so the records fall into known hour folders.
const T0 = Date.parse("2024-01-05T14:00:00.000Z");

const idOf = (line: string) => (JSON.parse(line) as { payload: { Id: string } }).payload.Id;

/** Ids in log order: slices in time order, each slice's pages in the order read. */
function idsOf(pages: readonly ChatPage[]): string[] {
  return [...pages].sort((a, b) => a.slice - b.slice || a.seq - b.seq).flatMap((p) => p.records.map(idOf));
}

describe("S3ChatLog: a room's chat log in S3, in IVS's layout (moto)", () => {
  let moto: Moto;
  let s3: S3Client;
  let rooms = 0;

  beforeAll(async () => {
    moto = await startMoto();
    s3 = new S3Client(motoClientConfig(moto.endpoint));
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  }, 60_000);

  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
  });

  /** A room folder of its own below the bucket, so tests do not see each other's objects. */
  function newRoom(): { base: S3Location; source: ChatLogSource } {
    const base = { bucket: BUCKET, prefix: `t${++rooms}/` };
    return { base, source: { kind: "s3", ...ivsS3Folder(base, ROOM) } };
  }

  async function readAll(
    source: ChatLogSource,
    slices: SlicePosition[],
    reader = new S3ChatLog({ client: s3 }),
  ): Promise<ChatPage[]> {
    const pages: ChatPage[] = [];
    for await (const page of reader.read(source, slices)) pages.push(page);
    return pages;
  }

  async function put(key: string, body: Buffer | string): Promise<void> {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  }

  it("reads the records of the range from objects spread over hour folders, in log order, leaving out those outside it", async () => {
    // Prepare
    const { base, source } = newRoom();
    const records: LoggedRecord[] = [];
    for (let minute = -20; minute < 200; minute += 3)
      records.push(chatMessage(`m${minute + 20}`, T0 + minute * MINUTE));
    const keys = await putIvsChatObjects(s3, base, ROOM, records);
    const range = { start: T0 + 10 * MINUTE, end: T0 + 2 * HOUR + 30 * MINUTE };

    // Act
    const pages = await readAll(source, hourSlices(range.start, range.end));

    // Assess
    const expected = records.filter((r) => r.timestampMs >= range.start && r.timestampMs < range.end);
    expect(new Set(keys.map((key) => key.split("/").slice(-5, -1).join("/")))).toEqual(
      new Set(["2024/01/05/13", "2024/01/05/14", "2024/01/05/15", "2024/01/05/16", "2024/01/05/17"]),
    );
    expect(idsOf(pages)).toEqual(expected.map((r) => idOf(r.line)));
    expect(pages.every((page) => page.unreadable === undefined)).toBe(true);
    // Every slice ends on a page that says so.
    expect(new Set(pages.filter((p) => p.next.done).map((p) => p.slice))).toEqual(new Set([0, 1, 2]));
  });

  it("takes the records of the range from an object straddling its start, and a late object filed in the hour after its end", async () => {
    // Prepare
    const { base, source } = newRoom();
    const range = { start: T0 + 30 * MINUTE, end: T0 + 55 * MINUTE };
    const straddling = [chatMessage("before", range.start - 1), chatMessage("first", range.start)];
    const last = chatMessage("last", range.end - 1);
    const after = chatMessage("after", range.end);
    // Timestamps not in IVS's own form: more digits, and a space before the value.
    const precise = {
      line: chatMessage("precise", range.end - 1).line.replace(
        /"event_timestamp":"([^"]+)Z"/,
        '"event_timestamp":"$1999Z"',
      ),
    };
    const spaced = {
      line: chatMessage("spaced", range.end).line.replace('"event_timestamp":', '"event_timestamp": '),
    };
    const folder = ivsS3Folder(base, ROOM).prefix;
    await put(
      `${hourFolder(folder, range.start)}a.log.gz`,
      gzipSync(straddling.map((r) => r.line).join("\n")),
    );
    // Delivered 12 minutes late, in the next hour's folder.
    await put(
      `${hourFolder(folder, range.end + 12 * MINUTE)}b.log.gz`,
      gzipSync(`${last.line}\n${precise.line}\n${after.line}\n${spaced.line}\n`),
    );

    // Act
    const pages = await readAll(source, hourSlices(range.start, range.end));

    // Assess
    expect(idsOf(pages)).toEqual(["first", "last", "precise"]);
  });

  it("returns a record found in two objects twice, in key order, for the engine to drop the second", async () => {
    // Prepare
    const { base, source } = newRoom();
    const folder = hourFolder(ivsS3Folder(base, ROOM).prefix, T0);
    const hello = chatMessage("hello", T0 + MINUTE);
    await put(`${folder}1.log.gz`, gzipSync(`${hello.line}\n`));
    await put(`${folder}2.log.gz`, gzipSync(`${hello.line}\n${chatMessage("bye", T0 + 2 * MINUTE).line}\n`));

    // Act
    const pages = await readAll(source, hourSlices(T0, T0 + 10 * MINUTE));

    // Assess
    expect(idsOf(pages)).toEqual(["hello", "hello", "bye"]);
  });

  it("skips a corrupt object and a cut-short one with their reasons, keeping every other record and those read before the damage", async () => {
    // Prepare
    const { base, source } = newRoom();
    const folder = hourFolder(ivsS3Folder(base, ROOM).prefix, T0);
    const many = Array.from({ length: 2000 }, (_, i) => chatMessage(`cut${i}`, T0 + 5 * MINUTE + i));
    const whole = gzipSync(`${many.map((r) => r.line).join("\n")}\n`);
    await put(`${folder}1-good.log.gz`, gzipSync(`${chatMessage("good1", T0 + MINUTE).line}\n`));
    await put(`${folder}2-corrupt.log.gz`, Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(300, 7)]));
    await put(`${folder}3-truncated.log.gz`, whole.subarray(0, Math.floor(whole.length * 0.6)));
    await put(`${folder}4-good.log.gz`, gzipSync(`${chatMessage("good2", T0 + 9 * MINUTE).line}\n`));

    // Act
    const pages = await readAll(source, hourSlices(T0, T0 + 10 * MINUTE));

    // Assess
    const ids = idsOf(pages);
    expect(ids[0]).toBe("good1");
    expect(ids[ids.length - 1]).toBe("good2");
    const cut = ids.filter((id) => id.startsWith("cut"));
    expect(cut.length).toBeGreaterThan(100);
    expect(cut.length).toBeLessThan(many.length);
    expect(cut).toEqual(many.slice(0, cut.length).map((r) => idOf(r.line)));
    const unreadable = pages.flatMap((p) => (p.unreadable === undefined ? [] : [p.unreadable]));
    expect(unreadable).toHaveLength(2);
    expect(unreadable[0]).toMatch(new RegExp(`^s3://${BUCKET}/${folder}2-corrupt\\.log\\.gz: .+`));
    expect(unreadable[1]).toMatch(
      new RegExp(`^s3://${BUCKET}/${folder}3-truncated\\.log\\.gz: unexpected end of file`),
    );
  });

  it("keeps the records of a gzip object followed by stray bytes, and names the damage", async () => {
    // Prepare
    const { base, source } = newRoom();
    const folder = hourFolder(ivsS3Folder(base, ROOM).prefix, T0);
    const lines = [chatMessage("padded1", T0 + MINUTE), chatMessage("padded2", T0 + 2 * MINUTE)];
    const gz = gzipSync(`${lines.map((r) => r.line).join("\n")}\n`);
    await put(`${folder}1-zeros.log.gz`, Buffer.concat([gz, Buffer.alloc(64)]));
    await put(`${folder}2-after.log.gz`, gzipSync(`${chatMessage("after", T0 + 3 * MINUTE).line}\n`));

    // Act
    const pages = await readAll(source, hourSlices(T0, T0 + 10 * MINUTE));

    // Assess
    expect(idsOf(pages)).toEqual(["padded1", "padded2", "after"]);
    const unreadable = pages.flatMap((p) => (p.unreadable === undefined ? [] : [p.unreadable]));
    expect(unreadable.length).toBeLessThanOrEqual(1);
  });

  it("reads objects that are not gzip as plain lines", async () => {
    // Prepare
    const { base, source } = newRoom();
    const folder = hourFolder(ivsS3Folder(base, ROOM).prefix, T0);
    await put(`${folder}firehose-1`, `${chatMessage("plain", T0 + MINUTE).line}\n`);

    // Act
    const pages = await readAll(source, hourSlices(T0, T0 + 10 * MINUTE));

    // Assess
    expect(idsOf(pages)).toEqual(["plain"]);
  });

  it("places a record in the range by its own event_timestamp, not by a payload attribute of that name, whatever its fields' order", async () => {
    // Prepare: records written by a tool that puts event_timestamp last
    const { base, source } = newRoom();
    const folder = hourFolder(ivsS3Folder(base, ROOM).prefix, T0);
    const reordered = (id: string, at: number, attribute: number) => {
      const { event_timestamp, ...rest } = JSON.parse(chatMessage(id, at).line);
      rest.payload.Attributes = { event_timestamp: new Date(attribute).toISOString() };
      return JSON.stringify({ ...rest, event_timestamp });
    };
    // Cut-off records (not JSON), spaced: placed by the event_timestamp that starts them
    const cut = (at: number) => `{ "event_timestamp" : "${new Date(at).toISOString()}", "type": "MESS`;
    const lines = [
      reordered("inside", T0 + MINUTE, T0 - 5 * HOUR),
      reordered("outside", T0 + 5 * HOUR, T0 + MINUTE),
      cut(T0 + 5 * HOUR),
      chatMessage("plain", T0 + 2 * MINUTE).line,
      cut(T0 + 3 * MINUTE),
    ];
    await put(`${folder}reordered-1`, `${lines.join("\n")}\n`);

    // Act
    const pages = await readAll(source, hourSlices(T0, T0 + 10 * MINUTE));

    // Assess: the cut record of the range is kept, for the engine to count as skipped
    const records = pages.flatMap((page) => page.records);
    expect(records).toEqual([lines[0], lines[3], lines[4]]);
  });

  it("puts together a line that comes in many chunks of the body", async () => {
    // Prepare: a 3 MB record, which the body brings in many chunks, between two others
    const { base, source } = newRoom();
    const folder = hourFolder(ivsS3Folder(base, ROOM).prefix, T0);
    const long = chatMessage("long", T0 + 2 * MINUTE, "x".repeat(3_000_000)).line;
    const lines = [chatMessage("before", T0 + MINUTE).line, long, chatMessage("after", T0 + 3 * MINUTE).line];
    await put(`${folder}long-1`, `${lines.join("\n")}\n`);

    // Act
    const pages = await readAll(source, hourSlices(T0, T0 + 10 * MINUTE));

    // Assess
    expect(pages.flatMap((page) => page.records)).toEqual(lines);
  });

  it("reads an object that starts with a byte order mark and ends its lines with CRLF as the offline command does", async () => {
    // Prepare
    const { base, source } = newRoom();
    const folder = hourFolder(ivsS3Folder(base, ROOM).prefix, T0);
    const lines = [chatMessage("first", T0 + MINUTE).line, chatMessage("second", T0 + 2 * MINUTE).line];
    await put(`${folder}bom-1`, `\uFEFF${lines.join("\r\n")}\r\n`);

    // Act
    const pages = await readAll(source, hourSlices(T0, T0 + 10 * MINUTE));

    // Assess
    expect(idsOf(pages)).toEqual(["first", "second"]);
  });

  it("reads a room nobody chatted in (no objects at all) as an empty log", async () => {
    // Prepare
    const { source } = newRoom();

    // Act
    const pages = await readAll(source, hourSlices(T0, T0 + 3 * HOUR));

    // Assess
    expect(pages.map((p) => p.records.length)).toEqual([0, 0, 0]);
    expect(pages.every((p) => p.next.done)).toBe(true);
  });

  it("resumes from any page's position, mid-object, with the same records as one uninterrupted read", async () => {
    // Prepare
    const { base, source } = newRoom();
    const records = Array.from({ length: 950 }, (_, i) => chatMessage(`r${i}`, T0 + i * 4000));
    await putIvsChatObjects(s3, base, ROOM, records, { objectMs: 10 * MINUTE });
    const reader = new S3ChatLog({ client: s3, pageRecords: 100 });
    const range = hourSlices(T0, T0 + 2 * HOUR);
    const whole = idsOf(await readAll(source, range, reader));

    // Act: stop after the 4th page, then go on from where each slice stood.
    const first: ChatPage[] = [];
    for await (const page of reader.read(source, range)) {
      first.push(page);
      if (first.length === 4) break;
    }
    const positions = range.map((slice, i) => [...first].reverse().find((p) => p.slice === i)?.next ?? slice);
    const rest = await readAll(source, positions, reader);

    // Assess
    expect(first.some((p) => p.next.token?.startsWith("*:") === false)).toBe(true);
    expect(whole).toHaveLength(950);
    expect(idsOf([...first, ...rest])).toEqual(whole);
  });

  it("winds down after the page being read, mid-object, and a read from there finds the rest", async () => {
    // Prepare
    const { base, source } = newRoom();
    const records = Array.from({ length: 950 }, (_, i) => chatMessage(`w${i}`, T0 + i * 4000));
    await putIvsChatObjects(s3, base, ROOM, records, { objectMs: 10 * MINUTE });
    const reader = new S3ChatLog({ client: s3, pageRecords: 100 });
    const range = hourSlices(T0, T0 + 2 * HOUR);

    // Act: out of time once a page has come; the iteration ends by itself
    const first: ChatPage[] = [];
    for await (const page of reader.read(source, range, { windDown: () => first.length > 0 }))
      first.push(page);
    const positions = range.map((slice, i) => [...first].reverse().find((p) => p.slice === i)?.next ?? slice);
    const rest = await readAll(source, positions, reader);

    // Assess: the read stopped early, mid-object, and nothing is lost or read twice
    expect(idsOf(first).length).toBeLessThan(records.length / 2);
    expect(first.some((p) => !p.next.done && p.next.token?.startsWith("*:") === false)).toBe(true);
    expect(idsOf([...first, ...rest])).toEqual(records.map((r) => idOf(r.line)));
  });

  it("fails for good, naming the location, when the bucket does not exist", async () => {
    // Act
    const attempt = readAll(
      { kind: "s3", bucket: "no-such-chat-bucket", prefix: "x/" },
      hourSlices(T0, T0 + MINUTE),
    );

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ChatNotFoundError);
    await expect(attempt).rejects.toThrow(
      "the chat log bucket no-such-chat-bucket (s3://no-such-chat-bucket/x/) does not exist",
    );
  });
});

describe("S3ChatLog where S3 denies access (a stand-in: moto does not enforce IAM)", () => {
  let server: Server;
  let client: S3Client;

  beforeAll(async () => {
    server = createServer((_, res) => {
      res.writeHead(403, { "content-type": "application/xml" });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>1</RequestId></Error>',
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    client = new S3Client(motoClientConfig(`http://127.0.0.1:${port}`));
  });

  afterAll(async () => {
    client?.destroy();
    await new Promise((resolve) => server?.close(resolve));
  });

  it("fails for good with the reason and the location", async () => {
    // Act
    const reader = new S3ChatLog({ client });
    const pages = reader.read(
      { kind: "s3", bucket: "denied-bucket", prefix: "room/" },
      hourSlices(T0, T0 + MINUTE),
    );
    const attempt = (async () => {
      for await (const _ of pages) {
        // reading
      }
    })();

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(ChatLogReadError);
    await expect(attempt).rejects.toMatchObject({ permanent: true });
    await expect(attempt).rejects.toThrow(
      /^not allowed to read the chat log at s3:\/\/denied-bucket\/room\/ /,
    );
  });
});
