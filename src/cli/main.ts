import { join } from "node:path";
import { parseArgs } from "node:util";
import { isMainThread } from "node:worker_threads";
import { ArchiverError, ValidationError } from "../errors";
import { replayCommand } from "./replay";

const HELP = `ivs-chat-archiver: archive Amazon IVS chat as chat/replay.json next to the recording.

Usage: npm run cli -- <command> [options]

Commands:
  replay [FILE ...] [--start ISO] [--end ISO] [--base ISO] [--timeline FILE | --playlist FILE]
         [--out FILE | --out-dir DIR]
      Build a version 1 replay offline from chat log records: files (plain or gzip, newline-
      delimited records as IVS writes to S3/Firehose, or the JSON printed by
      aws logs get-log-events / filter-log-events), read in the order given, or standard input
      (also as the file -).
      --start/--end bound the window (default unbounded); --base is the offset origin (default
      --start, else the earliest sendTime written). --timeline FILE (a JSON list of pieces
      {start, end, mediaMs}) or --playlist FILE (an HLS media playlist with program dates) give
      the recording's timeline: offsets are then in its media time, across reconnect gaps.
      Writes to --out or standard output (also as --out -); --out-dir DIR writes replay.json, index.json,
      segments/<startMs>.json (60 s each) and the replay.vtt transcript there instead. A summary
      of counts goes to standard error.
  archive (--channel-arn ARN --stream-id ID | --recording-session-id ID) [--max-run-seconds N] [--force]
      Archive one broadcast now, as the archive Lambda would, with the default AWS credential
      chain (or AWS_ENDPOINT_URL). Needs SESSIONS_TABLE and ARCHIVE_BUCKET (optionally
      CHAT_LOG_GROUP or CHAT_LOG_S3_URI, CHAT_LOG_READ_TPS); prints the result as JSON. --max-run-seconds N runs it
      as a chain of runs of at most N seconds, each continuing from the last one's checkpoint, and
      says how many runs it took. --force replaces an archived replay even if it read more.
  status [--channel-arn ARN] [--failed] [--since 14d|48h|ISO] [--limit 50] [--json]
      The broadcasts updated since --since, newest first: window and archive state (archived
      with counts and location, FAILED with the reason, pending with the sweep's next look).
      Needs SESSIONS_TABLE. Reads the whole table (a Scan): fine by hand, not in a loop.
  redrive (--failed [--since 14d] [--channel-arn ARN] | --channel-arn ARN --stream-id ID |
           --recording-session-id ID) [--force]
      Queue archives again: every failed broadcast (of the channel) updated since --since, or
      one broadcast. Needs ARCHIVE_QUEUE_URL (and SESSIONS_TABLE for --failed).
  link --channel-arn ARN --room-arn ARN [--chat-log-s3-uri s3://BUCKET/PREFIX]
      Store which IVS Chat room belongs to a channel (needs SESSIONS_TABLE), and for a room
      whose chat reaches S3 through Firehose, the folder it lands in.
  provision
      On a local AWS (AWS_ENDPOINT_URL, e.g. moto) only: create the table, queues and buckets
      serverless.yml declares, as its CloudFormation stack, and print their settings as KEY=value
      lines, ready for \`export\`.
  view [--port N]
      Serve out/ (what \`npm start\` left there) on 127.0.0.1 and print the viewer's URL.
  start
      The whole flow on a local AWS: starts moto on a free port (unless AWS_ENDPOINT_URL is set),
      provisions, plays a recorded broadcast with a synthetic chat through the real handlers,
      archives it from the queue, and copies the replay files, the recording and the viewer to
      out/ (see view).
  help, --help
      Show this text.

Every command takes --debug (or DEBUG=1 in the environment) to print stack traces with errors.

Exit codes: 0 done (archive: archived, or superseded by a run that read more); 2 bad arguments,
unreadable input or unwritable output (nothing written), an AWS environment that is not there
(no table, bucket or queue, no credentials, a refusal, no endpoint) or an archive that failed (the
reason is printed); 1 anything else (an AWS error that may pass, such as throttling: try again).`;

type Command = (args: string[]) => Promise<void>;

// The SDK warns on every run that its 2027 releases will need Node 22; the CLI runs on 20 by design.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

// The AWS SDK is loaded only by the commands that use it, so `replay` (and its worker threads) start fast.
const aws =
  (name: string): Command =>
  async (args) => {
    const { awsCommands } = require("./awsCommands") as typeof import("./awsCommands");
    await awsCommands[name]?.(args);
  };

const commands: Record<string, Command> = {
  archive: aws("archive"),
  link: aws("link"),
  status: aws("status"),
  redrive: aws("redrive"),
  provision: aws("provision"),
  async start(args) {
    // The handlers' log lines would drown the demo's progress lines (set before the logger loads).
    process.env.POWERTOOLS_LOG_LEVEL ??= "ERROR";
    process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
    await aws("start")(args);
  },
  async view(args) {
    const { values } = parseArgs({ args, options: { port: { type: "string" } } });
    const port = values.port === undefined ? 0 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ValidationError(`--port "${values.port}" is not a port number`);
    }
    const { view } = require("./view") as typeof import("./view");
    await view({ root: join(__dirname, "..", "..", "out"), port, out: process.stdout });
    // Serves until the process is stopped.
    await new Promise(() => undefined);
  },
  async replay(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        start: { type: "string" },
        end: { type: "string" },
        base: { type: "string" },
        timeline: { type: "string" },
        playlist: { type: "string" },
        out: { type: "string", short: "o" },
        "out-dir": { type: "string" },
      },
    });
    const { "out-dir": outDir, ...rest } = values;
    await replayCommand(
      { files: positionals, ...rest, outDir },
      { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
    );
  },
};

const NOT_FOUND = new Set([
  "ResourceNotFoundException",
  "NoSuchBucket",
  "NoSuchKey",
  "QueueDoesNotExist",
  "AWS.SimpleQueueService.NonExistentQueue",
]);
const DENIED = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
]);
// No such host, or nothing listening: the endpoint is wrong (or the local AWS is not running).
const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"]);

/**
 * An AWS error in one line naming what it was about, with the exit code it deserves: 2 for an
 * environment that is not there (a missing table, bucket or queue, no credentials or no right, an
 * endpoint that does not answer), 1 for one that failed for now (throttling, 5xx, a dropped
 * connection); undefined for an error that is not AWS's.
 */
export function awsProblem(error: unknown): { message: string; code: 1 | 2 } | undefined {
  if (!(error instanceof Error)) return undefined;
  const { resource, $metadata, code, address, port } = error as Error & {
    resource?: string;
    $metadata?: unknown;
    code?: string;
    address?: string;
    port?: number;
  };
  const about = resource === undefined ? "" : ` (${resource})`;
  if (error.name === "CredentialsProviderError") {
    return {
      message: `no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_ENDPOINT_URL and any keys for a local AWS)${about}`,
      code: 2,
    };
  }
  if (error.message === "Region is missing") {
    return { message: "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)", code: 2 };
  }
  if (code === "ERR_INVALID_URL") {
    return { message: `an endpoint is not a URL: ${error.message} (see AWS_ENDPOINT_URL)`, code: 2 };
  }
  if (error.name === "TimeoutError") {
    return { message: `AWS did not answer in time${about} (is AWS_ENDPOINT_URL right?)`, code: 2 };
  }
  if (code !== undefined && UNREACHABLE.has(code)) {
    const where = address === undefined ? "" : ` ${address}${port === undefined ? "" : `:${port}`}`;
    return { message: `cannot reach AWS${where}: ${code}${about} (is AWS_ENDPOINT_URL right?)`, code: 2 };
  }
  if ($metadata === undefined) return undefined;
  if (NOT_FOUND.has(error.name) && resource !== undefined) {
    return { message: `${resource} does not exist (${error.name})`, code: 2 };
  }
  return { message: `${error.name}: ${error.message}${about}`, code: DENIED.has(error.name) ? 2 : 1 };
}

/** Runs one command line; resolves to the process exit code. `--debug` (or DEBUG) adds stack traces. */
export async function main(argv: string[]): Promise<number> {
  // DEBUG=0 (or false) is off, as a user setting it means.
  const debug =
    argv.includes("--debug") || !["", "0", "false"].includes((process.env.DEBUG ?? "").toLowerCase());
  const [name, ...args] = argv.filter((arg) => arg !== "--debug");
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`unknown command "${name}"; see --help\n`);
    return 2;
  }
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const trace = (error: unknown) =>
    debug && error instanceof Error && error.stack ? `\n${error.stack}` : "";
  try {
    await command(args);
    return 0;
  } catch (error) {
    const usage = (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    if (error instanceof ArchiverError || usage) {
      // One line: node's parseArgs says some things (a value starting with a dash) in three.
      const message = (error as Error).message.replaceAll("\n", " ");
      process.stderr.write(`${name}: ${message}${trace(error)}\n`);
      return 2;
    }
    const aws = awsProblem(error);
    if (aws !== undefined) {
      process.stderr.write(`${name}: ${aws.message}${trace(error)}\n`);
      return aws.code;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `${name}: unexpected error: ${message}${debug ? trace(error) : " (run again with --debug for the stack trace)"}\n`,
    );
    return 1;
  }
}

// A worker thread loading this bundle must not run the command line again.
if (require.main === module && isMainThread) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
