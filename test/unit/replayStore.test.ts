import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { ReplayStore } from "../../src/aws/replayStore";
import { buildReplay } from "../../src/replay";
import { incompressibleMessages } from "../support/chatRecords";

const LINE = JSON.stringify({
  event_timestamp: "2024-01-05T14:00:01.000Z",
  type: "MESSAGE",
  payload: { Id: "m1", Content: "hi", SendTime: "2024-01-05T14:00:01.000Z", Sender: { UserId: "ann" } },
});

// One mock of S3Client for the file: each mockClient() call replaces the one before.
const s3 = mockClient(S3Client);
afterEach(() => s3.reset());

describe("ReplayStore.write when an upload fails", () => {
  it("does not put the transcript or the index once replay.json has failed", async () => {
    // Prepare: S3 refuses replay.json
    s3.on(PutObjectCommand).callsFake(async (input: { Key: string }) => {
      if (input.Key.endsWith("replay.json")) throw Object.assign(new Error("SlowDown"), { name: "SlowDown" });
      return {};
    });
    const store = new ReplayStore(new S3Client({ region: "us-east-1" }));
    const replay = await buildReplay([LINE], { window: { start: null, end: null }, offsetBase: null });

    // Act
    const write = store.write({ bucket: "recordings", key: "p/chat/replay.json" }, replay);

    // Assess
    await expect(write).rejects.toThrow("SlowDown");
    const keys = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input.Key);
    expect(keys).toContain("p/chat/replay.json");
    expect(keys.filter((key) => key?.endsWith("replay.vtt") || key?.endsWith("index.json"))).toEqual([]);
  });
});

describe("ReplayStore.write while a part of replay.json is uploaded", () => {
  it("goes on with the pass (the next segments) instead of waiting for the part", async () => {
    // Prepare: an hour of messages that hardly compress (replay.json over three 5 MiB parts, gzipped:
    // more than the pass can hold ahead of the first part, so the pass cannot be over when that part
    // starts), and an S3 whose first part of replay.json lands only once a segment was put after it started
    const lines = incompressibleMessages(18_000, "2024-01-05T14:00:00Z", "m");
    const segments: string[] = [];
    let segmentsAfterPart: number | undefined;
    s3.on(PutObjectCommand).callsFake(async (input: { Key: string }) => {
      segments.push(input.Key);
      return {};
    });
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: "u1" });
    s3.on(UploadPartCommand).callsFake(async (input: { Key: string; PartNumber: number }) => {
      if (input.Key.endsWith("replay.json") && input.PartNumber === 1) {
        const before = segments.length;
        for (let i = 0; i < 500 && segments.length === before; i++)
          await new Promise((r) => setTimeout(r, 10));
        segmentsAfterPart = segments.length - before;
      }
      return { ETag: `"e${input.PartNumber}"` };
    });
    s3.on(CompleteMultipartUploadCommand).resolves({});
    const store = new ReplayStore(new S3Client({ region: "us-east-1" }), { partBytes: 5 * 2 ** 20 });
    const replay = await buildReplay(lines, { window: { start: null, end: null }, offsetBase: null });

    // Act
    await store.write({ bucket: "recordings", key: "p/chat/replay.json" }, replay);

    // Assess
    expect(segmentsAfterPart).toBeGreaterThan(0);
    expect(s3.commandCalls(UploadPartCommand).length).toBeGreaterThan(1);
  }, 30_000);
});
