import { z } from "zod";
import { parseS3Uri } from "./archive/chat";
import { ConfigError } from "./errors";
import LIMITS from "./limits.json";
import { DEFAULT_SETTLE_SECONDS } from "./sessions/model";

const nonEmpty = z.string().trim().min(1);

/** A number within its range of src/limits.json (which `serverless package` checks parameters against too). */
function limited(name: keyof typeof LIMITS) {
  const limits: { min?: number; above?: number; max: number; integer: boolean } = LIMITS[name];
  let number = z.coerce.number();
  if (limits.integer) number = number.int();
  if (limits.min !== undefined) number = number.min(limits.min);
  if (limits.above !== undefined) number = number.gt(limits.above);
  return number.max(limits.max);
}

const schema = z.object({
  SESSIONS_TABLE: nonEmpty,
  ARCHIVE_QUEUE_URL: nonEmpty,
  ARCHIVE_BUCKET: nonEmpty,
  // CloudWatch delivers chat logs up to ~10 s late, S3 ~5 minutes; SQS delays are capped at 15 minutes.
  // Unset or empty: the default of the deployment's log source (`settleSeconds`).
  SETTLE_SECONDS: z.preprocess(
    (value) => (typeof value === "string" && value.trim() === "" ? undefined : value),
    limited("SETTLE_SECONDS").optional(),
  ),
  // The share of the account's CloudWatch Logs read quota (GetLogEvents: 10-25 requests/s) the archive may use.
  CHAT_LOG_READ_TPS: limited("CHAT_LOG_READ_TPS").default(8),
  // Minutes after its streams end that a recording may wait for Recording End before the sweep queues it.
  RECORDING_END_GRACE_MINUTES: limited("RECORDING_END_GRACE_MINUTES").default(15),
  // How long each segment of a replay is (SPEC section 4), in seconds.
  SEGMENT_SECONDS: limited("SEGMENT_SECONDS").default(60),
  // The recording buckets the stack may write replays into; events naming another are refused. Unset: any.
  RECORDING_BUCKETS: z
    .string()
    .optional()
    .transform((value) =>
      (value ?? "")
        .split(",")
        .map((bucket) => bucket.trim())
        .filter((bucket) => bucket !== ""),
    ),
  CHAT_LOG_GROUP: z
    .string()
    .trim()
    .optional()
    .transform((value) => (value === "" ? undefined : value)),
  // `s3://bucket[/prefix]`: where an S3 logging destination writes (the part before `AWSLogs/`).
  CHAT_LOG_S3_URI: z
    .string()
    .trim()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value === "") return undefined;
      try {
        return parseS3Uri(value, "the URI");
      } catch (error) {
        context.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    }),
});

/** SETTLE_SECONDS, else the default for the deployment's log source (S3 when CHAT_LOG_S3_URI is set). */
export function settleSeconds(config: Pick<Config, "SETTLE_SECONDS" | "CHAT_LOG_S3_URI">): number {
  return (
    config.SETTLE_SECONDS ??
    (config.CHAT_LOG_S3_URI === undefined ? DEFAULT_SETTLE_SECONDS.cloudwatch : DEFAULT_SETTLE_SECONDS.s3)
  );
}

/** The service's configuration, from the environment (SPEC section 5). */
export type Config = z.infer<typeof schema>;

/** Reads and validates the variables named; fails with the variable's name when one is missing or bad. */
export function loadConfig<K extends keyof Config>(
  keys: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
): Pick<Config, K> {
  const config: Partial<Config> = {};
  for (const key of keys) {
    const result = schema.shape[key].safeParse(env[key]);
    if (!result.success) {
      const problem =
        env[key] === undefined ? "is not set" : `is invalid (${result.error.issues[0]?.message})`;
      throw new ConfigError(`environment variable ${key} ${problem}`, { cause: result.error });
    }
    Object.assign(config, { [key]: result.data });
  }
  return config as Pick<Config, K>;
}
