import { gunzipSync } from "node:zlib";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAwsClients } from "../../src/aws/clients";
import { ReplayStore } from "../../src/aws/replayStore";
import { syntheticChatLog } from "../../src/cli/synthetic";
import { MemoryRunStore, PLAIN, ReplayEngine, type ReplayOptions, replayFiles } from "../../src/replay";
import { incompressibleMessages } from "../support/chatRecords";
import { MOTO_ENV, type Moto, startMoto } from "../support/moto";

const BUCKET = "replay-store-test";
const OPTIONS: ReplayOptions = { window: { start: null, end: null }, offsetBase: null };
// A chat, and messages that hardly compress, so that replay.json is over 5 MiB gzipped (lib-storage's smallest part).
const LINES = [
  ...Array.from(
    syntheticChatLog({
      records: 20_000,
      start: new Date("2024-01-05T14:00:00Z"),
      durationMs: 20 * 60_000,
      seed: 7,
    }),
    (record) => record.line,
  ),
  ...incompressibleMessages(5_000, "2024-01-05T14:00:00Z", "noise"),
];
const MIB = 2 ** 20;

/** A run store whose runs break off halfway through their first chunk: the merge fails mid-write. */
class BreakingRunStore extends MemoryRunStore {
  override async *get(name: string): AsyncIterable<Buffer> {
    for await (const chunk of super.get(name)) {
      yield chunk.subarray(0, chunk.length >> 1);
      throw new Error(`the disk holding ${name} went away`);
    }
  }
}

/** The replay of LINES, its kept items spilled as several runs in `store`. */
async function replayIn(store: MemoryRunStore) {
  const engine = new ReplayEngine(OPTIONS, store, { spillBytes: 256 * 1024 });
  for (let i = 0; i < LINES.length; i += 1000) await engine.addRaw(LINES.slice(i, i + 1000));
  return engine.finish();
}

describe("ReplayStore: a replay's files in S3, gzipped (moto)", () => {
  let moto: Moto;
  let s3: S3Client;
  let plain: Map<string, Buffer>;
  let folders = 0;

  beforeAll(async () => {
    moto = await startMoto();
    // The client the archive uses, with its checksum settings.
    s3 = createAwsClients({ ...MOTO_ENV, AWS_ENDPOINT_URL: moto.endpoint }).s3;
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    plain = new Map();
    for await (const part of replayFiles(await replayIn(new MemoryRunStore()), 60_000, { encoding: PLAIN })) {
      const name = part.file === "segment" ? part.key : part.file;
      plain.set(
        name,
        Buffer.concat([plain.get(name) ?? Buffer.alloc(0), "chunk" in part ? part.chunk : part.body]),
      );
    }
  }, 60_000);

  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
  });

  /** Every object below `folder`, by name relative to it. */
  async function stored(folder: string) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: folder }));
    const objects = new Map<
      string,
      { encoding: string | undefined; etag: string; crc32: string | undefined; bytes: Buffer }
    >();
    for (const { Key } of listed.Contents ?? []) {
      const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key, ChecksumMode: "ENABLED" }));
      const bytes = Buffer.from(
        await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
      objects.set((Key as string).slice(folder.length), {
        encoding: object.ContentEncoding,
        etag: object.ETag ?? "",
        crc32: object.ChecksumCRC32,
        bytes,
      });
    }
    return objects;
  }

  // A multipart upload's ETag ends in -<parts>, and so does its CRC32 composed from its parts'.
  for (const [how, partBytes, etag, crc32] of [
    ["with one PutObject each", undefined, /^"[0-9a-f]+"$/, /^[A-Za-z0-9+/]{6}==$/],
    ["through multipart uploads of 5 MiB parts", 5 * MIB, /-2"$/, /^[A-Za-z0-9+/]{6}==-2$/],
  ] as const) {
    it(`writes every file ${how}, each a gzip of the bytes written plain`, async () => {
      // Prepare
      const folder = `f${++folders}/`;
      const store = new ReplayStore(s3, { segmentMs: 60_000, ...(partBytes && { partBytes }) });

      // Act
      const bytes = await store.write(
        { bucket: BUCKET, key: `${folder}replay.json` },
        await replayIn(new MemoryRunStore()),
      );

      // Assess
      const objects = await stored(folder);
      expect([...objects.keys()].sort()).toEqual([...plain.keys()].sort());
      for (const [name, object] of objects) {
        expect(object.encoding, name).toBe("gzip");
        expect(gunzipSync(object.bytes).equals(plain.get(name) as Buffer), name).toBe(true);
      }
      expect(bytes).toBe([...objects.values()].reduce((sum, object) => sum + object.bytes.length, 0));
      expect(objects.get("replay.json")?.bytes.length).toBeGreaterThan(5 * MIB);
      expect(objects.get("replay.json")?.etag).toMatch(etag);
      expect(objects.get("replay.json")?.crc32).toMatch(crc32);
    });

    it(`leaves no replay.json, transcript nor index when the merge fails mid-write ${how}`, async () => {
      // Prepare
      const folder = `f${++folders}/`;
      const store = new ReplayStore(s3, { segmentMs: 60_000, ...(partBytes && { partBytes }) });

      // Act
      const write = store.write(
        { bucket: BUCKET, key: `${folder}replay.json` },
        await replayIn(new BreakingRunStore()),
      );

      // Assess
      await expect(write).rejects.toThrow(/went away/);
      const names = [...(await stored(folder)).keys()];
      expect(names.filter((name) => !name.startsWith("segments/"))).toEqual([]);
      const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: folder }));
      expect(uploads.Uploads ?? []).toEqual([]);
    });
  }
});
