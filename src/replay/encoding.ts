import { promisify } from "node:util";
import { constants, crc32, deflateRaw } from "node:zlib";

const deflateRawAsync = promisify(deflateRaw);

// Level 2: within 3% of level 4's size in less time; the write is on the archive's critical path.
const LEVEL = 2;
// Shorter pieces (separators, envelopes) are stored as they are: compressing them saves nothing.
const STORE_BELOW = 512;
const EMPTY = Buffer.alloc(0);

/**
 * Bytes encoded on their own, to be placed anywhere in any file of the same encoding: a piece
 * shared by two files (a segment's items are also part of `replay.json`) is encoded once.
 */
export interface Piece {
  size: number;
  crc: number;
  encoded: Buffer | Promise<Buffer>;
}

/** How the files of a replay are written: as they are, or gzipped from pieces. */
export interface Encoding {
  piece(bytes: Buffer): Piece;
  /** What a file starts with. */
  readonly head: Buffer;
  /** What a file ends with, once `sum` has added up its pieces. */
  tail(sum: Sum): Buffer;
}

/** Files as they are. */
export const PLAIN: Encoding = {
  piece: (bytes) => ({ size: bytes.length, crc: 0, encoded: bytes }),
  head: EMPTY,
  tail: () => EMPTY,
};

/**
 * gzip files put together from pieces compressed on their own, in zlib's thread pool, as pigz
 * does: each piece is a raw deflate stream ended by a sync flush (byte-aligned, not final), so
 * pieces concatenate into one deflate stream; the file is a single standard gzip member (header,
 * the pieces, an empty final block, the CRC-32 and size of the whole).
 */
export const GZIP: Encoding = {
  piece(bytes) {
    const crc = crc32(bytes);
    if (bytes.length < STORE_BELOW) return { size: bytes.length, crc, encoded: stored(bytes) };
    const encoded = deflateRawAsync(bytes, {
      level: LEVEL,
      finishFlush: constants.Z_SYNC_FLUSH,
      // Output in large chunks: zlib's 16 KiB costs this thread a callback for each (twice the time).
      chunkSize: Math.min(Math.max(bytes.length, 1 << 14), 1 << 20),
    });
    // Its failure is reported where it is awaited; until then it must not go unhandled.
    encoded.catch(() => undefined);
    return { size: bytes.length, crc, encoded };
  },
  // ID1 ID2, deflate, no flags, no modification time, no extra flags, unknown system.
  head: Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]),
  tail(sum) {
    const tail = Buffer.alloc(10);
    // An empty final block with fixed codes (BFINAL 1, BTYPE 01, end of block).
    tail[0] = 0x03;
    tail[1] = 0x00;
    tail.writeUInt32LE(sum.crc, 2);
    tail.writeUInt32LE(sum.size % 2 ** 32, 6);
    return tail;
  },
};

/** A non-final stored deflate block holding `bytes` (under 64 KiB) as they are. */
function stored(bytes: Buffer): Buffer {
  const block = Buffer.allocUnsafe(5 + bytes.length);
  block[0] = 0; // BFINAL 0, BTYPE 00; the rest of the byte is padding
  block.writeUInt16LE(bytes.length, 1);
  block.writeUInt16LE(~bytes.length & 0xffff, 3);
  bytes.copy(block, 5);
  return block;
}

/** The running size and CRC-32 of the pieces of one file, in file order. */
export class Sum {
  crc = 0;
  size = 0;

  add(piece: { size: number; crc: number }): void {
    this.crc = crc32Combine(this.crc, piece.crc, piece.size);
    this.size += piece.size;
  }
}

// CRC-32 (reflected, polynomial 0xedb88320) of data followed by `n` zero bytes, after zlib's
// crc32_combine: products modulo the polynomial, with x^(2^k) precomputed.
const POLY = 0xedb88320;

function multModP(a: number, b: number): number {
  let m = 1 << 31;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

const X2N: number[] = [1 << 30];
for (let k = 1; k < 32; k++) X2N.push(multModP(X2N[k - 1] as number, X2N[k - 1] as number));

/** x^(n * 2^k) modulo the polynomial. */
function x2nModP(n: number, k: number): number {
  let p = 1 << 31;
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31] as number, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** The CRC-32 of A followed by B, from CRC-32(A), CRC-32(B) and B's length. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(x2nModP(lengthB, 3), crcA) ^ crcB) >>> 0;
}
