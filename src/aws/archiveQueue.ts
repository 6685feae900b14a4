import {
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { ConfigError } from "../errors";
import type { ArchiveRequest, ArchiveScheduler } from "../sessions/model";

// SQS caps DelaySeconds at 15 minutes.
const MAX_DELAY_SECONDS = 900;
// SQS caps a message attribute's value at the message's own limit; a reason needs far less.
const MAX_REASON_LENGTH = 1000;

/** Where the queue's redrive policy sends a message, and after how many receives. */
interface DeadLetterTarget {
  queueUrl: string;
  maxReceiveCount: number;
}

/**
 * The archive queue: one message per broadcast to archive, delayed so CloudWatch has the last chat.
 * A message that cannot succeed goes to the queue's own dead-letter queue (its redrive policy's
 * target, so there is nothing more to configure) with the reason; one that failed for now is
 * retried later.
 */
export class ArchiveQueue implements ArchiveScheduler {
  private target: Promise<DeadLetterTarget> | undefined;

  constructor(
    private readonly queueUrl: string,
    private readonly client: SQSClient,
  ) {}

  async schedule(request: ArchiveRequest, delaySeconds: number): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(request),
        DelaySeconds: Math.max(0, Math.min(MAX_DELAY_SECONDS, Math.round(delaySeconds))),
      }),
    );
  }

  /** How many receives the redrive policy allows before SQS dead-letters a message itself. */
  async maxReceiveCount(): Promise<number> {
    return (await this.deadLetterTarget()).maxReceiveCount;
  }

  /** Sends a message body to the dead-letter queue with why it was put there (message attribute `reason`). */
  async deadLetter(body: string, reason: string): Promise<void> {
    const { queueUrl } = await this.deadLetterTarget();
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body === "" ? "(empty message)" : body,
        MessageAttributes: {
          reason: { DataType: "String", StringValue: reason.slice(0, MAX_REASON_LENGTH) },
        },
      }),
    );
  }

  /** Keeps a received message hidden for `seconds` from now: its next try comes no sooner. */
  async retryAfter(receiptHandle: string, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: Math.round(seconds),
      }),
    );
  }

  private deadLetterTarget(): Promise<DeadLetterTarget> {
    this.target ??= this.readRedrivePolicy().catch((error: unknown) => {
      this.target = undefined; // a failed lookup is tried again next time
      throw error;
    });
    return this.target;
  }

  private async readRedrivePolicy(): Promise<DeadLetterTarget> {
    const { Attributes = {} } = await this.client.send(
      new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ["RedrivePolicy"] }),
    );
    const policy = JSON.parse(Attributes.RedrivePolicy ?? "{}") as {
      deadLetterTargetArn?: string;
      maxReceiveCount?: number | string;
    };
    // arn:aws:sqs:region:account:name
    const [, , , , owner, name] = policy.deadLetterTargetArn?.split(":") ?? [];
    if (name === undefined || owner === undefined) {
      throw new ConfigError(`the archive queue ${this.queueUrl} has no dead-letter queue (RedrivePolicy)`);
    }
    const { QueueUrl } = await this.client.send(
      new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: owner }),
    );
    if (QueueUrl === undefined) throw new ConfigError(`the dead-letter queue ${name} has no URL`);
    return { queueUrl: QueueUrl, maxReceiveCount: Number(policy.maxReceiveCount ?? 5) };
  }
}
