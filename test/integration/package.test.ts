import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(__dirname, "..", "..");

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}
interface Statement {
  Action: string | string[];
  Resource: unknown;
}

function ofType(template: Record<string, Resource>, type: string): Array<[string, Resource]> {
  return Object.entries(template).filter(([, resource]) => resource.Type === type);
}

function statementsOf(role: Resource): Statement[] {
  const policies = role.Properties.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>;
  return policies.flatMap((policy) => policy.PolicyDocument.Statement);
}

describe("serverless package", () => {
  let dir: string;
  let templatePath: string;
  let resources: Record<string, Resource>;

  beforeAll(async () => {
    // A private copy of the service: osls and serverless-esbuild write work folders next to serverless.yml,
    // which would collide with another package run in the checkout.
    dir = await mkdtemp(join(tmpdir(), "ivs-chat-archiver-package-"));
    for (const entry of ["serverless.yml", "serverless", "package.json", "tsconfig.json", "src"]) {
      await cp(join(root, entry), join(dir, entry), { recursive: true });
    }
    await symlink(join(root, "node_modules"), join(dir, "node_modules"), "dir");
    const out = join(dir, "out");
    await run(join(root, "node_modules", ".bin", "serverless"), ["package", "--package", out], {
      cwd: dir,
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: "x",
        AWS_SECRET_ACCESS_KEY: "x",
        AWS_REGION: "us-east-1",
      },
      maxBuffer: 16 * 1024 * 1024,
    });
    templatePath = join(out, "cloudformation-template-update-stack.json");
    resources = JSON.parse(await readFile(templatePath, "utf8")).Resources;
  }, 180_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("generates a template cfn-lint accepts without errors or warnings", async () => {
    // cfn-lint exits non-zero on any error or warning and prints them; a missing cfn-lint fails too.
    const result = await run("cfn-lint", ["--", templatePath]).then(
      ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (error: { code?: unknown; stdout?: string; stderr?: string }) => ({
        code: error.code,
        output: `${error.stdout ?? ""}${error.stderr ?? ""}`,
      }),
    );

    expect(result).toEqual({ code: 0, output: "" });
  });

  it("runs every function on nodejs24.x arm64", () => {
    const functions = ofType(resources, "AWS::Lambda::Function").map(([, fn]) => fn.Properties);

    expect(functions.map((fn) => fn.FunctionName).sort()).toEqual([
      "ivs-chat-archiver-dev-archive",
      "ivs-chat-archiver-dev-recordingState",
      "ivs-chat-archiver-dev-streamState",
    ]);
    for (const fn of functions) {
      expect(fn).toMatchObject({ Runtime: "nodejs24.x", Architectures: ["arm64"] });
    }
  });

  it("gives each EventBridge rule a retry policy and a dead-letter queue", () => {
    const rules = ofType(resources, "AWS::Events::Rule");

    expect(rules).toHaveLength(2);
    for (const [, rule] of rules) {
      expect(rule.Properties.EventPattern).toMatchObject({ source: ["aws.ivs"] });
      expect(rule.Properties.Targets).toEqual([
        expect.objectContaining({
          RetryPolicy: expect.objectContaining({ MaximumRetryAttempts: expect.any(Number) }),
          DeadLetterConfig: { Arn: { "Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"] } },
        }),
      ]);
    }
  });

  it("sends the event functions' failed async invokes to the events dead-letter queue", () => {
    const configs = ofType(resources, "AWS::Lambda::EventInvokeConfig").map(
      ([, config]) => config.Properties,
    );

    expect(configs.map((config) => config.FunctionName)).toEqual(
      expect.arrayContaining([{ Ref: "StreamStateLambdaFunction" }, { Ref: "RecordingStateLambdaFunction" }]),
    );
    for (const config of configs) {
      expect(config.DestinationConfig).toEqual({
        OnFailure: { Destination: { "Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"] } },
      });
    }
  });

  it("reports partial batch failures from the archive queue with bounded concurrency", () => {
    const [[, mapping] = []] = ofType(resources, "AWS::Lambda::EventSourceMapping");

    expect(mapping?.Properties).toMatchObject({
      EventSourceArn: { "Fn::GetAtt": ["ArchiveQueue", "Arn"] },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it("keeps the sessions table recoverable and expiring", () => {
    expect(resources.SessionsTable?.Properties).toMatchObject({
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
    });
  });

  it("grants no data access on every resource", () => {
    const statements = ofType(resources, "AWS::IAM::Role").flatMap(([, role]) => statementsOf(role));
    const dataActions = statements.filter((statement) =>
      [statement.Action].flat().some((action) => /^(dynamodb|s3|logs|sqs):/.test(action)),
    );

    expect(dataActions.length).toBeGreaterThan(0);
    for (const statement of dataActions) {
      expect([statement.Resource].flat()).not.toContain("*");
    }
  });
});
