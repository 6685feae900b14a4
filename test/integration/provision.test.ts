import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { formatEnv, provision } from "../../src/cli/provision";
import { ConfigError } from "../../src/errors";
import { MOTO_ENV, type Moto, motoClientConfig, startMoto } from "../support/moto";

describe("provision on moto", () => {
  let moto: Moto;
  let env: Record<string, string>;

  beforeAll(async () => {
    moto = await startMoto();
    for (const [key, value] of Object.entries(MOTO_ENV)) vi.stubEnv(key, value);
    env = await provision({ endpoint: moto.endpoint });
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    await moto?.stop();
  });

  it("returns the functions' environment for the created resources", () => {
    expect(env).toMatchObject({
      SESSIONS_TABLE: "ivs-chat-archiver-dev-sessions",
      ARCHIVE_QUEUE_URL: expect.stringMatching(/\/ivs-chat-archiver-dev-archive$/),
      ARCHIVE_DLQ_URL: expect.stringMatching(/\/ivs-chat-archiver-dev-archive-dlq$/),
      EVENTS_DLQ_URL: expect.stringMatching(/\/ivs-chat-archiver-dev-events-dlq$/),
      ARCHIVE_BUCKET: "ivs-chat-archiver-dev-archive-123456789012",
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_REGION: "us-east-1",
    });
    // Empty parameters are left out: the service's defaults apply (SETTLE_SECONDS by the log source).
    expect(env).not.toHaveProperty("CHAT_LOG_GROUP");
    expect(env).not.toHaveProperty("CHAT_LOG_S3_URI");
    expect(env).not.toHaveProperty("SETTLE_SECONDS");
  });

  it("creates the sessions table keyed by pk with TTL on expiresAt", async () => {
    const dynamodb = new DynamoDBClient(motoClientConfig(moto.endpoint));

    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: env.SESSIONS_TABLE }));
    const { TimeToLiveDescription } = await dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: env.SESSIONS_TABLE }),
    );

    expect(Table?.KeySchema).toEqual([{ AttributeName: "pk", KeyType: "HASH" }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe("PAY_PER_REQUEST");
    expect(TimeToLiveDescription).toMatchObject({ AttributeName: "expiresAt", TimeToLiveStatus: "ENABLED" });
  });

  it("gives the archive queue a redrive policy to its dead-letter queue", async () => {
    const sqs = new SQSClient(motoClientConfig(moto.endpoint));

    const archive = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: env.ARCHIVE_QUEUE_URL, AttributeNames: ["All"] }),
    );
    const dlq = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: env.ARCHIVE_DLQ_URL, AttributeNames: ["QueueArn"] }),
    );

    expect(JSON.parse(archive.Attributes?.RedrivePolicy ?? "{}")).toEqual({
      deadLetterTargetArn: dlq.Attributes?.QueueArn,
      maxReceiveCount: 5,
    });
    expect(archive.Attributes?.VisibilityTimeout).toBe("5400");
  });

  it("creates the archive bucket", async () => {
    const s3 = new S3Client(motoClientConfig(moto.endpoint));

    const head = await s3.send(new HeadBucketCommand({ Bucket: env.ARCHIVE_BUCKET }));

    expect(head.$metadata.httpStatusCode).toBe(200);
  });

  it("keeps existing resources when run again", async () => {
    const again = await provision({ endpoint: moto.endpoint });

    expect(again).toEqual(env);
  });

  it("names resources after the stage and creates them in the region it is given", async () => {
    const staged = await provision({ endpoint: moto.endpoint, stage: "pr7", region: "eu-west-1" });
    const s3 = new S3Client({ ...motoClientConfig(moto.endpoint), region: "eu-west-1" });

    const head = await s3.send(new HeadBucketCommand({ Bucket: staged.ARCHIVE_BUCKET }));

    expect(staged).toMatchObject({
      SESSIONS_TABLE: "ivs-chat-archiver-pr7-sessions",
      ARCHIVE_BUCKET: "ivs-chat-archiver-pr7-archive-123456789012",
      ARCHIVE_QUEUE_URL: expect.stringMatching(/\/ivs-chat-archiver-pr7-archive$/),
      AWS_REGION: "eu-west-1",
    });
    expect(head.BucketRegion).toBe("eu-west-1");
  });

  it("refuses to run without a local endpoint", async () => {
    await expect(provision({ endpoint: "" })).rejects.toBeInstanceOf(ConfigError);
    await expect(provision({ endpoint: "https://sqs.us-east-1.amazonaws.com" })).rejects.toBeInstanceOf(
      ConfigError,
    );
  });

  it("formats the environment as KEY=value lines a shell can export", () => {
    expect(formatEnv({ A: "http://127.0.0.1:5000/q", B: "two words", C: "" })).toBe(
      "A=http://127.0.0.1:5000/q\nB='two words'\nC=",
    );
  });
});
