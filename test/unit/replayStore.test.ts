import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { ReplayStore } from "../../src/aws/replayStore";
import { buildReplay } from "../../src/replay";

const LINE = JSON.stringify({
  event_timestamp: "2024-01-05T14:00:01.000Z",
  type: "MESSAGE",
  payload: { Id: "m1", Content: "hi", SendTime: "2024-01-05T14:00:01.000Z", Sender: { UserId: "ann" } },
});

describe("ReplayStore.write when an upload fails", () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());

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
