"use strict";

/**
 * The S3 locations the archive may read chat logs from, as IAM resources: the `chatLogS3Uri`
 * parameter (CHAT_LOG_S3_URI, the part before `AWSLogs/` of an S3 logging destination) and the
 * `chatLogS3Uris` parameter (comma-separated `s3://bucket[/prefix]`: the buckets of rooms' S3
 * logging configurations, the locations rooms linked with `--chat-log-s3-uri` get their Firehose
 * delivered to). Reads are granted below those prefixes only. With none configured, the statements
 * are left out (the `ChatLogS3Locations` condition) and these resources are never used.
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
  /** The objects below each location. */
  objects: async ({ resolveVariable }) => {
    const locations = await locationsOf(resolveVariable);
    return (locations.length > 0 ? locations : [NONE]).map(({ bucket, prefix }) =>
      sub(`arn:\${AWS::Partition}:s3:::${bucket}/${prefix}*`),
    );
  },
  /** The buckets, to list. */
  buckets: async ({ resolveVariable }) => {
    const buckets = new Set((await locationsOf(resolveVariable)).map(({ bucket }) => bucket));
    return [...(buckets.size > 0 ? buckets : [NONE.bucket])].map((bucket) =>
      sub(`arn:\${AWS::Partition}:s3:::${bucket}`),
    );
  },
  /** The key prefixes listing is limited to (the s3:prefix condition). */
  prefixes: async ({ resolveVariable }) => {
    const locations = await locationsOf(resolveVariable);
    return (locations.length > 0 ? locations : [NONE]).map(({ prefix }) => `${prefix}*`);
  },
};
