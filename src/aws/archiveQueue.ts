import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { ArchiveRequest, ArchiveScheduler } from "../sessions/model";

// SQS caps DelaySeconds at 15 minutes.
const MAX_DELAY_SECONDS = 900;

/** The archive queue: one message per broadcast to archive, delayed so CloudWatch has the last chat. */
export class ArchiveQueue implements ArchiveScheduler {
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
}
