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
import { FileRunStore } from "../local/fileRuns";
import type { RunStore } from "../replay";
import { isMissingObject } from "./clients";

// Working state lives under this prefix of the private archive bucket; a lifecycle rule expires it.
const CHECKPOINT_PREFIX = "checkpoints/";

/** A chain's sorted runs and id pages as objects under its prefix. */
class S3RunStore implements RunStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  async put(name: string, chunks: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<void> {
    await new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: `${this.prefix}${name}`, Body: Readable.from(chunks) },
      queueSize: 4,
      partSize: 16 * 2 ** 20,
      leavePartsOnError: false,
    }).done();
  }

  async *get(name: string): AsyncIterable<Buffer> {
    yield* await this.open(name);
  }

  /** The object's body; read it to the end, or its connection stays taken. */
  async open(name: string): Promise<Readable> {
    const key = `${this.prefix}${name}`;
    try {
      return (await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })))
        .Body as Readable;
    } catch (error) {
      // Expired by the lifecycle rule, or never written by a run that died: the checkpoint cannot be used.
      if (isMissingObject(error))
        throw new CheckpointError(`s3://${this.bucket}/${key} is gone`, { cause: error });
      throw error;
    }
  }
}

/**
 * Checkpoints of long archives in the private archive bucket (they hold messages a moderator may
 * still delete, so never beside the public replay): `checkpoints/<chain>/checkpoint.json` and the
 * chain's runs beside it.
 */
export class S3Checkpoints implements CheckpointStore {
  /** With `localDir` (Lambda's /tmp), runs are written there first and copied to S3 in the background. */
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly localDir?: string,
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
      if (isMissingObject(error)) return { found: false };
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
    const s3 = new S3RunStore(this.client, this.bucket, this.prefix(chain));
    return this.localDir === undefined ? s3 : new TieredRunStore(FileRunStore.create(this.localDir), s3);
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

/**
 * Runs on the local disk, copied to S3 in the background for the runs after this one. Runs of
 * earlier runs are downloaded to the disk before they are read: the final merge opens every run at
 * once, and as many open S3 bodies would hold every connection the client has.
 */
class TieredRunStore implements RunStore {
  private copying: Promise<void> = Promise.resolve();
  private failure: unknown;
  private stopped = false;

  constructor(
    private readonly local: Promise<FileRunStore>,
    private readonly remote: S3RunStore,
  ) {}

  async put(name: string, chunks: Iterable<Buffer>): Promise<void> {
    const local = await this.local;
    await local.put(name, chunks);
    // One copy at a time, in order; a failed copy fails the next checkpoint, not this run's reading.
    this.copying = this.copying.then(async () => {
      if (this.stopped || this.failure !== undefined) return;
      try {
        await this.remote.put(name, local.get(name));
      } catch (error) {
        this.failure = error;
      }
    });
  }

  async *get(name: string, chunkBytes?: number): AsyncIterable<Buffer> {
    const local = await this.local;
    if (!local.has(name)) await local.putStream(name, await this.remote.open(name));
    yield* local.get(name, chunkBytes);
  }

  async persist(): Promise<void> {
    await this.copying;
    if (this.failure !== undefined) throw this.failure;
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.copying;
    await (await this.local).close();
  }
}
