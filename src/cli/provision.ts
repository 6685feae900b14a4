import { resolve } from "node:path";
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  HeadBucketCommand,
  NotFound,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { z } from "zod";
import { ConfigError } from "../errors";
import { type CfnResource, readServerlessConfig } from "./serverless-config";

/** Where to provision and which serverless.yml to read. */
export interface ProvisionOptions {
  endpoint: string;
  region?: string;
  stage?: string;
  file?: string;
}

/** A created resource as `Ref` and `Fn::GetAtt` see it. */
interface Created {
  ref: string;
  attributes: Record<string, string>;
}

interface Clients {
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  s3: S3Client;
}

interface Scope {
  created: Map<string, Created>;
  pseudo: Record<string, string | undefined>;
}

const DEFAULT_FILE = resolve(__dirname, "..", "..", "serverless.yml");

// Queues and tables before buckets: their ARNs tell the local AWS's account id, which bucket names use.
const PROVISIONED_TYPES = ["AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::S3::Bucket"];

const KeySchema = z.array(z.object({ AttributeName: z.string(), KeyType: z.enum(["HASH", "RANGE"]) }));
const Throughput = z.object({ ReadCapacityUnits: z.number(), WriteCapacityUnits: z.number() });
const TableProperties = z.object({
  TableName: z.string().optional(),
  KeySchema,
  AttributeDefinitions: z.array(
    z.object({ AttributeName: z.string(), AttributeType: z.enum(["S", "N", "B"]) }),
  ),
  BillingMode: z.enum(["PAY_PER_REQUEST", "PROVISIONED"]).optional(),
  ProvisionedThroughput: Throughput.optional(),
  GlobalSecondaryIndexes: z
    .array(
      z.object({
        IndexName: z.string(),
        KeySchema,
        Projection: z.object({
          ProjectionType: z.enum(["ALL", "KEYS_ONLY", "INCLUDE"]),
          NonKeyAttributes: z.array(z.string()).optional(),
        }),
        ProvisionedThroughput: Throughput.optional(),
      }),
    )
    .optional(),
  TimeToLiveSpecification: z.object({ AttributeName: z.string(), Enabled: z.boolean() }).optional(),
});

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function dependencies(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) dependencies(item, into);
  } else if (isRecord(value)) {
    if (typeof value.Ref === "string") into.add(value.Ref);
    const getAtt = value["Fn::GetAtt"];
    if (Array.isArray(getAtt) && typeof getAtt[0] === "string") into.add(getAtt[0]);
    const sub = value["Fn::Sub"];
    const template = Array.isArray(sub) ? sub[0] : sub;
    if (typeof template === "string") {
      for (const [, name = ""] of template.matchAll(/\$\{([^!}][^}]*)\}/g)) {
        into.add(name.split(".")[0] ?? name);
      }
    }
    for (const item of Object.values(value)) dependencies(item, into);
  }
  return into;
}

function referenced(name: string, scope: Scope): string {
  const [logicalId = "", attribute] = name.split(".", 2);
  if (attribute === undefined && logicalId in scope.pseudo) {
    const pseudo = scope.pseudo[logicalId];
    if (pseudo === undefined) throw new ConfigError(`provision cannot tell ${logicalId} yet`);
    return pseudo;
  }
  const created = scope.created.get(logicalId);
  const value = attribute === undefined ? created?.ref : created?.attributes[attribute];
  if (value === undefined) {
    throw new ConfigError(`provision cannot resolve ${name}: not a resource it created`);
  }
  return value;
}

// The intrinsics a local copy of the stack needs; anything else is refused rather than guessed.
function evaluate(value: unknown, scope: Scope): unknown {
  if (Array.isArray(value)) return value.map((item) => evaluate(item, scope));
  if (!isRecord(value)) return value;
  const [key] = Object.keys(value);
  const argument = key === undefined ? undefined : value[key];
  if (key === "Ref" && typeof argument === "string") return referenced(argument, scope);
  if (key === "Fn::GetAtt" && Array.isArray(argument)) return referenced(argument.join("."), scope);
  if (key === "Fn::Sub") {
    const [template, variables] = Array.isArray(argument) ? argument : [argument, {}];
    if (typeof template !== "string") throw new ConfigError("provision: Fn::Sub needs a string");
    return template.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
      if (name.startsWith("!")) return `\${${name.slice(1)}}`;
      const local = isRecord(variables) ? variables[name] : undefined;
      return local === undefined ? referenced(name, scope) : String(evaluate(local, scope));
    });
  }
  if (key === "Fn::Join" && Array.isArray(argument)) {
    const [separator, items] = argument;
    if (typeof separator === "string" && Array.isArray(items)) {
      return items.map((item) => String(evaluate(item, scope))).join(separator);
    }
  }
  if (key?.startsWith("Fn::")) throw new ConfigError(`provision does not evaluate ${key}`);
  return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, evaluate(item, scope)]));
}

function accountIdOf(arn: string): string | undefined {
  return arn.split(":")[4] || undefined;
}

function isAwsNamed(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

async function provisionQueue(name: string, properties: Record<string, unknown>, sqs: SQSClient) {
  // CloudFormation queue properties carry the SQS attribute names; policies are JSON strings in SQS.
  const attributes = Object.fromEntries(
    Object.entries(properties)
      .filter(([key]) => key !== "QueueName" && key !== "Tags")
      .map(([key, value]) => [key, isRecord(value) ? JSON.stringify(value) : String(value)]),
  );
  let url: string | undefined;
  try {
    ({ QueueUrl: url } = await sqs.send(new GetQueueUrlCommand({ QueueName: name })));
  } catch (error) {
    if (
      !(error instanceof QueueDoesNotExist || isAwsNamed(error, "AWS.SimpleQueueService.NonExistentQueue"))
    ) {
      throw error;
    }
    ({ QueueUrl: url } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes })));
  }
  if (!url) throw new ConfigError(`queue ${name} has no URL`);
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
  );
  const arn = Attributes?.QueueArn ?? "";
  return { ref: url, attributes: { Arn: arn, QueueUrl: url, QueueName: name } };
}

async function provisionTable(name: string, raw: Record<string, unknown>, dynamodb: DynamoDBClient) {
  const parsed = TableProperties.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`table ${name}: ${parsed.error.message}`, { cause: parsed.error });
  }
  const { TimeToLiveSpecification: ttl, TableName: _declared, ...table } = parsed.data;
  let arn: string | undefined;
  try {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: name }));
    arn = Table?.TableArn;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
    const created = await dynamodb.send(new CreateTableCommand({ ...table, TableName: name }));
    arn = created.TableDescription?.TableArn;
  }
  if (ttl?.Enabled) {
    const { TimeToLiveDescription } = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: name }));
    const status = TimeToLiveDescription?.TimeToLiveStatus;
    if (status !== "ENABLED" && status !== "ENABLING") {
      await dynamodb.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
        }),
      );
    }
  }
  return { ref: name, attributes: { Arn: arn ?? "" } };
}

async function provisionBucket(name: string, region: string, s3: S3Client) {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: name }));
  } catch (error) {
    if (!(error instanceof NotFound || isAwsNamed(error, "NotFound"))) throw error;
    // us-east-1 is the one region S3 refuses as an explicit location constraint.
    const LocationConstraint = region === "us-east-1" ? undefined : (region as BucketLocationConstraint);
    await s3.send(
      new CreateBucketCommand({
        Bucket: name,
        ...(LocationConstraint && { CreateBucketConfiguration: { LocationConstraint } }),
      }),
    );
  }
  return { ref: name, attributes: { Arn: `arn:aws:s3:::${name}` } };
}

async function provisionResource(
  resource: CfnResource,
  defaultName: string,
  scope: Scope,
  clients: Clients,
  region: string,
): Promise<Created> {
  const evaluated = evaluate(resource.Properties, scope);
  const properties = isRecord(evaluated) ? evaluated : {};
  const nameKey = { "AWS::SQS::Queue": "QueueName", "AWS::DynamoDB::Table": "TableName" }[resource.Type];
  const declared = properties[nameKey ?? "BucketName"];
  const name = typeof declared === "string" ? declared : defaultName;
  if (resource.Type === "AWS::SQS::Queue") return provisionQueue(name, properties, clients.sqs);
  if (resource.Type === "AWS::DynamoDB::Table") return provisionTable(name, properties, clients.dynamodb);
  return provisionBucket(name, region, clients.s3);
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

/**
 * Creates the tables, queues and buckets serverless.yml declares on a local AWS (moto) and returns the
 * environment the functions would get there; resources that already exist are kept.
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
  const clientOptions = clientConfig(endpoint, region);
  const clients: Clients = {
    dynamodb: new DynamoDBClient(clientOptions),
    sqs: new SQSClient(clientOptions),
    s3: new S3Client({ ...clientOptions, forcePathStyle: true }),
  };
  const scope: Scope = {
    created: new Map(),
    pseudo: {
      "AWS::Region": region,
      "AWS::Partition": "aws",
      "AWS::StackName": `${config.service}-${config.stage}`,
      "AWS::AccountId": undefined,
      "AWS::URLSuffix": "amazonaws.com",
    },
  };

  const pending = Object.entries(config.resources)
    .filter(([, resource]) => PROVISIONED_TYPES.includes(resource.Type))
    .sort(([, a], [, b]) => PROVISIONED_TYPES.indexOf(a.Type) - PROVISIONED_TYPES.indexOf(b.Type));
  try {
    while (pending.length > 0) {
      // Next is the first resource whose references are all created (a redrive target before its queue);
      // when none is, the first one fails below naming the reference it cannot resolve.
      const index = pending.findIndex(([, resource]) =>
        [...dependencies(resource.Properties)].every(
          (id) => scope.created.has(id) || id in scope.pseudo || !(id in config.resources),
        ),
      );
      const [next] = pending.splice(Math.max(index, 0), 1);
      if (!next) break;
      const [logicalId, resource] = next;
      const defaultName = `${config.service}-${config.stage}-${logicalId}`.toLowerCase();
      const created = await provisionResource(resource, defaultName, scope, clients, region);
      scope.created.set(logicalId, created);
      scope.pseudo["AWS::AccountId"] ??= accountIdOf(created.attributes.Arn ?? "");
    }
  } finally {
    for (const client of Object.values(clients)) client.destroy();
  }

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(config.environment)) {
    // NODE_OPTIONS tunes the Lambda runtime; exported, it would change every node process of the shell.
    if (key === "NODE_OPTIONS") continue;
    const evaluated = evaluate(value, scope);
    // An empty value means "not set" (CHAT_LOG_GROUP: look the log group up).
    if (evaluated !== "" && evaluated !== undefined && evaluated !== null) env[key] = String(evaluated);
  }
  for (const [logicalId, created] of scope.created) {
    const variable = dlqVariable(logicalId);
    if (variable) env[variable] = created.ref;
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
