import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createDocumentClient, SessionsTable } from "../../src/aws/sessionsTable";
import { provision } from "../../src/cli/provision";
import { MOTO_ENV, type Moto, motoClientConfig, startMoto } from "../support/moto";
import { drainQueue } from "../support/queue";

const run = promisify(execFile);
const root = resolve(__dirname, "..", "..");

const CHANNEL = "arn:aws:ivs:us-east-1:123456789012:channel/OpsCh1G2hij";
const OTHER_CHANNEL = "arn:aws:ivs:us-east-1:123456789012:channel/OtherG2hij";
const HOUR = 3600_000;
const iso = (ms: number) => new Date(ms).toISOString();

describe("npm run cli -- status and redrive, on moto", () => {
  let moto: Moto;
  let env: NodeJS.ProcessEnv;
  let sqs: SQSClient;
  let table: SessionsTable;
  const now = Date.now();
  // The window the recording's archive read.
  const recordedWindow = { start: iso(now - 3 * HOUR), end: iso(now - 2 * HOUR) };

  beforeAll(async () => {
    moto = await startMoto();
    const provisioned = await provision({ endpoint: moto.endpoint, region: MOTO_ENV.AWS_REGION });
    sqs = new SQSClient(motoClientConfig(moto.endpoint));
    table = new SessionsTable(
      provisioned.SESSIONS_TABLE ?? "",
      createDocumentClient(new DynamoDBClient(motoClientConfig(moto.endpoint))),
    );
    env = { ...process.env, ...MOTO_ENV, ...provisioned, AWS_ENDPOINT_URL: moto.endpoint };

    // An archived recording session, merging one stream
    const recording = { channelArn: CHANNEL, sessionId: "OpsRec1", streamIds: ["st-OpsRecorded"] };
    const window = recordedWindow;
    await table.recordStream({
      kind: "streamStart",
      channelArn: CHANNEL,
      streamId: "st-OpsRecorded",
      at: new Date(window.start),
    });
    await table.recordRecording({
      kind: "recordingStart",
      ...recording,
      at: new Date(window.start),
      bucket: "recs",
      prefix: "ivs/v1/ops",
    });
    // Recording End comes a few minutes after the stream's end: the window shown is the one archived.
    await table.recordRecording({
      kind: "recordingEnd",
      ...recording,
      at: new Date(Date.parse(window.end) + 5 * 60_000),
      durationMs: HOUR,
    });
    await table.attachStreams(CHANNEL, ["st-OpsRecorded"], "OpsRec1");
    const claim = { owner: "run-1", readUntil: iso(now), expiresAt: iso(now + HOUR), force: false };
    await table.claimArchive({ recordingSessionId: "OpsRec1" }, claim);
    const counts = { records: 10, messages: 7, events: 1, deleted: 1, duplicates: 1, skipped: 0 };
    const location = { bucket: "recs", key: "ivs/v1/ops/chat/replay.json" };
    await table.completeArchive(
      { recordingSessionId: "OpsRec1" },
      { status: "archived", at: iso(now - HOUR), location, window, counts, readUntil: iso(now) },
      "run-1",
      null,
    );
    // A stream never recorded whose archive failed, and one still live on another channel
    await table.recordStream({
      kind: "streamStart",
      channelArn: CHANNEL,
      streamId: "st-OpsFailed",
      at: new Date(now - HOUR),
    });
    await table.recordStream({
      kind: "streamEnd",
      channelArn: CHANNEL,
      streamId: "st-OpsFailed",
      at: new Date(now - HOUR / 2),
    });
    await table.failArchive(
      { channelArn: CHANNEL, streamId: "st-OpsFailed" },
      "no chat room for channel OpsCh1G2hij",
      iso(now),
    );
    await table.recordStream({
      kind: "streamStart",
      channelArn: OTHER_CHANNEL,
      streamId: "st-OpsLive",
      at: new Date(now - 60_000),
    });
    // As tracking leaves a live stream: due for the sweep 48 hours after its start
    await table.setDue(
      { channelArn: OTHER_CHANNEL, streamId: "st-OpsLive" },
      Math.floor((now + 48 * HOUR) / 1000),
    );
    await table.putLink(CHANNEL, { roomArn: "arn:aws:ivschat:us-east-1:123456789012:room/OpsRoom" });
  }, 120_000);

  afterAll(async () => {
    sqs?.destroy();
    await moto?.stop();
  });

  beforeEach(async () => {
    await drainQueue(sqs, env.ARCHIVE_QUEUE_URL ?? "");
  });

  /** Runs the command as the README does; resolves to its exit code and output. */
  /** `npm run cli -- ARGS` as a user runs it, with the stack's environment (and `changed` over it). */
  async function cliWith(changed: NodeJS.ProcessEnv, ...args: string[]) {
    try {
      const { stdout, stderr } = await run("npm", ["run", "--silent", "cli", "--", ...args], {
        cwd: root,
        env: { ...env, ...changed },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }
  const cli = (...args: string[]) => cliWith({}, ...args);

  it("shows the recent broadcasts newest first: pending, failed with the reason, archived with counts and location", async () => {
    // Act
    const shown = await cli("status");

    // Assess: streams merged into a recording are shown as the recording
    expect(shown.code).toBe(0);
    const lines = shown.stdout.trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(
      /^stream st-OpsLive {2}channel OtherG2hij .* \.\. \(live or unknown\) {2}pending \(sweep due /,
    );
    expect(lines[1]).toMatch(/^stream st-OpsFailed .* FAILED .*: no chat room for channel OpsCh1G2hij$/);
    expect(lines[2]).toContain("recording OpsRec1  channel OpsCh1G2hij");
    expect(lines[2]).toContain(`${recordedWindow.start} .. ${recordedWindow.end}  archived`);
    expect(lines[2]).toContain("archived");
    expect(lines[2]).toContain(
      "10 records: 7 messages, 1 events, 1 deleted, 1 duplicates, 0 skipped; s3://recs/ivs/v1/ops/chat/replay.json",
    );
    expect(lines[3]).toMatch(/^3 broadcasts updated since \d{4}-/);
  });

  it("filters by channel, by failure and by a day, as lines or JSON", async () => {
    // Act
    const failed = await cli("status", "--failed", "--json");
    const channel = await cli("status", "--channel-arn", OTHER_CHANNEL);
    const none = await cli(
      "status",
      "--since",
      "2000-01-01",
      "--channel-arn",
      "arn:aws:ivs:us-east-1:123456789012:channel/Nobody",
    );

    // Assess
    expect(
      failed.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line)),
    ).toEqual([
      expect.objectContaining({
        key: { channelArn: CHANNEL, streamId: "st-OpsFailed" },
        archive: expect.objectContaining({
          status: "failed",
          reason: "no chat room for channel OpsCh1G2hij",
        }),
      }),
    ]);
    expect(channel.stdout).toContain("st-OpsLive");
    expect(channel.stdout).not.toContain("OpsRec1");
    expect(none.stdout.trim()).toBe("0 broadcasts updated since 2000-01-01T00:00:00.000Z");
  });

  it("queues every failed broadcast again, or the one named, with force when asked", async () => {
    // Act
    const failed = await cli("redrive", "--failed");
    const queuedFailed = await drainQueue(sqs, env.ARCHIVE_QUEUE_URL ?? "");
    const one = await cli("redrive", "--recording-session-id", "OpsRec1", "--force");
    const queuedOne = await drainQueue(sqs, env.ARCHIVE_QUEUE_URL ?? "");

    // Assess
    expect(failed.code).toBe(0);
    expect(failed.stdout).toBe(`queued stream st-OpsFailed of ${CHANNEL}\nredrive: 1 archive(s) queued\n`);
    expect(queuedFailed).toEqual([{ channelArn: CHANNEL, streamId: "st-OpsFailed" }]);
    expect(one.stdout).toContain("queued recording OpsRec1 (force)");
    expect(queuedOne).toEqual([{ recordingSessionId: "OpsRec1", force: true }]);
  });

  it("answers a command without a broadcast, or with a bad --since, with one line and exit 2", async () => {
    // Act
    const bare = await cli("redrive");
    const since = await cli("status", "--since", "yesterday");
    const channel = await cli("status", "--channel-arn", "bogus");
    const redriveChannel = await cli("redrive", "--failed", "--channel-arn", "bogus");
    const dashed = await cli("status", "--limit", "-1");

    // Assess
    expect(bare.code).toBe(2);
    expect(bare.stderr.trim()).toBe(
      "redrive: redrive needs --failed, or --channel-arn ARN --stream-id ID, or --recording-session-id ID",
    );
    expect(since.code).toBe(2);
    expect(since.stderr.trim().split("\n")).toHaveLength(1);
    expect(since.stderr).toContain('--since "yesterday"');
    expect(channel).toMatchObject({ code: 2, stdout: "" });
    expect(channel.stderr.trim()).toBe("status: --channel-arn bogus is not an IVS channel ARN");
    expect(redriveChannel).toMatchObject({ code: 2, stdout: "" });
    expect(redriveChannel.stderr.trim()).toBe("redrive: --channel-arn bogus is not an IVS channel ARN");
    expect(dashed.code).toBe(2);
    expect(dashed.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^status: Option '--limit' argument is ambiguous\. .*'--limit=-XYZ'/),
    ]);
    expect(await drainQueue(sqs, env.ARCHIVE_QUEUE_URL ?? "")).toEqual([]);
  });

  it("links a channel to its room and the room's own chat log location in S3, refusing a bad URI with one line", async () => {
    // Act
    const link = (uri: string) =>
      cli(
        "link",
        "--channel-arn",
        OTHER_CHANNEL,
        "--room-arn",
        "arn:aws:ivschat:us-east-1:123456789012:room/HoseRoom",
        "--chat-log-s3-uri",
        uri,
      );
    const linked = await link("s3://firehose-out/chat/hose-room/");
    const bad = await link("firehose-out/chat");

    // Assess
    expect(linked.code).toBe(0);
    expect(linked.stdout).toBe(
      `linked ${OTHER_CHANNEL} -> arn:aws:ivschat:us-east-1:123456789012:room/HoseRoom, chat log in s3://firehose-out/chat/hose-room/\n`,
    );
    expect(await table.getLink(OTHER_CHANNEL)).toEqual({
      roomArn: "arn:aws:ivschat:us-east-1:123456789012:room/HoseRoom",
      chatLogS3Uri: "s3://firehose-out/chat/hose-room/",
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toEqual([
      'link: --chat-log-s3-uri "firehose-out/chat" is not s3://bucket[/prefix] with a valid bucket name',
    ]);
  });

  it("queues no redrive of a recording session the table does not know, nor of a stream without its channel", async () => {
    // Act
    const unknown = await cli("redrive", "--recording-session-id", "NeverRecorded1");
    const noChannel = await cli("redrive", "--stream-id", "st-OpsFailed");

    // Assess
    expect(unknown).toMatchObject({ code: 2, stdout: "" });
    expect(unknown.stderr.trim()).toBe(
      "redrive: recording session NeverRecorded1 is not in the sessions table: nothing to redrive",
    );
    expect(noChannel).toMatchObject({ code: 2, stdout: "" });
    expect(noChannel.stderr.trim()).toBe(
      "redrive: redrive --stream-id ID needs the stream's --channel-arn ARN",
    );
  });

  it("answers a missing table, a missing queue and missing credentials in one line naming them, exit 2", async () => {
    // Act
    const noTable = await cliWith({ SESSIONS_TABLE: "no-such-table" }, "status");
    const noQueue = await cliWith(
      { ARCHIVE_QUEUE_URL: `${moto.endpoint}/123456789012/no-such-queue` },
      "redrive",
      "--recording-session-id",
      "OpsRec1",
    );
    const noCredentials = await cliWith(
      {
        AWS_ACCESS_KEY_ID: undefined,
        AWS_SECRET_ACCESS_KEY: undefined,
        HOME: "/nonexistent",
        AWS_CONFIG_FILE: "/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
      },
      "status",
    );

    // Assess
    const lines = (result: { stderr: string }) => result.stderr.trim().split("\n");
    expect(noTable).toMatchObject({ code: 2 });
    expect(lines(noTable)).toEqual([
      "status: table no-such-table does not exist (ResourceNotFoundException)",
    ]);
    expect(noQueue).toMatchObject({ code: 2 });
    expect(lines(noQueue)).toEqual([
      `redrive: queue ${moto.endpoint}/123456789012/no-such-queue does not exist (QueueDoesNotExist)`,
    ]);
    expect(noCredentials).toMatchObject({ code: 2 });
    expect(lines(noCredentials)).toEqual([
      "status: no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_ENDPOINT_URL and any keys for a local AWS) (table " +
        `${env.SESSIONS_TABLE})`,
    ]);
  });

  it("answers no region and an endpoint that is not a URL in one line, exit 2", async () => {
    // Act
    const noRegion = await cliWith({ AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined }, "status");
    const notUrl = await cliWith({ AWS_ENDPOINT_URL: "not-a-url" }, "status");

    // Assess
    const lines = (result: { stderr: string }) => result.stderr.trim().split("\n");
    expect(noRegion).toMatchObject({ code: 2 });
    expect(lines(noRegion)).toEqual(["status: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)"]);
    expect(notUrl).toMatchObject({ code: 2 });
    expect(lines(notUrl)).toEqual(["status: an endpoint is not a URL: Invalid URL (see AWS_ENDPOINT_URL)"]);
  });

  it("archives no unknown stream into the table: one line, exit 2, no item left behind", async () => {
    // Act
    const result = await cli("archive", "--channel-arn", CHANNEL, "--stream-id", "st-NeverSeen");

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `stream st-NeverSeen of channel ${CHANNEL} is unknown: no event about it reached the sessions table and IVS has no session of it`,
    );
    expect(await table.getStream(CHANNEL, "st-NeverSeen")).toBeUndefined();
  });

  it("shows a failed attempt on an archived broadcast with the replay that still stands", async () => {
    // Prepare: a recording archived, then re-archived after its log expired (SPEC section 8)
    const kept = "arn:aws:ivs:us-east-1:123456789012:channel/KeptCh1G2hij";
    const key = { recordingSessionId: "OpsKept1" };
    const window = { start: iso(now - 5 * HOUR), end: iso(now - 4 * HOUR) };
    await table.recordRecording({
      kind: "recordingStart",
      channelArn: kept,
      sessionId: "OpsKept1",
      streamIds: ["st-OpsKept"],
      at: new Date(window.start),
      bucket: "recs",
      prefix: "ivs/v1/kept",
    });
    await table.claimArchive(key, {
      owner: "run-k",
      readUntil: iso(now),
      expiresAt: iso(now + HOUR),
      force: false,
    });
    const counts = { records: 12, messages: 9, events: 0, deleted: 2, duplicates: 1, skipped: 0 };
    const location = { bucket: "recs", key: "ivs/v1/kept/chat/replay.json" };
    await table.completeArchive(
      key,
      { status: "archived", at: iso(now - HOUR), location, window, counts, readUntil: iso(now - HOUR) },
      "run-k",
      null,
    );
    await table.failArchive(key, "chat log group /ivs/chat does not exist", iso(now));

    // Act
    const shown = await cli("status", "--channel-arn", kept);

    // Assess
    expect(shown.code).toBe(0);
    expect(shown.stdout.split("\n")[0]).toMatch(
      /^recording OpsKept1 .* FAILED .*: chat log group \/ivs\/chat does not exist; the replay archived before stands: 12 records: 9 messages, 0 events, 2 deleted, 1 duplicates, 0 skipped; s3:\/\/recs\/ivs\/v1\/kept\/chat\/replay\.json$/,
    );
  });
});
