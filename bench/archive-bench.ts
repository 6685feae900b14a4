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
import { putIvsChatObjects } from "../src/local/ivsChatObjects";
import { buildReplay, parseInstant } from "../src/replay";
import { runMeasured } from "./child";

const CHANNEL_ARN = "arn:aws:ivs:us-east-1:123456789012:channel/BenchCh1G2hij";
const ROOM_ARN = "arn:aws:ivschat:us-east-1:123456789012:room/BenchRoom0001";
const STREAM_ID = "st-BenchStream0000000001";
const LOG_GROUP = "/aws/vendedlogs/ivschat/bench";
const LOG_STREAM = "aws/IVSChatLogs/1.0/room_BenchRoom0001";
const CHAT_BUCKET = "bench-chat-logs";
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

interface Setup {
  records: number;
  start: number;
  end: number;
  burst: number;
  mibLatencyMs: number;
  quotaTps: number;
  readTps: number;
  maxRun: string;
  verify: boolean;
  dir: string;
  cli: string;
}

/** The synthetic broadcast's records in the read range (window start to an hour past its end), in log order. */
function* chatOf(setup: Setup): Generator<{ timestampMs: number; line: string }> {
  for (const record of syntheticChatLog({
    records: setup.records,
    start: new Date(setup.start),
    durationMs: setup.end - setup.start,
    seed: 7,
    burst: setup.burst,
  })) {
    yield record;
  }
}

/** One archive of the bench broadcast by the CLI, as a chain of runs; what it did, from its output. */
interface ArchiveRun {
  status: string;
  runs: number;
  location: { bucket: string; key: string };
  wallS: number;
  peakRssMiB: number;
  readMs: number;
  writeMs: number;
  stderr: string;
  /** Records read from the log, as the replay counts them. */
  recordsRead: number;
}

async function archiveWith(setup: Setup, name: string, env: NodeJS.ProcessEnv): Promise<ArchiveRun> {
  const result = await runMeasured(
    name,
    [
      setup.cli,
      "archive",
      "--channel-arn",
      CHANNEL_ARN,
      "--stream-id",
      STREAM_ID,
      "--max-run-seconds",
      setup.maxRun,
    ],
    { dir: setup.dir, env },
  );
  const outcome = JSON.parse(result.stdout) as {
    status: string;
    runs: number;
    location: { bucket: string; key: string };
    counts?: { records: number };
  };
  return {
    ...outcome,
    wallS: result.wallS,
    peakRssMiB: result.peakRssMiB,
    readMs: logLines(result.stderr, "chat read").reduce((sum, line) => sum + (line.ms ?? 0), 0),
    writeMs: logLines(result.stderr, "replay written").reduce((sum, line) => sum + (line.ms ?? 0), 0),
    stderr: result.stderr,
    recordsRead: outcome.counts?.records ?? 0,
  };
}

function checkpointFigures(stderr: string): string {
  const saves = logLines(stderr, "checkpoint saved");
  const restores = logLines(stderr, "checkpoint restored");
  return `checkpoints: ${saves.length} saved, largest ${(max(saves.map((s) => s.bytes ?? 0)) / 2 ** 20).toFixed(1)} MiB, slowest save ${(max(saves.map((s) => s.ms ?? 0)) / 1000).toFixed(2)} s, slowest restore ${(max(restores.map((r) => r.ms ?? 0)) / 1000).toFixed(2)} s`;
}

/**
 * `npm run bench -- archive`: a broadcast's chat served by the CloudWatch Logs stand-in (page
 * caps, empty pages, a read quota, latency by bytes), the rest on moto, archived by the CLI as a
 * chain of runs. Reports wall time against the quota's floor, requests, throttles, peak RSS,
 * checkpoint sizes and save/restore times, and checks the replay against a single-pass build.
 * With `--source s3` the same chat lies in moto's S3 in IVS's layout (CHAT_LOG_S3_URI) and is
 * archived from there first, then from CloudWatch Logs, for records per second side by side.
 */
export async function archiveBench(args: string[], dir: string, cli: string): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      records: { type: "string", default: "1000000" },
      hours: { type: "string", default: "1" },
      burst: { type: "string", default: "0" },
      "mib-latency-ms": { type: "string", default: "150" },
      "quota-tps": { type: "string", default: "10" },
      "read-tps": { type: "string" },
      "max-run-seconds": { type: "string", default: "60" },
      source: { type: "string", default: "cloudwatch" },
      "no-verify": { type: "boolean" },
      "no-compare": { type: "boolean" },
    },
  });
  if (values.source !== "cloudwatch" && values.source !== "s3") {
    throw new Error(`--source is cloudwatch or s3, not "${values.source}"`);
  }
  const start = Date.parse("2024-01-05T14:30:00.000Z");
  const quotaTps = Number(values["quota-tps"]);
  const setup: Setup = {
    records: Number(values.records),
    start,
    end: start + Number(values.hours) * 3_600_000,
    burst: Number(values.burst),
    mibLatencyMs: Number(values["mib-latency-ms"]),
    quotaTps,
    readTps: Number(values["read-tps"] ?? quotaTps),
    maxRun: values["max-run-seconds"] as string,
    verify: values["no-verify"] !== true,
    dir,
    cli,
  };
  const inRange = (ms: number) => ms >= setup.start && ms < setup.end + 3_600_000;
  const sizes: number[] = [];
  const lines: string[] = [];
  for (const record of chatOf(setup)) {
    if (!inRange(record.timestampMs)) continue;
    sizes.push(Buffer.byteLength(record.line) + 26);
    if (setup.verify) lines.push(record.line);
  }
  const moto = await startMoto();
  const credentials = {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
  };
  Object.assign(process.env, credentials);
  const s3 = new S3Client({ endpoint: moto.endpoint, region: "us-east-1", forcePathStyle: true });
  const figures: string[] = [];
  try {
    const env = await provision({ endpoint: moto.endpoint });
    const table = new SessionsTable(
      env.SESSIONS_TABLE ?? "",
      createDocumentClient(new DynamoDBClient({ endpoint: moto.endpoint, region: "us-east-1" })),
    );
    await table.recordStream({
      kind: "streamStart",
      channelArn: CHANNEL_ARN,
      streamId: STREAM_ID,
      at: new Date(start),
    });
    await table.recordStream({
      kind: "streamEnd",
      channelArn: CHANNEL_ARN,
      streamId: STREAM_ID,
      at: new Date(setup.end),
    });
    await table.putLink(CHANNEL_ARN, { roomArn: ROOM_ARN });
    const childEnv = {
      ...process.env,
      ...credentials,
      ...env,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    };
    const verifyReplay = async (location: { bucket: string; key: string }) => {
      if (!setup.verify) return "";
      const object = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
      const text = gunzipSync(Buffer.from((await object.Body?.transformToByteArray()) ?? [])).toString(
        "utf8",
      );
      const instant = (ms: number) => parseInstant(new Date(ms).toISOString()) ?? null;
      const expected = await (
        await buildReplay([lines], {
          window: { start: instant(start), end: instant(setup.end) },
          offsetBase: instant(start),
          channelArn: CHANNEL_ARN,
          roomArn: ROOM_ARN,
          streamIds: [STREAM_ID],
          recording: null,
        })
      ).text();
      return `replay ${text === expected ? "equals" : "DIFFERS FROM"} the single-pass build (${text.length} bytes)`;
    };

    let fromS3: ArchiveRun | undefined;
    if (values.source === "s3") {
      const writing = Date.now();
      const keys = await putIvsChatObjects(s3, { bucket: CHAT_BUCKET, prefix: "" }, ROOM_ARN, chatOf(setup), {
        create: true,
      });
      console.log(
        `S3 holds ${setup.records} records in ${keys.length} objects (${((Date.now() - writing) / 1000).toFixed(1)} s to write); archiving ${sizes.length} records in the read range from s3://${CHAT_BUCKET}, --max-run-seconds ${setup.maxRun}`,
      );
      fromS3 = await archiveWith(setup, "archive-s3", {
        ...childEnv,
        CHAT_LOG_S3_URI: `s3://${CHAT_BUCKET}`,
      });
      const rate = sizes.length / (fromS3.readMs / 1000);
      figures.push(
        `archive ${setup.records} records from S3: ${fromS3.status} in ${fromS3.runs} run(s), wall ${fromS3.wallS.toFixed(1)} s, ${Math.round(sizes.length / fromS3.wallS).toLocaleString("en")} records/s overall`,
        `reading ${(fromS3.readMs / 1000).toFixed(1)} s (${Math.round(rate).toLocaleString("en")} records/s), merging and writing the replay ${(fromS3.writeMs / 1000).toFixed(1)} s, the rest ${(fromS3.wallS - (fromS3.readMs + fromS3.writeMs) / 1000).toFixed(1)} s`,
        `peak RSS ${fromS3.peakRssMiB.toFixed(0)} MiB (the whole chain in one process: an upper bound for every run)`,
        checkpointFigures(fromS3.stderr),
      );
      if (fromS3.status === "archived") figures.push(await verifyReplay(fromS3.location));
      for (const line of figures) console.log(line);
    }

    if (fromS3 !== undefined && values["no-compare"] === true) return;
    const standIn = new CloudWatchLogsStandIn({ quotaTps, latencyPerMiBMs: setup.mibLatencyMs });
    standIn.add(LOG_GROUP, LOG_STREAM, chatOf(setup));
    const logsEndpoint = await standIn.start();
    try {
      const floorPages = fewestPages(sizes);
      const floorS = floorPages / quotaTps;
      console.log(
        `archiving ${sizes.length} records in the read range from CloudWatch Logs (20 ms + ${setup.mibLatencyMs} ms per MiB a page): fewest pages ${floorPages}, floor ${floorS.toFixed(1)} s at ${quotaTps} TPS; CHAT_LOG_READ_TPS=${setup.readTps}, --max-run-seconds ${setup.maxRun}`,
      );
      const run = await archiveWith(setup, "archive", {
        ...childEnv,
        AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logsEndpoint,
        CHAT_LOG_GROUP: LOG_GROUP,
        CHAT_LOG_READ_TPS: String(setup.readTps),
      });
      const { requests, throttled, pages, emptyPages } = standIn.stats;
      const cloudwatch = [
        `archive ${setup.records} records: ${run.status} in ${run.runs} run(s), wall ${run.wallS.toFixed(1)} s = ${(run.wallS / floorS).toFixed(2)}x the floor at the quota (${floorS.toFixed(1)} s), ${(run.wallS / (floorPages / Math.min(quotaTps, setup.readTps))).toFixed(2)}x the floor at CHAT_LOG_READ_TPS (${(floorPages / Math.min(quotaTps, setup.readTps)).toFixed(1)} s)`,
        `reading ${(run.readMs / 1000).toFixed(1)} s (${Math.round(sizes.length / (run.readMs / 1000)).toLocaleString("en")} records/s), merging and writing the replay ${(run.writeMs / 1000).toFixed(1)} s, the rest (start-up, lookups, checkpoints) ${(run.wallS - (run.readMs + run.writeMs) / 1000).toFixed(1)} s`,
        `requests ${requests} (${pages} pages, ${emptyPages} empty; fewest possible ${floorPages}), throttled ${throttled}`,
        `peak RSS ${run.peakRssMiB.toFixed(0)} MiB (the whole chain in one process: an upper bound for every run)`,
        checkpointFigures(run.stderr),
      ];
      if (run.status === "archived") cloudwatch.push(await verifyReplay(run.location));
      if (fromS3 !== undefined) {
        cloudwatch.push(
          `S3 against CloudWatch Logs on the same records: reading ${(run.readMs / fromS3.readMs).toFixed(1)}x as many records/s, overall ${(run.wallS / fromS3.wallS).toFixed(1)}x`,
        );
      }
      for (const line of cloudwatch) console.log(line);
      figures.push(...cloudwatch);
    } finally {
      await standIn.stop();
    }
    writeFileSync(
      join(dir, `archive-bench${values.source === "s3" ? "-s3" : ""}.txt`),
      `${figures.join("\n")}\n`,
    );
    console.log(
      `\nbench archive: node ${process.version}, ${cpus().length}x ${cpus()[0]?.model.trim() ?? "cpu"}`,
    );
  } finally {
    s3.destroy();
    await moto.stop();
  }
}
