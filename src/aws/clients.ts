import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
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

/** Builds every client from the environment's region, credentials and endpoint. */
export function createAwsClients(env: NodeJS.ProcessEnv = process.env): AwsClients {
  const local = Boolean(env.AWS_ENDPOINT_URL);
  return {
    documents: createDocumentClient(),
    // Queue URLs from a local stack name the AWS host; the configured endpoint must win over them.
    sqs: new SQSClient({ useQueueUrlAsEndpoint: false }),
    // A local AWS on 127.0.0.1 cannot serve bucket names as host names.
    // No CRC32 of every upload by default: replays and runs are hundreds of MB, and TLS already guards them.
    s3: new S3Client({ forcePathStyle: local, requestChecksumCalculation: "WHEN_REQUIRED" }),
    logs: createCloudWatchLogsClient(),
    ivs: new IvsClient({}),
    ivschat: new IvschatClient({}),
  };
}
