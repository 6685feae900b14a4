import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { CreateBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { hourFolder, ivsS3Folder, type S3Location } from "../archive/chat";

const gzipAsync = promisify(gzip);

/** How the S3 logging destination batches a room's records into objects. */
export interface IvsChatObjectOptions {
  /** Log time each object gathers; default 5 minutes. */
  objectMs?: number;
  /** How long after its last record's window an object is delivered (its hour folder); default 5 minutes. */
  deliveryMs?: number;
  /** Create the bucket first. */
  create?: boolean;
}

/**
 * Writes chat records (in log order) to S3 as IVS Chat's S3 logging destination does: gzip,
 * one record per line, gathered by log time into objects that land in the UTC hour folder of their
 * delivery, below the room's folder under `base`. Resolves to the keys written. For tests, the
 * bench and local runs; the archive relies only on the hour folders, not on these names.
 */
export async function putIvsChatObjects(
  s3: S3Client,
  base: S3Location,
  roomArn: string,
  records: Iterable<{ timestampMs: number; line: string }>,
  { objectMs = 5 * 60_000, deliveryMs = 5 * 60_000, create = false }: IvsChatObjectOptions = {},
): Promise<string[]> {
  if (create) await s3.send(new CreateBucketCommand({ Bucket: base.bucket }));
  const folder = ivsS3Folder(base, roomArn);
  const name = folder.prefix.split("/").slice(-7, -1); // AWSLogs, account, IVSChatLogs, 1.0, region, room_<id>
  const [, account, , version, region, room] = name as [string, string, string, string, string, string];
  const keys: string[] = [];
  let lines: string[] = [];
  let window: number | undefined;
  const flush = async () => {
    if (window === undefined || lines.length === 0) return;
    const deliveredAt = (window + 1) * objectMs + deliveryMs;
    const stamp = new Date(deliveredAt).toISOString().replace(/[-:T]/g, "").slice(0, 12);
    const key = `${hourFolder(folder.prefix, deliveredAt)}${account}_IVSChatLogs_${version}_${region}_${room}_${stamp}_${keys.length.toString(36).padStart(4, "0")}.log.gz`;
    await s3.send(
      new PutObjectCommand({
        Bucket: folder.bucket,
        Key: key,
        Body: await gzipAsync(`${lines.join("\n")}\n`),
      }),
    );
    keys.push(key);
    lines = [];
  };
  for (const record of records) {
    const at = Math.floor(record.timestampMs / objectMs);
    if (at !== window) {
      await flush();
      window = at;
    }
    lines.push(record.line);
  }
  await flush();
  return keys;
}
