import { resolve } from "node:path";
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
  paginateListStackResources,
  waitUntilStackCreateComplete,
} from "@aws-sdk/client-cloudformation";
import { DynamoDBClient, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import { ConfigError } from "../errors";
import { type CfnResource, readServerlessConfig } from "./serverless-config";

/** Where to provision and which serverless.yml to read. */
export interface ProvisionOptions {
  endpoint: string;
  region?: string;
  stage?: string;
  file?: string;
}

const DEFAULT_FILE = resolve(__dirname, "..", "..", "serverless.yml");

function clientConfig(endpoint: string, region: string) {
  // A local AWS accepts any key; the dummy one spares a workstation without AWS credentials.
  const hasCredentials = process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE;
  const credentials = hasCredentials ? undefined : { accessKeyId: "local", secretAccessKey: "local" };
  return { endpoint, region, ...(credentials && { credentials }) };
}

function dlqVariable(logicalId: string): string | undefined {
  const prefix = /^(.+)DeadLetterQueue$/.exec(logicalId)?.[1];
  return prefix && `${prefix.replace(/(?<=[a-z0-9])(?=[A-Z])/g, "_").toUpperCase()}_DLQ_URL`;
}

async function stackExists(cloudFormation: CloudFormationClient, stackName: string): Promise<boolean> {
  try {
    const { Stacks = [] } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    return Stacks.some((stack) => stack.StackStatus !== "DELETE_COMPLETE");
  } catch (error) {
    if ((error as Error).name === "ValidationError") return false; // "Stack ... does not exist"
    throw error;
  }
}

/** Applies the tables' TimeToLiveSpecification, which moto's CloudFormation leaves out. */
async function enableTimeToLive(
  resources: Record<string, CfnResource>,
  physicalIds: Map<string, string>,
  config: ReturnType<typeof clientConfig>,
): Promise<void> {
  const dynamodb = new DynamoDBClient(config);
  try {
    for (const [logicalId, resource] of Object.entries(resources)) {
      const ttl = resource.Properties.TimeToLiveSpecification as
        | { AttributeName?: string; Enabled?: boolean }
        | undefined;
      const tableName = physicalIds.get(logicalId);
      if (resource.Type !== "AWS::DynamoDB::Table" || !ttl?.Enabled || !ttl.AttributeName || !tableName)
        continue;
      await dynamodb
        .send(
          new UpdateTimeToLiveCommand({
            TableName: tableName,
            TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
          }),
        )
        .catch((error: Error) => {
          // Already enabled on a second run.
          if (!/already enabled/i.test(error.message)) throw error;
        });
    }
  } finally {
    dynamodb.destroy();
  }
}

/**
 * Creates the resources serverless.yml declares on a local AWS (moto) as the CloudFormation stack
 * `<service>-<stage>`, as a deployment would, and returns the environment the functions get there.
 * The stack is what `serverless invoke local` resolves the functions' `!Ref`s from. An existing
 * stack is kept.
 */
export async function provision(options: ProvisionOptions): Promise<Record<string, string>> {
  const endpoint = options.endpoint.trim();
  if (!endpoint) {
    throw new ConfigError("provision only creates resources on a local AWS: set AWS_ENDPOINT_URL");
  }
  if (/\.amazonaws\.com(\.cn)?(:\d+)?\/?$/i.test(endpoint)) {
    throw new ConfigError(`provision refuses ${endpoint}: deploy to AWS with \`serverless deploy\``);
  }
  const config = await readServerlessConfig(options.file ?? DEFAULT_FILE, options);
  const region = options.region ?? process.env.AWS_REGION ?? config.region;
  const stackName = `${config.service}-${config.stage}`;
  const cloudFormation = new CloudFormationClient(clientConfig(endpoint, region));
  const physicalIds = new Map<string, string>();
  try {
    if (!(await stackExists(cloudFormation, stackName))) {
      await cloudFormation.send(
        new CreateStackCommand({
          StackName: stackName,
          TemplateBody: JSON.stringify({ Resources: config.resources }),
        }),
      );
      await waitUntilStackCreateComplete(
        { client: cloudFormation, maxWaitTime: 120 },
        { StackName: stackName },
      );
    }
    for await (const page of paginateListStackResources(
      { client: cloudFormation },
      { StackName: stackName },
    )) {
      for (const resource of page.StackResourceSummaries ?? []) {
        if (resource.LogicalResourceId && resource.PhysicalResourceId) {
          physicalIds.set(resource.LogicalResourceId, resource.PhysicalResourceId);
        }
      }
    }
  } finally {
    cloudFormation.destroy();
  }
  await enableTimeToLive(config.resources, physicalIds, clientConfig(endpoint, region));

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(config.environment)) {
    // NODE_OPTIONS tunes the Lambda runtime; exported, it would change every node process of the shell.
    if (key === "NODE_OPTIONS") continue;
    const ref = (value as { Ref?: unknown } | null)?.Ref;
    const resolved = typeof ref === "string" ? physicalIds.get(ref) : value;
    if (typeof resolved === "object" || resolved === undefined) {
      throw new ConfigError(
        `provision cannot resolve ${key}: only plain values and !Ref of resources are supported`,
      );
    }
    // An empty value means "not set" (CHAT_LOG_GROUP: look the log group up).
    if (resolved !== "" && resolved !== null) env[key] = String(resolved);
  }
  for (const [logicalId, physicalId] of physicalIds) {
    const variable = dlqVariable(logicalId);
    if (variable) env[variable] = physicalId;
  }
  env.AWS_ENDPOINT_URL = endpoint;
  env.AWS_REGION = region;
  return env;
}

/** Formats an environment map as `KEY=value` lines, quoting values a shell would split. */
export function formatEnv(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([key, value]) => {
      const safe = /^[\w@%+=:,./-]*$/.test(value);
      return `${key}=${safe ? value : `'${value.replaceAll("'", `'\\''`)}'`}`;
    })
    .join("\n");
}
