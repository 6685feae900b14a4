import { describe, expect, it } from "vitest";
import { loadConfig, settleSeconds } from "../../src/config";
import { ConfigError } from "../../src/errors";
import type { ArchiveState } from "../../src/sessions/model";
import { dueAfterArchive } from "../../src/sessions/sweep";

const END = Date.parse("2024-01-05T15:30:00.000Z");
const MINUTE = 60_000;
const seconds = (ms: number) => Math.floor(ms / 1000);

function archived(readUntil: number, chatLog: string): ArchiveState {
  return {
    status: "archived",
    at: new Date(readUntil).toISOString(),
    window: { start: new Date(END - 60 * MINUTE).toISOString(), end: new Date(END).toISOString() },
    readUntil: new Date(readUntil).toISOString(),
    chatLog,
  };
}

describe("dueAfterArchive", () => {
  const logs = "logs:/aws/vendedlogs/ivschat/x:aws/IVSChatLogs/1.0/room_abc";
  const s3 = "s3://chat-logs/AWSLogs/123456789012/IVSChatLogs/1.0/us-east-1/room_abc/";

  it("makes the final pass an hour and the settle delay after the end", () => {
    expect(dueAfterArchive(archived(END + MINUTE, logs), 60)).toBe(seconds(END + 60 * MINUTE) + 60);
  });

  it("reads a log in S3 again once its delivery delay has passed, when the first read came sooner", () => {
    expect(dueAfterArchive(archived(END + MINUTE, s3), 60)).toBe(seconds(END + 6 * MINUTE));
    expect(dueAfterArchive(archived(END + 6 * MINUTE, s3), 60)).toBe(seconds(END + 60 * MINUTE) + 60);
  });

  it("looks no more once a read went an hour past the end", () => {
    expect(dueAfterArchive(archived(END + 60 * MINUTE, s3), 60)).toBeNull();
  });
});

describe("configuration of the log source", () => {
  it("settles 60 s for CloudWatch Logs and 360 s for S3 by default, and as told otherwise", () => {
    const config = (env: NodeJS.ProcessEnv) => loadConfig(["SETTLE_SECONDS", "CHAT_LOG_S3_URI"], env);

    expect(settleSeconds(config({}))).toBe(60);
    expect(settleSeconds(config({ SETTLE_SECONDS: "" }))).toBe(60);
    expect(settleSeconds(config({ CHAT_LOG_S3_URI: "s3://chat-logs" }))).toBe(360);
    expect(settleSeconds(config({ CHAT_LOG_S3_URI: "s3://chat-logs", SETTLE_SECONDS: "30" }))).toBe(30);
  });

  it("reads CHAT_LOG_S3_URI as a bucket and a folder, empty as unset", () => {
    expect(loadConfig(["CHAT_LOG_S3_URI"], { CHAT_LOG_S3_URI: "s3://chat-logs/copy" })).toEqual({
      CHAT_LOG_S3_URI: { bucket: "chat-logs", prefix: "copy/" },
    });
    expect(loadConfig(["CHAT_LOG_S3_URI"], { CHAT_LOG_S3_URI: " " }).CHAT_LOG_S3_URI).toBeUndefined();
  });

  it("names the variable and the value when CHAT_LOG_S3_URI is not an S3 URI", () => {
    const attempt = () => loadConfig(["CHAT_LOG_S3_URI"], { CHAT_LOG_S3_URI: "chat-logs/copy" });

    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(
      'environment variable CHAT_LOG_S3_URI is invalid (the URI "chat-logs/copy" is not s3://bucket[/prefix] with a valid bucket name)',
    );
  });
});
