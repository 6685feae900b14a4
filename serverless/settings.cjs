"use strict";

/**
 * The deployment's numeric parameters and its alarm topic, checked when the template is made
 * (`${file(./serverless/settings.cjs):SEGMENT_SECONDS}`), against the ranges the functions check
 * their environment against (src/limits.json): a bad value fails `serverless package` in one
 * line, not every event of the deployed stack.
 */
const LIMITS = require("../src/limits.json");

const PARAMS = {
  SETTLE_SECONDS: { param: "settleSeconds", optional: true },
  CHAT_LOG_READ_TPS: { param: "chatLogReadTps" },
  RECORDING_END_GRACE_MINUTES: { param: "recordingEndGraceMinutes" },
  SEGMENT_SECONDS: { param: "segmentSeconds" },
};
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

/** Why `text` is not a value of `limits`, or undefined. */
function problem(text, { min, above, max, integer }) {
  const value = Number(text);
  const range = `${above !== undefined ? `above ${above}` : `from ${min}`} to ${max}`;
  if (text.trim() === "" || !Number.isFinite(value)) return `is not a number ${range}`;
  if (integer && !Number.isInteger(value)) return `is not a whole number ${range}`;
  if ((min !== undefined && value < min) || (above !== undefined && value <= above) || value > max)
    return `is not ${range}`;
  return undefined;
}

const resolvers = {
  /** alarmTopicArn: an SNS topic's ARN, or empty for alarms without notification. */
  alarmTopicArn: async ({ resolveVariable }) => {
    const arn = String((await resolveVariable("param:alarmTopicArn")) ?? "").trim();
    if (arn !== "" && !SNS_TOPIC_ARN.test(arn))
      throw new Error(
        `alarmTopicArn must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or empty; got "${arn}"`,
      );
    return arn;
  },
};
for (const [variable, { param, optional }] of Object.entries(PARAMS)) {
  resolvers[variable] = async ({ resolveVariable }) => {
    const text = String((await resolveVariable(`param:${param}`)) ?? "").trim();
    if (optional && text === "") return "";
    const why = problem(text, LIMITS[variable]);
    if (why !== undefined) throw new Error(`${param} (${variable}) ${why}; got "${text}"`);
    return text;
  };
}

module.exports = { ...resolvers, problem };
