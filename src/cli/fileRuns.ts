import { createReadStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunStore } from "../replay";

/** Sorted runs in a temporary directory of the local disk, removed by `close`. */
export class FileRunStore implements RunStore {
  private constructor(readonly dir: string) {}

  static async create(): Promise<FileRunStore> {
    return new FileRunStore(await mkdtemp(join(tmpdir(), "ivs-chat-replay-")));
  }

  async put(name: string, chunks: Iterable<Buffer>): Promise<void> {
    await writeFile(join(this.dir, name), chunks);
  }

  get(name: string): AsyncIterable<Buffer> {
    // Small reads: the merge holds one buffer per run, and a long chat has many runs.
    return createReadStream(join(this.dir, name), { highWaterMark: 1 << 17 });
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
