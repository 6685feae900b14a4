import type { Context, SQSEvent, SQSRecord } from "aws-lambda";

/** A handler as Lambda calls it. */
export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

/** A Lambda context for calling a handler in-process (npm start, tests); `remainingMs` is what getRemainingTimeInMillis answers. */
export function lambdaContext(functionName: string, remainingMs = 900_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: "1024",
    awsRequestId: `local-${functionName}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A message as the SQS event source received it: its receipt handle, and how often it was received. */
export interface ReceivedMessage {
  messageId: string;
  body: string;
  receiptHandle?: string;
  receiveCount?: number;
}

/** An SQS event source batch of the given messages, shaped as Lambda delivers it. */
export function sqsEvent(messages: readonly ReceivedMessage[]): SQSEvent {
  return {
    Records: messages.map(
      ({ messageId, body, receiptHandle, receiveCount }): SQSRecord => ({
        messageId,
        receiptHandle: receiptHandle ?? `receipt-${messageId}`,
        body,
        attributes: {
          ApproximateReceiveCount: String(receiveCount ?? 1),
          SentTimestamp: String(Date.now()),
          SenderId: "123456789012",
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: "",
        eventSource: "aws:sqs",
        eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:ivs-chat-archiver-dev-archive",
        awsRegion: "us-east-1",
      }),
    ),
  };
}
