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
      "ivs-chat-archiver-dev-sweep",
    ]);
    for (const fn of functions) {
      expect(fn).toMatchObject({ Runtime: "nodejs24.x", Architectures: ["arm64"] });
    }
  });

  it("gives each EventBridge rule a retry policy and a dead-letter queue", () => {
    const rules = ofType(resources, "AWS::Events::Rule");

    const ivsRules = rules.filter(([, rule]) => rule.Properties.EventPattern !== undefined);
    expect(ivsRules).toHaveLength(2);
    for (const [, rule] of ivsRules) {
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
      GlobalSecondaryIndexes: [
        expect.objectContaining({
          IndexName: "due",
          KeySchema: [
            { AttributeName: "sweep", KeyType: "HASH" },
            { AttributeName: "dueAt", KeyType: "RANGE" },
          ],
        }),
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
    });
  });

  it("grants no data access on every resource", () => {
    const statements = [
      ...ofType(resources, "AWS::IAM::Role").flatMap(([, role]) => statementsOf(role)),
      ...ofType(resources, "AWS::IAM::Policy").flatMap(
        ([, policy]) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
      ),
    ];
    const dataActions = statements.filter((statement) =>
      [statement.Action].flat().some((action) => /^(dynamodb|s3|logs|sqs):/.test(action)),
    );

    expect(dataActions.length).toBeGreaterThan(0);
    for (const statement of dataActions) {
      expect([statement.Resource].flat()).not.toContain("*");
    }
  });

  /** The actions a function's own role allows, and on what. */
  function grantsOf(functionName: string): Statement[] {
    const fn = resources[`${functionName[0]?.toUpperCase()}${functionName.slice(1)}LambdaFunction`];
    const role = fn?.Properties.Role as { "Fn::Sub"?: string } | undefined;
    const roleId = /^\$\{(\w+)\.Arn\}$/.exec(role?.["Fn::Sub"] ?? "")?.[1] ?? "";
    const own = resources[roleId];
    expect(own?.Type, `${functionName} has a role of its own`).toBe("AWS::IAM::Role");
    return own === undefined ? [] : statementsOf(own);
  }

  const actionsOf = (statements: Statement[]) => statements.flatMap((statement) => [statement.Action].flat());

  it("gives each function a role of its own, with only what its code uses", () => {
    const roles = ["streamState", "recordingState", "archive", "sweep"].map((fn) =>
      JSON.stringify(resources[`${fn[0]?.toUpperCase()}${fn.slice(1)}LambdaFunction`]?.Properties.Role),
    );
    expect(new Set(roles).size).toBe(4);
    expect(ofType(resources, "AWS::IAM::Role").map(([id]) => id)).not.toContain("IamRoleLambdaExecution");

    for (const tracking of ["streamState", "recordingState"]) {
      const actions = actionsOf(grantsOf(tracking));
      expect(
        actions.filter((action) => /^(s3|ivs|ivschat):|^logs:(Get|Filter|Describe)/.test(action)),
      ).toEqual([]);
      expect(actions).toEqual(expect.arrayContaining(["dynamodb:UpdateItem", "sqs:SendMessage"]));
      expect(actions).not.toContain("dynamodb:PutItem");
      expect(actions).not.toContain("dynamodb:Query");
    }
    const archive = actionsOf(grantsOf("archive"));
    expect(archive).toEqual(
      expect.arrayContaining(["logs:GetLogEvents", "s3:PutObject", "sqs:ReceiveMessage"]),
    );
    expect(archive).not.toContain("dynamodb:PutItem");
    expect(archive).not.toContain("logs:FilterLogEvents");
    // Requests that can never succeed go to the archive dead-letter queue itself, at once.
    const deadLetters = grantsOf("archive").find(
      (statement) =>
        JSON.stringify(statement.Resource) ===
        JSON.stringify({ "Fn::GetAtt": ["ArchiveDeadLetterQueue", "Arn"] }),
    );
    expect(deadLetters?.Action).toEqual(["sqs:GetQueueUrl", "sqs:SendMessage"]);
    const sweep = grantsOf("sweep");
    expect(actionsOf(sweep).filter((action) => /^(s3|logs:Get|ivs)/.test(action))).toEqual([]);
    expect(sweep.find((statement) => statement.Action === "dynamodb:Query")?.Resource).toEqual({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub, not a JS template
      "Fn::Sub": "${SessionsTable.Arn}/index/due",
    });
    // No replay is ever read back by the service.
    const replayReads = grantsOf("archive").filter(
      (statement) =>
        [statement.Action].flat().includes("s3:GetObject") &&
        JSON.stringify(statement.Resource).includes("/chat"),
    );
    expect(replayReads).toEqual([]);
    // It deletes its checkpoints and a stream's own replay once its recording's replay holds it: nothing else.
    const deletes = grantsOf("archive")
      .filter((statement) => [statement.Action].flat().includes("s3:DeleteObject"))
      .map((statement) => statement.Resource);
    expect(deletes).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub, not a JS template
      { "Fn::Sub": "${ArchiveBucket.Arn}/chat-replays/*" },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub, not a JS template
      { "Fn::Sub": "${ArchiveBucket.Arn}/checkpoints/*" },
    ]);
  });

  it("lets the archive read chat from the configured S3 locations only, and not at all without one", async () => {
    const { stdout } = await run(
      join(root, "node_modules", ".bin", "serverless"),
      [
        "print",
        "--format",
        "json",
        "--param=chatLogS3Uri=s3://ivs-chat-logs/copy",
        "--param=chatLogS3Uris=s3://firehose-out/chat/demo/, s3://room-logs,s3://ivs-chat-logs/other",
      ],
      { cwd: dir, env: { ...process.env, AWS_REGION: "us-east-1" }, maxBuffer: 16 * 1024 * 1024 },
    );
    const printed = JSON.parse(stdout).resources;
    const policy = printed.Resources.ArchiveChatLogRead as Resource & { Condition: string };
    const arn = (text: string) => ({ "Fn::Sub": `arn:\${AWS::Partition}:s3:::${text}` });

    expect(printed.Parameters.ChatLogS3Locations.Default).toBe(
      "s3://ivs-chat-logs/copy/,s3://firehose-out/chat/demo/,s3://room-logs/,s3://ivs-chat-logs/other/",
    );
    expect(policy).toMatchObject({
      Type: "AWS::IAM::Policy",
      Condition: "ChatLogInS3",
      Properties: { Roles: [{ Ref: "ArchiveRole" }] },
    });
    expect((policy.Properties.PolicyDocument as { Statement: unknown[] }).Statement).toEqual([
      {
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: [
          arn("ivs-chat-logs/copy/*"),
          arn("firehose-out/chat/demo/*"),
          arn("room-logs/*"),
          arn("ivs-chat-logs/other/*"),
        ],
      },
      // Each bucket lists below its own locations only.
      {
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: arn("ivs-chat-logs"),
        Condition: { StringLike: { "s3:prefix": ["copy/*", "other/*"] } },
      },
      {
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: arn("firehose-out"),
        Condition: { StringLike: { "s3:prefix": ["chat/demo/*"] } },
      },
      {
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: arn("room-logs"),
        Condition: { StringLike: { "s3:prefix": ["*"] } },
      },
    ]);
    // Without a location (the default), the policy is not created, and the role has no S3 chat access.
    const template = JSON.parse(await readFile(templatePath, "utf8"));
    expect(template.Parameters.ChatLogS3Locations.Default).toBe("");
    expect(template.Conditions.ChatLogInS3).toEqual({
      "Fn::Not": [{ "Fn::Equals": [{ Ref: "ChatLogS3Locations" }, ""] }],
    });
    expect(resources.ArchiveChatLogRead).toMatchObject({ Condition: "ChatLogInS3" });
    expect(JSON.stringify(statementsOf(resources.ArchiveRole as Resource))).not.toContain("none-configured");
  }, 120_000);

  it("refuses a chatLogGroupPattern that would grant every log group", async () => {
    const printed = (pattern: string) =>
      run(
        join(root, "node_modules", ".bin", "serverless"),
        ["print", "--format", "json", `--param=chatLogGroupPattern=${pattern}`],
        {
          cwd: dir,
          env: { ...process.env, AWS_REGION: "us-east-1" },
          maxBuffer: 16 * 1024 * 1024,
        },
      );

    const refused = await printed("*").then(
      () => "printed",
      (error: { stdout: string; stderr: string }) => `${error.stdout}${error.stderr}`,
    );
    expect(refused).toContain("chatLogGroupPattern must be a log group name, or a path ending in /*");
    expect(refused).toContain('got "*"');
    const lambdas = await printed("/aws/lambda/*").then(
      () => "printed",
      (error: { stdout: string; stderr: string }) => `${error.stdout}${error.stderr}`,
    );
    expect(lambdas).toContain(
      'never a wildcard for every group or every group of an AWS service; got "/aws/lambda/*"',
    );
    const { stdout } = await printed("/aws/vendedlogs/ivschat/prod/*");
    expect(stdout).toContain("log-group:/aws/vendedlogs/ivschat/prod/*:*");
  }, 120_000);

  it("refuses, when the template is made, parameters the functions would refuse on every event", async () => {
    const refusal = (...params: string[]) =>
      run(
        join(root, "node_modules", ".bin", "serverless"),
        ["print", "--format", "json", ...params.map((param) => `--param=${param}`)],
        { cwd: dir, env: { ...process.env, AWS_REGION: "us-east-1" }, maxBuffer: 16 * 1024 * 1024 },
      ).then(
        () => "printed",
        (error: { stdout: string; stderr: string }) => `${error.stdout}${error.stderr}`,
      );

    const refused = await Promise.all([
      refusal("segmentSeconds=0"),
      refusal("chatLogReadTps=abc"),
      refusal("settleSeconds=2000"),
      refusal("recordingEndGraceMinutes=2.5"),
      refusal("alarmTopicArn=not-an-arn"),
      refusal("chatLogGroup=/other/group"),
    ]);

    expect(refused).toEqual([
      expect.stringContaining('segmentSeconds (SEGMENT_SECONDS) is not from 1 to 3600; got "0"'),
      expect.stringContaining('chatLogReadTps (CHAT_LOG_READ_TPS) is not a number above 0 to 100; got "abc"'),
      expect.stringContaining('settleSeconds (SETTLE_SECONDS) is not from 0 to 900; got "2000"'),
      expect.stringContaining(
        'recordingEndGraceMinutes (RECORDING_END_GRACE_MINUTES) is not a whole number from 1 to 1440; got "2.5"',
      ),
      expect.stringContaining(
        'alarmTopicArn must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or empty; got "not-an-arn"',
      ),
      expect.stringContaining(
        'chatLogGroup "/other/group" is not within chatLogGroupPattern "/aws/vendedlogs/ivschat/*"',
      ),
    ]);
  }, 120_000);

  it("runs the sweep every 5 minutes", () => {
    const schedules = ofType(resources, "AWS::Events::Rule").filter(
      ([, rule]) => rule.Properties.ScheduleExpression,
    );
    expect(schedules.map(([, rule]) => rule.Properties.ScheduleExpression)).toEqual(["rate(5 minutes)"]);
    expect(JSON.stringify(schedules[0]?.[1].Properties.Targets)).toContain("SweepLambdaFunction");
  });

  it("alarms on both dead-letter queues, on failed archives of its stage and on a failing sweep, notifying an optional topic", () => {
    const alarms = ofType(resources, "AWS::CloudWatch::Alarm").map(([, alarm]) => alarm.Properties);
    const watched = alarms.map((alarm) => [alarm.MetricName, JSON.stringify(alarm.Dimensions)]);

    expect(watched).toEqual(
      expect.arrayContaining([
        ["ApproximateNumberOfMessagesVisible", expect.stringContaining("EventsDeadLetterQueue")],
        ["ApproximateNumberOfMessagesVisible", expect.stringContaining("ArchiveDeadLetterQueue")],
        ["ArchiveFailed", JSON.stringify([{ Name: "service", Value: "ivs-chat-archiver-dev" }])],
        ["Errors", JSON.stringify([{ Name: "FunctionName", Value: { Ref: "SweepLambdaFunction" } }])],
      ]),
    );
    // The archive function's metrics carry the dimension the alarm watches.
    expect(JSON.stringify(resources.ArchiveLambdaFunction)).toContain(
      '"POWERTOOLS_SERVICE_NAME":"ivs-chat-archiver-dev"',
    );
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({ Threshold: 0, ComparisonOperator: "GreaterThanThreshold" });
      expect(alarm.AlarmActions).toEqual({
        "Fn::If": ["AlarmTopicSet", [{ Ref: "AlarmTopicArn" }], { Ref: "AWS::NoValue" }],
      });
    }
  });

  it("keeps the archive bucket TLS-only, with working state expiring by lifecycle", () => {
    const [, policy] =
      ofType(resources, "AWS::S3::BucketPolicy").find(
        ([, candidate]) =>
          JSON.stringify(candidate.Properties.Bucket) === JSON.stringify({ Ref: "ArchiveBucket" }),
      ) ?? [];
    const document = policy?.Properties.PolicyDocument as { Statement: Statement[] } | undefined;
    const statements = document?.Statement ?? [];

    expect(policy?.Properties.Bucket).toEqual({ Ref: "ArchiveBucket" });
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: "Deny",
        Action: "s3:*",
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      }),
    );
    expect(resources.ArchiveBucket?.Properties.LifecycleConfiguration).toEqual({
      Rules: [expect.objectContaining({ Status: "Enabled", Prefix: "checkpoints/", ExpirationInDays: 2 })],
    });
  });
});

describe("serverless print with several recording buckets", () => {
  /** The configuration osls resolves for a stage with these parameters (no packaging: print writes nothing). */
  async function printWith(...params: string[]) {
    const args = ["print", "--format", "json", ...params.flatMap((param) => ["--param", param])];
    return run(join(root, "node_modules", ".bin", "serverless"), args, { cwd: root }).then(
      ({ stdout }) => ({ code: 0, config: JSON.parse(stdout), output: "" }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: error.code,
        config: undefined,
        output: `${error.stdout ?? ""}${error.stderr ?? ""}`,
      }),
    );
  }

  it("grants the archive each bucket's chat/ and events/ only, and tells the functions which buckets they are", async () => {
    const { config } = await printWith("recordingBuckets=ivs-recordings-us, ivs-recordings-eu");
    const role = config.resources.Resources.ArchiveRole as Resource;
    const s3 = statementsOf(role).filter((statement) =>
      [statement.Action].flat().some((a) => a.startsWith("s3:")),
    );
    const sub = (arn: string) => ({ "Fn::Sub": arn });

    expect(s3.find((statement) => [statement.Action].flat().includes("s3:PutObject"))?.Resource).toEqual([
      // biome-ignore-start lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub strings, not JS templates
      sub("arn:${AWS::Partition}:s3:::ivs-recordings-us/*/chat/*"),
      sub("arn:${AWS::Partition}:s3:::ivs-recordings-eu/*/chat/*"),
      sub("${ArchiveBucket.Arn}/chat-replays/*"),
    ]);
    expect(s3.find((statement) => statement.Action === "s3:GetObject")?.Resource).toEqual([
      sub("arn:${AWS::Partition}:s3:::ivs-recordings-us/*/events/*"),
      sub("arn:${AWS::Partition}:s3:::ivs-recordings-eu/*/events/*"),
      sub("arn:${AWS::Partition}:s3:::ivs-recordings-us/*/media/hls/*.m3u8"),
      sub("arn:${AWS::Partition}:s3:::ivs-recordings-eu/*/media/hls/*.m3u8"),
      // biome-ignore-end lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub strings
    ]);
    for (const fn of ["recordingState", "archive"]) {
      expect(config.functions[fn].environment).toEqual({
        RECORDING_BUCKETS: "ivs-recordings-us, ivs-recordings-eu",
      });
    }
  }, 60_000);

  it("refuses a list that is not bucket names, naming the parameter", async () => {
    const printed = await printWith("recordingBuckets=Not_A_Bucket");

    expect(printed.code).not.toBe(0);
    expect(printed.output).toContain("recordingBuckets must list S3 bucket names separated by commas");
    expect(printed.output).toContain("not a bucket name: Not_A_Bucket");
  }, 60_000);
});
