import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
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
export class S3RunStore implements RunStore {
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
    const s3 = new S3RunStore(this.client, this.bucket, this.prefix(chain));
    return this.localDir === undefined ? s3 : new TieredRunStore(this.localDir, s3);
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
 * Runs on the local disk for this run, copied to S3 in the background for the runs after it: the
 * final merge reads local files, and a checkpoint only waits for the copies still in flight.
 */
export class TieredRunStore implements RunStore {
  private readonly dir: Promise<string>;
  private readonly local = new Set<string>();
  private copying: Promise<void> = Promise.resolve();
  private failure: unknown;
  private stopped = false;

  constructor(
    root: string,
    private readonly remote: S3RunStore,
  ) {
    this.dir = mkdtemp(join(root, "ivs-chat-runs-"));
  }

  async put(name: string, chunks: Iterable<Buffer>): Promise<void> {
    const path = join(await this.dir, name);
    await writeFile(path, chunks);
    this.local.add(name);
    // One copy at a time, in order; a failed copy fails the next checkpoint, not this run's reading.
    this.copying = this.copying.then(async () => {
      if (this.stopped || this.failure !== undefined) return;
      try {
        await this.remote.put(name, [await readFile(path)]);
      } catch (error) {
        this.failure = error;
      }
    });
  }

  get(name: string): AsyncIterable<Buffer> {
    if (!this.local.has(name)) return this.remote.get(name);
    const dir = this.dir;
    return (async function* () {
      yield* createReadStream(join(await dir, name), { highWaterMark: 1 << 17 });
    })();
  }

  async persist(): Promise<void> {
    await this.copying;
    if (this.failure !== undefined) throw this.failure;
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.copying;
    await rm(await this.dir, { recursive: true, force: true });
  }
}
