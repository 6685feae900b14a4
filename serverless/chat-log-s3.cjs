"use strict";

/**
 * The S3 locations the archive may read chat logs from, as IAM resources: the `chatLogS3Uri`
 * parameter (CHAT_LOG_S3_URI, the part before `AWSLogs/` of an S3 logging destination) and the
 * `chatLogS3Uris` parameter (comma-separated `s3://bucket[/prefix]`: the buckets of rooms' S3
 * logging configurations, the locations rooms linked with `--chat-log-s3-uri` get their Firehose
 * delivered to). Reads are granted below those prefixes only, listing of each bucket below its own.
 * With none configured, the policy is not created (the `ChatLogInS3` condition).
 * The URI rule is `parseS3Uri` of src/archive/chat.ts, which the service applies at run time.
 */
const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/;
const NONE = { bucket: "none-configured", prefix: "" };

async function locationsOf(resolveVariable) {
  const text = [await resolveVariable("param:chatLogS3Uri"), await resolveVariable("param:chatLogS3Uris")]
    .map((value) => String(value ?? ""))
    .join(",");
  const uris = text
    .split(",")
    .map((uri) => uri.trim())
    .filter((uri) => uri !== "");
  return uris.map((uri) => {
    const match = S3_URI.exec(uri);
    if (!match)
      throw new Error(
        `chatLogS3Uri and chatLogS3Uris must be s3://bucket[/prefix] URIs separated by commas; got "${uri}"`,
      );
    const path = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
    return { bucket: match[1], prefix: path === "" ? "" : `${path}/` };
  });
}

const sub = (text) => ({ "Fn::Sub": text });

module.exports = {
  /** The locations, normalised and comma-separated; empty when none is configured. */
  list: async ({ resolveVariable }) =>
    (await locationsOf(resolveVariable)).map(({ bucket, prefix }) => `s3://${bucket}/${prefix}`).join(","),
  /**
   * The statements: GetObject below every location, and for each bucket a ListBucket limited to
   * its own locations' prefixes. With none configured, a statement on nothing (the policy that
   * holds it is not created then).
   */
  statements: async ({ resolveVariable }) => {
    const locations = await locationsOf(resolveVariable);
    const all = locations.length > 0 ? locations : [NONE];
    const byBucket = new Map();
    for (const { bucket, prefix } of all)
      byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), `${prefix}*`]);
    return [
      {
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: all.map(({ bucket, prefix }) => sub(`arn:\${AWS::Partition}:s3:::${bucket}/${prefix}*`)),
      },
      ...[...byBucket].map(([bucket, prefixes]) => ({
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: sub(`arn:\${AWS::Partition}:s3:::${bucket}`),
        Condition: { StringLike: { "s3:prefix": prefixes } },
      })),
    ];
  },
};
