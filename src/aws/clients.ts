import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IvsClient } from "@aws-sdk/client-ivs";
import { IvschatClient } from "@aws-sdk/client-ivschat";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { createCloudWatchLogsClient } from "./chatLog";
import { createDocumentClient } from "./sessionsTable";

/** The SDK clients of the service, made once per cold start (or CLI run); AWS_ENDPOINT_URL points them at a local AWS. */
export interface AwsClients {
  documents: ReturnType<typeof createDocumentClient>;
  sqs: SQSClient;
  s3: S3Client;
  logs: CloudWatchLogsClient;
  ivs: IvsClient;
  ivschat: IvschatClient;
}

/**
 * Region, credentials and endpoint for one service from an environment, as the SDK would read them
 * from process.env (`AWS_ENDPOINT_URL_<SERVICE>` before `AWS_ENDPOINT_URL`), so clients can be
 * built for an environment other than the process's.
 */
export function clientConfig(env: NodeJS.ProcessEnv, service: string) {
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] || env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: sessionToken,
  } = env;
  const credentials =
    accessKeyId && secretAccessKey
      ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
      : undefined;
  return {
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    ...(credentials ? { credentials } : {}),
  };
}

/** True when S3 says the object asked for is not there (GetObject: NoSuchKey; HeadObject: NotFound). */
export function isMissingObject(error: unknown): boolean {
  const name = (error as Error).name;
  return name === "NoSuchKey" || name === "NotFound";
}

/** What a request was about, from its input, for people: `table T`, `bucket B`, ... */
function resourceOf(input: Record<string, unknown>): string | undefined {
  const { TableName, Bucket, Key, Prefix, QueueUrl, QueueName, logGroupName, identifier, arn, resourceArn } =
    input;
  if (typeof TableName === "string") return `table ${TableName}`;
  if (typeof Bucket === "string") {
    const path = typeof Key === "string" ? Key : typeof Prefix === "string" ? Prefix : "";
    return `bucket ${Bucket}${path ? ` (s3://${Bucket}/${path})` : ""}`;
  }
  if (typeof QueueUrl === "string") return `queue ${QueueUrl}`;
  if (typeof QueueName === "string") return `queue ${QueueName}`;
  if (typeof logGroupName === "string") return `log group ${logGroupName}`;
  const named = [identifier, arn, resourceArn].find((value) => typeof value === "string");
  return typeof named === "string" ? named : undefined;
}

/**
 * Puts on a failed request's error (`resource`) what the request was about, so a message can name
 * the table, bucket or queue an error such as ResourceNotFoundException or NoSuchBucket is about.
 */
function namingResources<C extends { middlewareStack: object }>(client: C): C {
  type Handler = (args: { input: unknown }) => Promise<unknown>;
  // Every client's stack takes this one middleware; their input types differ, so it is typed loosely here.
  const stack = client.middlewareStack as {
    add(middleware: (next: Handler) => Handler, options: { step: "initialize"; name: string }): void;
  };
  stack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const resource = resourceOf(args.input as Record<string, unknown>);
        if (resource !== undefined && typeof error === "object" && error !== null && !("resource" in error)) {
          Object.assign(error, { resource });
        }
        throw error;
      }
    },
    { step: "initialize", name: "namingResources" },
  );
  return client;
}

/**
 * How long a connection may take to open, and a request stay silent (nothing sent or received),
 * before it fails as a TimeoutError, which the SDK retries: an endpoint that accepts a connection
 * and never answers fails a run (or a command) instead of holding it until Lambda's timeout, or
 * forever. `requestTimeout` would only log a warning, unless `throwOnRequestTimeout`; silence,
 * unlike a request's whole time, lets a long body stream on.
 */
export function requestHandler(silentSeconds: number) {
  return { connectionTimeout: 10_000, socketTimeout: silentSeconds * 1000 };
}

/** Builds every client from the environment's region, credentials and endpoint. */
export function createAwsClients(env: NodeJS.ProcessEnv = process.env): AwsClients {
  const local = Boolean(env.AWS_ENDPOINT_URL || env.AWS_ENDPOINT_URL_S3);
  const config = (service: string) => ({ ...clientConfig(env, service), requestHandler: requestHandler(30) });
  return {
    documents: createDocumentClient(namingResources(new DynamoDBClient(config("DYNAMODB")))),
    // Queue URLs from a local stack name the AWS host; the configured endpoint must win over them.
    sqs: namingResources(new SQSClient({ ...config("SQS"), useQueueUrlAsEndpoint: false })),
    // A local AWS on 127.0.0.1 cannot serve bucket names as host names.
    // No CRC32 of every upload by default: replays and runs are hundreds of MB, and TLS already guards them.
    s3: namingResources(
      new S3Client({
        ...config("S3"),
        forcePathStyle: local,
        requestChecksumCalculation: "WHEN_REQUIRED",
        // A body (a chat log object's, an upload) may pause while the run works: a minute of silence.
        requestHandler: requestHandler(60),
      }),
    ),
    logs: namingResources(createCloudWatchLogsClient(config("CLOUDWATCH_LOGS"))),
    ivs: namingResources(new IvsClient(config("IVS"))),
    ivschat: namingResources(new IvschatClient(config("IVSCHAT"))),
  };
}
