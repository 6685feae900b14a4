import { createReadStream, createWriteStream, readdirSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { RunStore } from "../replay";
import { EVENTS_SCRATCH_PREFIX } from "../replay/files";

const DEFAULT_CHUNK_BYTES = 2 ** 20;
const PREFIX = "ivs-chat-runs-";

/** Sorted runs in a temporary directory of the local disk (the offline command, Lambda's /tmp), removed by `close`. */
export class FileRunStore implements RunStore {
  private readonly names = new Set<string>();

  private constructor(readonly dir: string) {}

  static async create(root: string = tmpdir()): Promise<FileRunStore> {
    return new FileRunStore(await mkdtemp(join(root, PREFIX)));
  }

  /**
   * Removes the run stores, and the folders a replay's events are staged in, left in `root` by
   * runs that ended without removing theirs (a Lambda run killed at its timeout or out of memory
   * keeps its /tmp for the next run in the environment). Only where no other run can be using
   * one: a Lambda environment runs one event at a time.
   */
  static removeLeftovers(root: string = tmpdir()): string[] {
    const left = readdirSync(root).filter(
      (name) => name.startsWith(PREFIX) || name.startsWith(EVENTS_SCRATCH_PREFIX),
    );
    for (const name of left) rmSync(join(root, name), { recursive: true, force: true });
    return left;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  async put(name: string, chunks: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<void> {
    await writeFile(join(this.dir, name), chunks);
    this.names.add(name);
  }

  /** Stores a stream (a download) without holding it in memory. */
  async putStream(name: string, body: Readable): Promise<void> {
    await pipeline(body, createWriteStream(join(this.dir, name)));
    this.names.add(name);
  }

  get(name: string, chunkBytes = DEFAULT_CHUNK_BYTES): Readable {
    return createReadStream(join(this.dir, name), { highWaterMark: chunkBytes });
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
