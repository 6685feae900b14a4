"use strict";

/**
 * The recording buckets of the `recordingBuckets` parameter (comma-separated), as the IAM resources
 * the archive may use in each: `${file(./serverless/recording-buckets.cjs):replayObjects}` and
 * `:recordingMetadata`. CloudFormation has no map over a list; this keeps one statement per purpose.
 */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

async function bucketsOf(resolveVariable) {
  const text = String(await resolveVariable("param:recordingBuckets"));
  const buckets = text
    .split(",")
    .map((bucket) => bucket.trim())
    .filter((bucket) => bucket !== "");
  const bad = buckets.filter((bucket) => !BUCKET_NAME.test(bucket));
  if (buckets.length === 0 || bad.length > 0) {
    throw new Error(
      `recordingBuckets must list S3 bucket names separated by commas; got "${text}"${bad.length > 0 ? ` (not a bucket name: ${bad.join(", ")})` : ""}`,
    );
  }
  return buckets;
}

const arns = (buckets, keys) =>
  buckets.map((bucket) => ({ "Fn::Sub": `arn:\${AWS::Partition}:s3:::${bucket}/${keys}` }));

module.exports = {
  /** Where replays are written: next to recordings, and in the archive bucket for broadcasts not recorded. */
  replayObjects: async ({ resolveVariable }) => [
    ...arns(await bucketsOf(resolveVariable), "*/chat/*"),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub, not a JS template
    { "Fn::Sub": "${ArchiveBucket.Arn}/chat-replays/*" },
  ],
  /** IVS's own metadata beside each recording (events/recording-started.json, ...) and its media playlists (the timeline). */
  recordingMetadata: async ({ resolveVariable }) => {
    const buckets = await bucketsOf(resolveVariable);
    return [...arns(buckets, "*/events/*"), ...arns(buckets, "*/media/hls/*.m3u8")];
  },
};
