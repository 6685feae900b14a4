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

/** Builds every client from the environment's region, credentials and endpoint. */
export function createAwsClients(env: NodeJS.ProcessEnv = process.env): AwsClients {
  const local = Boolean(env.AWS_ENDPOINT_URL || env.AWS_ENDPOINT_URL_S3);
  return {
    documents: createDocumentClient(new DynamoDBClient(clientConfig(env, "DYNAMODB"))),
    // Queue URLs from a local stack name the AWS host; the configured endpoint must win over them.
    sqs: new SQSClient({ ...clientConfig(env, "SQS"), useQueueUrlAsEndpoint: false }),
    // A local AWS on 127.0.0.1 cannot serve bucket names as host names.
    // No CRC32 of every upload by default: replays and runs are hundreds of MB, and TLS already guards them.
    s3: new S3Client({
      ...clientConfig(env, "S3"),
      forcePathStyle: local,
      requestChecksumCalculation: "WHEN_REQUIRED",
    }),
    logs: createCloudWatchLogsClient(clientConfig(env, "CLOUDWATCH_LOGS")),
    ivs: new IvsClient(clientConfig(env, "IVS")),
    ivschat: new IvschatClient(clientConfig(env, "IVSCHAT")),
  };
}
