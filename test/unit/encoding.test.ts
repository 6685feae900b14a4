import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { crc32, gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32Combine, type Encoding, GZIP, type Piece, PLAIN, Sum } from "../../src/replay/encoding";

/** A file of `pieces` in `encoding`: head, the pieces in order, tail. */
async function fileOf(encoding: Encoding, pieces: readonly Piece[]): Promise<Buffer> {
  const sum = new Sum();
  const parts = [encoding.head];
  for (const piece of pieces) {
    sum.add(piece);
    parts.push(await piece.encoded);
  }
  parts.push(encoding.tail(sum));
  return Buffer.concat(parts);
}

/** What Python's gzip module reads from `bytes`: a reader that is not zlib's own. */
function pythonGunzip(bytes: Buffer): Buffer {
  const result = spawnSync(
    "python3",
    ["-c", "import gzip, sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))"],
    { input: bytes, maxBuffer: 64 * 2 ** 20 },
  );
  if (result.status !== 0) throw new Error(`python3 gzip: ${result.stderr.toString()}`);
  return result.stdout;
}

describe("crc32Combine", () => {
  it("gives the CRC-32 of two buffers one after the other from theirs", () => {
    for (const [a, b] of [
      [0, 0],
      [0, 7],
      [9, 0],
      [1, 1],
      [300, 65_537],
      [100_000, 3],
    ] as const) {
      // Prepare
      const first = randomBytes(a);
      const second = randomBytes(b);

      // Act
      const combined = crc32Combine(crc32(first), crc32(second), b);

      // Assess
      expect(combined, `${a} + ${b} bytes`).toBe(crc32(Buffer.concat([first, second])));
    }
  });
});

describe("GZIP: files put together from pieces compressed on their own", () => {
  const text = (n: number) =>
    Buffer.from(Array.from({ length: n }, (_, i) => `{"n":${i},"t":"chat"}`).join(",\n"));
  const sources = [
    Buffer.from('{"messages":['),
    text(20_000),
    Buffer.alloc(0),
    randomBytes(70_000),
    Buffer.from("]}\n"),
  ];

  it("makes one standard gzip member that zlib and Python both read back as the bytes given", async () => {
    // Act
    const gzipped = await fileOf(
      GZIP,
      sources.map((bytes) => GZIP.piece(bytes)),
    );

    // Assess
    const plain = Buffer.concat(sources);
    expect(gunzipSync(gzipped).equals(plain)).toBe(true);
    expect(pythonGunzip(gzipped).equals(plain)).toBe(true);
    expect(gzipped.length).toBeLessThan(plain.length);
  });

  it("places one piece in two files, each whole", async () => {
    // Prepare: a segment's items are also part of replay.json
    const shared = GZIP.piece(text(5_000));
    const first = [GZIP.piece(Buffer.from("[")), shared, GZIP.piece(Buffer.from("]"))];
    const second = [
      GZIP.piece(Buffer.from('{"all":[')),
      GZIP.piece(text(300)),
      GZIP.piece(Buffer.from(",\n")),
      shared,
    ];

    // Act
    const files = [await fileOf(GZIP, first), await fileOf(GZIP, [...second, GZIP.piece(Buffer.from("]}"))])];

    // Assess
    const items = text(5_000).toString();
    expect(gunzipSync(files[0] as Buffer).toString()).toBe(`[${items}]`);
    expect(gunzipSync(files[1] as Buffer).toString()).toBe(`{"all":[${text(300).toString()},\n${items}]}`);
  });

  it("writes an empty file as an empty gzip, and PLAIN pieces as they are", async () => {
    expect(gunzipSync(await fileOf(GZIP, [])).length).toBe(0);
    expect(
      (
        await fileOf(
          PLAIN,
          sources.map((bytes) => PLAIN.piece(bytes)),
        )
      ).equals(Buffer.concat(sources)),
    ).toBe(true);
  });
});
