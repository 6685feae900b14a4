import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * The bytes of a stream (a file, standard input, an S3 object's body), gunzipped when they start
 * with gzip's magic bytes, whatever the name says. Read to its end, given up on or stopped, the
 * stream is released. Damaged gzip fails with zlib's error (`code` `Z_...`); bytes after the end
 * of the gzip data with `Z_TRAILING_DATA`.
 */
export async function* maybeGunzipped(body: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const iterator = body[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  async function* all() {
    try {
      if (head.length > 0) yield head;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        yield asBuffer(next.value);
      }
    } finally {
      await iterator.return?.();
    }
  }
  while (head.length < 2) {
    const next = await iterator.next();
    if (next.done) break;
    head = head.length === 0 ? asBuffer(next.value) : Buffer.concat([head, next.value]);
  }
  if (head.length === 0) return;
  if (!(head[0] === 0x1f && head[1] === 0x8b)) {
    yield* all();
    return;
  }
  // Larger output chunks than zlib's 16 KiB: fewer callbacks.
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  const source = all();
  const piping = pipeline(source, gunzip);
  piping.catch(() => undefined); // the same error ends the iteration below
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
    await piping;
  } catch (error) {
    // gunzip ended before its input did: bytes after the end of the gzip data.
    if ((error as { code?: string }).code === "ABORT_ERR") {
      throw Object.assign(new Error("data after the end of the gzip stream"), { code: "Z_TRAILING_DATA" });
    }
    throw error;
  } finally {
    await source.return(undefined);
  }
}
