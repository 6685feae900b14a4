"use strict";

/**
 * The `chatLogGroupPattern` parameter, checked: the IAM name pattern of the log groups the archive
 * may read chat from. A wildcard may only end a path of at least one folder (`/aws/vendedlogs/ivschat/*`):
 * `*` alone, or one that starts the pattern, would grant every log group of the account.
 */
const PATTERN = /^\/[^*/][^*]*(\/\*)?$/;

module.exports = {
  pattern: async ({ resolveVariable }) => {
    const pattern = String((await resolveVariable("param:chatLogGroupPattern")) ?? "");
    if (!PATTERN.test(pattern) || /\*./.test(pattern))
      throw new Error(
        `chatLogGroupPattern must be a log group name, or a path ending in /* (such as /aws/vendedlogs/ivschat/*), never a wildcard for every group; got "${pattern}"`,
      );
    return pattern;
  },
};
