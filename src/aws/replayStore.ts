import { Readable } from "node:stream";
import { createGunzip, createGzip } from "node:zlib";
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { CheckpointMark, CheckpointStore } from "../archive/archive";
import { type Replay, splitLines } from "../replay";

/** Where a replay is written. */
export interface ReplayLocation {
  bucket: string;
  key: string;
}

// Replays are rewritten when a redrive picks up later deletions: let caches notice within minutes.
const CACHE_CONTROL = "public, max-age=300";

/** Reads and writes replays and the recording's metadata in S3. */
export class ReplayStore {
  constructor(private readonly client: S3Client) {}

  /**
   * Streams the replay, gzipped, to S3. lib-storage uploads it in parts as it is produced and
   * completes (or aborts) the multipart upload at the end, so readers see the whole file or the old one.
   */
  async write(location: ReplayLocation, replay: Replay): Promise<void> {
    const body = Readable.from(replay.chunks()).pipe(createGzip());
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: location.bucket,
        Key: location.key,
        Body: body,
        ContentType: "application/json; charset=utf-8",
        ContentEncoding: "gzip",
        CacheControl: CACHE_CONTROL,
      },
      queueSize: 2,
      partSize: 8 * 1024 * 1024,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  /**
   * The recording's exact start from IVS's `events/recording-started.json`, or undefined when
   * that file cannot be read (not written yet, no permission, a local AWS without it).
   */
  async recordingStartedAt(bucket: string, prefix: string): Promise<Date | undefined> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/events/recording-started.json` }),
      );
      const metadata = JSON.parse((await out.Body?.transformToString()) ?? "{}") as {
        recording_started_at?: unknown;
      };
      const at =
        typeof metadata.recording_started_at === "string"
          ? new Date(metadata.recording_started_at)
          : undefined;
      return at !== undefined && !Number.isNaN(at.getTime()) ? at : undefined;
    } catch (error) {
      const name = (error as Error).name;
      if (
        name === "NoSuchKey" ||
        name === "AccessDenied" ||
        name === "NoSuchBucket" ||
        error instanceof SyntaxError
      ) {
        return undefined;
      }
      throw error;
    }
  }
}

function isMissing(error: unknown): boolean {
  const name = (error as Error).name;
  return name === "NoSuchKey" || name === "NotFound";
}

/**
 * Checkpoints of long archives, kept in the private archive bucket (they hold messages a
 * moderator may still delete, so never next to the public replay): the mark on the first line,
 * then the replay builder's state, gzipped.
 */
export class S3Checkpoints implements CheckpointStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  private key(name: string): string {
    return `checkpoints/${name}.ndjson.gz`;
  }

  async load(name: string) {
    let body: Readable;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
      body = out.Body as Readable;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    const batches = splitLines(body.pipe(createGunzip()).setEncoding("utf8"));
    const first = await batches.next();
    const [markLine, ...rest] = first.done ? [] : first.value;
    if (markLine === undefined) return undefined;
    const state = (async function* () {
      yield rest;
      yield* batches;
    })();
    return { mark: JSON.parse(markLine) as CheckpointMark, state };
  }

  async save(name: string, mark: CheckpointMark, state: Iterable<string>): Promise<void> {
    const lines = (function* () {
      yield `${JSON.stringify(mark)}\n`;
      yield* state;
    })();
    await new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.key(name), Body: Readable.from(lines).pipe(createGzip()) },
    }).done();
  }

  async remove(name: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
  }
}
