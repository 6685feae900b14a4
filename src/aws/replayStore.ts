import { pipeline, Readable, Transform } from "node:stream";
import { createGzip } from "node:zlib";
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { RecordingMetadata, ReplayLocation, ReplayWriter } from "../archive/ports";
import type { RecordingRef, Replay } from "../replay";

// Replays are rewritten when a redrive picks up later deletions: let caches notice within minutes.
const CACHE_CONTROL = "public, max-age=300";

/** Writes replays and reads the recording's metadata in S3. */
export class ReplayStore implements ReplayWriter, RecordingMetadata {
  constructor(private readonly client: S3Client) {}

  /**
   * Streams the replay, gzipped, to S3. lib-storage uploads it in parts as it is produced and
   * completes (or aborts) the multipart upload at the end, so readers see the whole file or the old one.
   */
  async write(location: ReplayLocation, replay: Replay): Promise<number> {
    let bytes = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    // pipeline() destroys every stage with the first error, so a failed merge aborts the upload.
    const body = pipeline(
      Readable.from(replay.chunks()),
      // Level 2: within 3% of level 4's size in less time (1.7 s for 217 MB); the write is on the archive's critical path.
      createGzip({ level: 2, chunkSize: 1 << 20 }),
      counted,
      () => undefined,
    );
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
      queueSize: 4,
      partSize: 8 * 1024 * 1024,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      // The merge feeding the upload stops too, before its run files are removed.
      body.destroy(error as Error);
      throw error;
    }
    return bytes;
  }

  async remove(location: ReplayLocation): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: location.bucket, Key: location.key }));
  }

  /**
   * The recording's exact start from IVS's `events/recording-started.json`, or undefined when
   * that file cannot be read (not written yet, no permission, a local AWS without it).
   */
  async startedAt({ bucket, prefix }: RecordingRef): Promise<Date | undefined> {
    const metadata = parsed(await this.text(bucket, `${prefix}/events/recording-started.json`)) as
      | { recording_started_at?: unknown }
      | undefined;
    const at =
      typeof metadata?.recording_started_at === "string"
        ? new Date(metadata.recording_started_at)
        : undefined;
    return at !== undefined && !Number.isNaN(at.getTime()) ? at : undefined;
  }

  /**
   * The media playlist of the recording's first rendition: `media.hls.renditions[0]` of IVS's
   * `events/recording-ended.json` names it (`<prefix>/<hls.path>/<rendition.path>/<rendition.playlist>`).
   */
  async mediaPlaylist({ bucket, prefix }: RecordingRef): Promise<string | undefined> {
    const ended = parsed(await this.text(bucket, `${prefix}/events/recording-ended.json`)) as
      | { media?: { hls?: { path?: unknown; renditions?: { path?: unknown; playlist?: unknown }[] } } }
      | undefined;
    const hls = ended?.media?.hls;
    const rendition = Array.isArray(hls?.renditions) ? hls.renditions[0] : undefined;
    const parts = [hls?.path, rendition?.path, rendition?.playlist];
    if (!parts.every((part): part is string => typeof part === "string" && part !== "")) return undefined;
    return this.text(bucket, `${prefix}/${parts.join("/")}`);
  }

  /** An object's text, or undefined where it cannot be read (not written yet, no permission, a local AWS without it). */
  private async text(bucket: string, key: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return (await out.Body?.transformToString()) ?? undefined;
    } catch (error) {
      const name = (error as Error).name;
      if (name === "NoSuchKey" || name === "AccessDenied" || name === "NoSuchBucket") return undefined;
      throw error;
    }
  }
}

/** JSON text as a value, or undefined when there is none or it is not JSON. */
function parsed(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
