"use strict";

/**
 * The `chatLogGroupPattern` parameter, checked: the IAM name pattern of the log groups the archive
 * may read chat from. A wildcard may only end a path of at least one folder of your own
 * (`/ivs/chat/*`), or, under `/aws/`, of a folder below a service's (`/aws/vendedlogs/ivschat/*`):
 * `*` alone, one that starts the pattern, or `/aws/*` and `/aws/lambda/*` would grant log groups
 * that are not chat (every one of the account, or every AWS service's).
 * The `chatLogGroup` parameter, a fixed group to read, must be one the pattern grants.
 */
const PATTERN = /^\/[^*/][^*]*(\/\*)?$/;

async function patternOf(resolveVariable) {
  const pattern = String((await resolveVariable("param:chatLogGroupPattern")) ?? "");
  const folders = pattern.split("/").filter((part) => part !== "" && part !== "*");
  const broad = pattern.endsWith("*") && folders[0] === "aws" && folders.length < 3;
  if (!PATTERN.test(pattern) || /\*./.test(pattern) || broad)
    throw new Error(
      `chatLogGroupPattern must be a log group name, or a path ending in /* (such as /aws/vendedlogs/ivschat/*), never a wildcard for every group or every group of an AWS service; got "${pattern}"`,
    );
  return pattern;
}

module.exports = {
  pattern: async ({ resolveVariable }) => patternOf(resolveVariable),
  group: async ({ resolveVariable }) => {
    const group = String((await resolveVariable("param:chatLogGroup")) ?? "").trim();
    if (group === "") return "";
    const pattern = await patternOf(resolveVariable);
    const granted = pattern.endsWith("*") ? group.startsWith(pattern.slice(0, -1)) : group === pattern;
    if (!granted)
      throw new Error(
        `chatLogGroup "${group}" is not within chatLogGroupPattern "${pattern}": the archive could not read it`,
      );
    return group;
  },
};
