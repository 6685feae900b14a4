import { execFile } from "node:child_process";
import { dirname, resolve } from "node:path";
import { promisify } from "node:util";
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
  paginateListStackResources,
  waitUntilStackCreateComplete,
} from "@aws-sdk/client-cloudformation";
import { DynamoDBClient, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import { ConfigError } from "../errors";

/** One resource of `resources.Resources`, with Serverless variables resolved and intrinsics kept. */
interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
}

/** What provisioning takes from the framework's resolved configuration. */
interface ServerlessConfig {
  service: string;
  stage: string;
  region: string;
  /** `resources`: the template's Parameters, Conditions and Resources (functions are left to `deploy`). */
  template: { Parameters?: object; Conditions?: object; Resources: Record<string, CfnResource> };
  /** provider.environment merged with every function's environment, in declaration order. */
  environment: Record<string, unknown>;
}

/** Where to provision and which serverless.yml to read. */
export interface ProvisionOptions {
  endpoint: string;
  region?: string;
  stage?: string;
  file?: string;
}

const DEFAULT_FILE = resolve(__dirname, "..", "..", "serverless.yml");
const run = promisify(execFile);

/**
 * serverless.yml as the framework itself resolves it (`serverless print`): variables, parameters
 * and stage filled in by osls, so provisioning never re-implements its grammar.
 */
async function printServerlessConfig(options: ProvisionOptions): Promise<ServerlessConfig> {
  const file = options.file ?? DEFAULT_FILE;
  const args = [require.resolve("osls/bin/serverless.js"), "print", "--format", "json", "--config", file];
  if (options.stage !== undefined) args.push("--stage", options.stage);
  if (options.region !== undefined) args.push("--region", options.region);
  let printed: string;
  try {
    ({ stdout: printed } = await run(process.execPath, args, { cwd: dirname(file), maxBuffer: 64 << 20 }));
  } catch (error) {
    const lines = String((error as { stderr?: unknown }).stderr ?? "")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "");
    // osls heads its reasons with a bare "Error:" line: the reason is the line after it.
    const at = lines.findIndex((line) => /error/i.test(line));
    const why = at < 0 ? lines[0] : /^error:?$/i.test(lines[at] ?? "") ? (lines[at + 1] ?? "") : lines[at];
    throw new ConfigError(`serverless print failed on ${file}: ${why || (error as Error).message}`, {
      cause: error,
    });
  }
  const config = JSON.parse(printed) as {
    service: string | { name: string };
    provider: { stage: string; region: string; environment?: Record<string, unknown> };
    functions?: Record<string, { environment?: Record<string, unknown> }>;
    resources?: ServerlessConfig["template"];
  };
  const environment = { ...config.provider.environment };
  for (const fn of Object.values(config.functions ?? {})) Object.assign(environment, fn.environment);
  return {
    service: typeof config.service === "string" ? config.service : config.service.name,
    stage: config.provider.stage,
    region: config.provider.region,
    template: {
      Parameters: config.resources?.Parameters,
      Conditions: config.resources?.Conditions,
      Resources: config.resources?.Resources ?? {},
    },
    environment,
  };
}

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
  const config = await printServerlessConfig(options);
  const region = options.region ?? process.env.AWS_REGION ?? config.region;
  const stackName = `${config.service}-${config.stage}`;
  const cloudFormation = new CloudFormationClient(clientConfig(endpoint, region));
  const physicalIds = new Map<string, string>();
  try {
    if (!(await stackExists(cloudFormation, stackName))) {
      await cloudFormation.send(
        new CreateStackCommand({
          StackName: stackName,
          TemplateBody: JSON.stringify(config.template),
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
  await enableTimeToLive(config.template.Resources, physicalIds, clientConfig(endpoint, region));

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(config.environment)) {
    // NODE_OPTIONS tunes the Lambda runtime; exported, it would change every node process of the shell.
    // RECORDING_BUCKETS guards a deployed stack's IAM grants; a local AWS takes recordings in any bucket.
    if (key === "NODE_OPTIONS" || key === "RECORDING_BUCKETS") continue;
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
