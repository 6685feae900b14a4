import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createDocumentClient, SessionsTable } from "../src/aws/sessionsTable";
import { startMoto } from "../src/cli/moto";
import { provision } from "../src/cli/provision";
import { syntheticChatLog } from "../src/cli/synthetic";
import { CloudWatchLogsStandIn } from "../src/local/cloudWatchLogsStandIn";
import { buildReplay, parseInstant } from "../src/replay";
import { runMeasured } from "./child";

const CHANNEL_ARN = "arn:aws:ivs:us-east-1:123456789012:channel/BenchCh1G2hij";
const ROOM_ARN = "arn:aws:ivschat:us-east-1:123456789012:room/BenchRoom0001";
const STREAM_ID = "st-BenchStream0000000001";
const LOG_GROUP = "/aws/vendedlogs/ivschat/bench";
const LOG_STREAM = "aws/IVSChatLogs/1.0/room_BenchRoom0001";
const MAX_EVENTS = 10_000;
const MAX_BYTES = 1_048_576;

/** The fewest GetLogEvents pages that can carry these events: 10,000 events or 1 MB each. */
function fewestPages(sizes: readonly number[]): number {
  let pages = 0;
  let events = 0;
  let bytes = 0;
  for (const size of sizes) {
    if (events === 0 || events + 1 > MAX_EVENTS || bytes + size > MAX_BYTES) {
      pages++;
      events = 0;
      bytes = 0;
    }
    events++;
    bytes += size;
  }
  return pages;
}

/** The archive's log lines of one kind, as JSON. */
function logLines(stderr: string, message: string): Record<string, number>[] {
  return stderr
    .split("\n")
    .filter((line) => line.startsWith(`archive: ${message} `))
    .map((line) => JSON.parse(line.slice(`archive: ${message} `.length)) as Record<string, number>);
}

const max = (values: number[]) => (values.length === 0 ? 0 : Math.max(...values));

/**
 * `npm run bench -- archive`: a broadcast's chat served by the CloudWatch Logs stand-in (page
 * caps, empty pages, a read quota, latency by bytes), the rest on moto, archived by the CLI as a
 * chain of runs. Reports wall time against the quota's floor, requests, throttles, peak RSS,
 * checkpoint sizes and save/restore times, and checks the replay against a single-pass build.
 */
export async function archiveBench(args: string[], dir: string, cli: string): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      records: { type: "string", default: "1000000" },
      hours: { type: "string", default: "1" },
      "quota-tps": { type: "string", default: "10" },
      "read-tps": { type: "string" },
      "max-run-seconds": { type: "string", default: "60" },
      "no-verify": { type: "boolean" },
    },
  });
  const records = Number(values.records);
  const quotaTps = Number(values["quota-tps"]);
  const readTps = Number(values["read-tps"] ?? quotaTps);
  const start = Date.parse("2024-01-05T14:30:00.000Z");
  const end = start + Number(values.hours) * 3_600_000;

  const standIn = new CloudWatchLogsStandIn({ quotaTps });
  const sizes: number[] = [];
  const lines: string[] = [];
  const verify = values["no-verify"] !== true;
  const generating = Date.now();
  standIn.add(
    LOG_GROUP,
    LOG_STREAM,
    (function* () {
      for (const record of syntheticChatLog({
        records,
        start: new Date(start),
        durationMs: end - start,
        seed: 7,
      })) {
        if (record.timestampMs >= start && record.timestampMs < end + 3_600_000) {
          sizes.push(Buffer.byteLength(record.line) + 26);
          if (verify) lines.push(record.line);
        }
        yield record;
      }
    })(),
  );
  console.log(
    `stand-in holds ${records} records (${((Date.now() - generating) / 1000).toFixed(1)} s to generate)`,
  );
  const logsEndpoint = await standIn.start();
  const moto = await startMoto();
  try {
    const credentials = {
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "testing",
      AWS_SECRET_ACCESS_KEY: "testing",
    };
    Object.assign(process.env, credentials);
    const env = await provision({ endpoint: moto.endpoint });
    const table = new SessionsTable(
      env.SESSIONS_TABLE ?? "",
      createDocumentClient(new DynamoDBClient({ endpoint: moto.endpoint, region: "us-east-1" })),
    );
    const at = (ms: number) => new Date(ms);
    await table.recordStream({
      kind: "streamStart",
      channelArn: CHANNEL_ARN,
      streamId: STREAM_ID,
      at: at(start),
    });
    await table.recordStream({
      kind: "streamEnd",
      channelArn: CHANNEL_ARN,
      streamId: STREAM_ID,
      at: at(end),
    });
    await table.putLink(CHANNEL_ARN, { roomArn: ROOM_ARN });

    const floorPages = fewestPages(sizes);
    const floorS = floorPages / quotaTps;
    const maxRun = values["max-run-seconds"] as string;
    console.log(
      `archiving ${sizes.length} records in the read range: fewest pages ${floorPages}, floor ${floorS.toFixed(1)} s at ${quotaTps} TPS; CHAT_LOG_READ_TPS=${readTps}, --max-run-seconds ${maxRun}`,
    );
    const childEnv = {
      ...process.env,
      ...credentials,
      ...env,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logsEndpoint,
      CHAT_LOG_GROUP: LOG_GROUP,
      CHAT_LOG_READ_TPS: String(readTps),
      AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING: "1",
    };
    const result = await runMeasured(
      "archive",
      [cli, "archive", "--channel-arn", CHANNEL_ARN, "--stream-id", STREAM_ID, "--max-run-seconds", maxRun],
      { dir, env: childEnv },
    );
    const outcome = JSON.parse(result.stdout) as {
      status: string;
      runs: number;
      location: { bucket: string; key: string };
    };
    const saves = logLines(result.stderr, "checkpoint saved");
    const restores = logLines(result.stderr, "checkpoint restored");
    const { requests, throttled, pages, emptyPages } = standIn.stats;
    const readMs = logLines(result.stderr, "chat read").reduce((sum, line) => sum + (line.ms ?? 0), 0);
    const writeMs = logLines(result.stderr, "replay written").reduce((sum, line) => sum + (line.ms ?? 0), 0);
    const figures = [
      `archive ${records} records: ${outcome.status} in ${outcome.runs} run(s), wall ${result.wallS.toFixed(1)} s = ${(result.wallS / floorS).toFixed(2)}x the floor at the quota (${floorS.toFixed(1)} s), ${(result.wallS / (floorPages / Math.min(quotaTps, readTps))).toFixed(2)}x the floor at CHAT_LOG_READ_TPS (${(floorPages / Math.min(quotaTps, readTps)).toFixed(1)} s)`,
      `reading ${(readMs / 1000).toFixed(1)} s, merging and writing the replay ${(writeMs / 1000).toFixed(1)} s, the rest (start-up, lookups, checkpoints) ${(result.wallS - (readMs + writeMs) / 1000).toFixed(1)} s`,
      `requests ${requests} (${pages} pages, ${emptyPages} empty; fewest possible ${floorPages}), throttled ${throttled}`,
      `peak RSS ${result.peakRssMiB.toFixed(0)} MiB (the whole chain in one process: an upper bound for every run)`,
      `checkpoints: ${saves.length} saved, largest ${(max(saves.map((s) => s.bytes ?? 0)) / 2 ** 20).toFixed(1)} MiB, slowest save ${(max(saves.map((s) => s.ms ?? 0)) / 1000).toFixed(2)} s, slowest restore ${(max(restores.map((r) => r.ms ?? 0)) / 1000).toFixed(2)} s`,
    ];
    if (verify && outcome.status === "archived") {
      const s3 = new S3Client({ endpoint: moto.endpoint, region: "us-east-1", forcePathStyle: true });
      const object = await s3.send(
        new GetObjectCommand({ Bucket: outcome.location.bucket, Key: outcome.location.key }),
      );
      const stored = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
      const text = gunzipSync(stored).toString("utf8");
      const instant = (ms: number) => parseInstant(new Date(ms).toISOString()) ?? null;
      const expected = await (
        await buildReplay([lines], {
          window: { start: instant(start), end: instant(end) },
          offsetBase: instant(start),
          channelArn: CHANNEL_ARN,
          roomArn: ROOM_ARN,
          streamIds: [STREAM_ID],
          recording: null,
        })
      ).text();
      figures.push(
        `replay ${text === expected ? "equals" : "DIFFERS FROM"} the single-pass build (${text.length} bytes)`,
      );
      s3.destroy();
    }
    for (const line of figures) console.log(line);
    writeFileSync(join(dir, "archive-bench.txt"), `${figures.join("\n")}\n`);
    console.log(
      `\nbench archive: node ${process.version}, ${cpus().length}x ${cpus()[0]?.model.trim() ?? "cpu"}`,
    );
  } finally {
    await moto.stop();
    await standIn.stop();
  }
}
