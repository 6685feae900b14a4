import { once } from "node:events";
import { PassThrough } from "node:stream";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { RecordingMetadata, ReplayLocation, ReplayWriter } from "../archive/ports";
import {
  DEFAULT_SEGMENT_MS,
  GZIP,
  REPLAY_FILES,
  type RecordingRef,
  type Replay,
  replayFiles,
} from "../replay";
import { isMissingObject } from "./clients";

// Replays are rewritten when a redrive picks up later deletions: let caches notice within minutes.
const CACHE_CONTROL = "public, max-age=300";
// Parts of replay.json and replay.vtt (gzipped), sent as the pass goes: what is left to send once it
// ends is one part and CompleteMultipartUpload. A file up to this size goes up with one PutObject.
const PART_BYTES = 16 * 2 ** 20;
// Segments uploaded at once while the pass goes on.
const SEGMENTS_IN_FLIGHT = 8;

const CONTENT_TYPES: Record<string, string> = {
  json: "application/json; charset=utf-8",
  vtt: "text/vtt; charset=utf-8",
};

/** What the archive writes next to a recording, and how. */
export interface ReplayStoreOptions {
  /** SEGMENT_SECONDS in milliseconds. */
  segmentMs?: number;
  /** Parts of replay.json and replay.vtt (gzipped; 5 MiB at least), one PutObject for a file within one; default 16 MiB. */
  partBytes?: number;
}

/** Writes replays and reads the recording's metadata in S3. */
export class ReplayStore implements ReplayWriter, RecordingMetadata {
  private readonly segmentMs: number;
  private readonly partBytes: number;

  constructor(
    private readonly client: S3Client,
    options: ReplayStoreOptions = {},
  ) {
    this.segmentMs = options.segmentMs ?? DEFAULT_SEGMENT_MS;
    this.partBytes = options.partBytes ?? PART_BYTES;
  }

  /**
   * Writes every file of SPEC sections 3 and 4 beside `location` (replay.json), gzipped, in one
   * pass: segments as each is complete, then `replay.json` and `replay.vtt` (each whole or not at
   * all: a reader sees the new file or the old one), and `index.json` once all of them have
   * landed. Resolves to the bytes stored.
   */
  async write(location: ReplayLocation, replay: Replay): Promise<number> {
    const folder = location.key.slice(0, location.key.lastIndexOf("/") + 1);
    const bucket = location.bucket;
    let bytes = 0;
    const streamed = {
      "replay.json": this.streamUpload(bucket, location.key),
      "replay.vtt": this.streamUpload(bucket, `${folder}${REPLAY_FILES.transcript}`),
    };
    const inFlight = new Set<Promise<void>>();
    const put = async (key: string, gzipped: Buffer) => {
      bytes += gzipped.length;
      await this.client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: gzipped,
          ContentType: CONTENT_TYPES.json,
          ContentEncoding: "gzip",
          CacheControl: CACHE_CONTROL,
        }),
      );
    };
    let index: Buffer | undefined;
    let failure: unknown;
    try {
      for await (const part of replayFiles(replay, this.segmentMs, { encoding: GZIP })) {
        if (part.file === "segment") {
          // A failed upload is kept as the failure: the index must not name a segment that is not there.
          const upload: Promise<void> = put(`${folder}${part.key}`, part.body).then(
            () => void inFlight.delete(upload),
            (error: unknown) => {
              failure ??= error;
            },
          );
          inFlight.add(upload);
          if (inFlight.size >= SEGMENTS_IN_FLIGHT) await Promise.race(inFlight);
          if (failure !== undefined) throw failure;
        } else if (part.file === "index.json") {
          index = part.body;
        } else {
          await streamed[part.file].send(part.chunk);
        }
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
      // One after the other: when replay.json fails, the transcript is aborted (below), not left to land.
      for (const upload of Object.values(streamed)) bytes += await upload.finish();
      // The index names the segments: it lands last, so it never names one that is not there.
      if (index === undefined) throw new Error("replayFiles ended without index.json");
      await put(`${folder}${REPLAY_FILES.index}`, index);
      return bytes;
    } catch (error) {
      // Every upload stops, and the merge feeding them, before its run files are removed.
      for (const upload of Object.values(streamed)) upload.abort(error as Error);
      await Promise.allSettled([...inFlight, ...Object.values(streamed).map((upload) => upload.finish())]);
      throw error;
    }
  }

  /**
   * Gzipped chunks to one object through lib-storage: `send` them, then `finish` (its stored bytes),
   * or `abort`. A file within one part goes up with one PutObject (lib-storage's choice).
   */
  private streamUpload(bucket: string, key: string) {
    let bytes = 0;
    // The pass writes on while a part is uploaded: lib-storage reads the next part only once it is sent.
    const body = new PassThrough({ highWaterMark: this.partBytes });
    const done = new Upload({
      client: this.client,
      params: {
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: key.endsWith(".vtt") ? CONTENT_TYPES.vtt : CONTENT_TYPES.json,
        ContentEncoding: "gzip",
        CacheControl: CACHE_CONTROL,
        // Each part's CRC32 (zlib's, native) lets S3 check it; the object's is composed from them.
        // Without one asked for, moto computes a CRC64NVME of the whole object, in Python, on completion.
        ChecksumAlgorithm: "CRC32",
      },
      // One part at a time: a part is held in memory until it is sent.
      queueSize: 1,
      partSize: this.partBytes,
      leavePartsOnError: false,
    }).done();
    // Its failure is reported by `finish`; until then it must not go unhandled.
    done.catch(() => undefined);
    return {
      send: async (chunk: Buffer) => {
        bytes += chunk.length;
        if (!body.write(chunk)) await Promise.race([once(body, "drain"), done]);
      },
      // After `abort`, this waits for lib-storage to abort the multipart upload, then fails.
      finish: async () => {
        body.end();
        await done;
        return bytes;
      },
      abort: (error: Error) => body.destroy(error),
    };
  }

  /** Removes a replay and the files beside it (its folder). */
  async remove(location: ReplayLocation): Promise<void> {
    const folder = location.key.slice(0, location.key.lastIndexOf("/") + 1);
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: location.bucket, Prefix: folder });
    for await (const page of pages) {
      const keys = (page.Contents ?? []).flatMap((object) =>
        object.Key === undefined ? [] : [{ Key: object.Key }],
      );
      if (keys.length === 0) continue;
      await this.client.send(
        new DeleteObjectsCommand({ Bucket: location.bucket, Delete: { Objects: keys, Quiet: true } }),
      );
    }
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
      if (isMissingObject(error) || name === "AccessDenied" || name === "NoSuchBucket") return undefined;
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
