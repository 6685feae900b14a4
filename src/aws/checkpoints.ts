import { Readable } from "node:stream";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { CheckpointStore, LoadedCheckpoint } from "../archive/ports";
import { CheckpointError } from "../errors";
import type { RunStore } from "../replay";

// Working state lives under this prefix of the private archive bucket; a lifecycle rule expires it.
export const CHECKPOINT_PREFIX = "checkpoints/";

function isMissing(error: unknown): boolean {
  const name = (error as Error).name;
  return name === "NoSuchKey" || name === "NotFound";
}

/** A chain's sorted runs and id pages as objects under its prefix. */
class S3RunStore implements RunStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  async put(name: string, chunks: Iterable<Buffer>): Promise<void> {
    await new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: `${this.prefix}${name}`, Body: Readable.from(chunks) },
      queueSize: 4,
      partSize: 16 * 2 ** 20,
      leavePartsOnError: false,
    }).done();
  }

  async *get(name: string): AsyncIterable<Buffer> {
    const key = `${this.prefix}${name}`;
    let body: Readable;
    try {
      body = (await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })))
        .Body as Readable;
    } catch (error) {
      // Expired by the lifecycle rule, or never written by a run that died: the checkpoint cannot be used.
      if (isMissing(error)) throw new CheckpointError(`s3://${this.bucket}/${key} is gone`, { cause: error });
      throw error;
    }
    yield* body;
  }
}

/**
 * Checkpoints of long archives in the private archive bucket (they hold messages a moderator may
 * still delete, so never beside the public replay): `checkpoints/<chain>/checkpoint.json` and the
 * chain's runs beside it.
 */
export class S3Checkpoints implements CheckpointStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  private prefix(chain: string): string {
    return `${CHECKPOINT_PREFIX}${chain}/`;
  }

  async load(chain: string): Promise<LoadedCheckpoint> {
    let text: string;
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: `${this.prefix(chain)}checkpoint.json` }),
      );
      text = (await out.Body?.transformToString()) ?? "";
    } catch (error) {
      if (isMissing(error)) return { found: false };
      throw error;
    }
    try {
      return { found: true, json: JSON.parse(text) };
    } catch {
      return { found: true, unreadable: `it is not JSON (${text.length} bytes)` };
    }
  }

  async save(chain: string, checkpoint: unknown): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: `${this.prefix(chain)}checkpoint.json`,
        Body: JSON.stringify(checkpoint),
        ContentType: "application/json",
      }),
    );
  }

  runs(chain: string): RunStore {
    return new S3RunStore(this.client, this.bucket, this.prefix(chain));
  }

  async remove(chain: string): Promise<void> {
    let token: string | undefined;
    do {
      const listed = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix(chain),
          ContinuationToken: token,
        }),
      );
      const keys = (listed.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
      if (keys.length > 0) {
        await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys } }));
      }
      token = listed.NextContinuationToken;
    } while (token !== undefined);
  }
}
