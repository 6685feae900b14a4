import { availableParallelism } from "node:os";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { type PreparedBatch, type PrepareWindow, prepareLines } from "../replay/prepare";

const ROLE = "ivs-chat-archiver:prepare";

/**
 * Worker threads that prepare batches of newline-delimited records (JSON.parse, validation,
 * rendering: the costly, order-free part of a replay) while the main thread reads the input
 * and applies the order-dependent rules. Results come back in submission order.
 */
export class PreparePool {
  private readonly workers: Worker[];
  private readonly waiting: { resolve(records: PreparedBatch): void; reject(error: Error): void }[][];
  private next = 0;

  constructor(window: PrepareWindow, transcript: boolean) {
    // Requiring this module (or the bundle holding it) in a worker starts the worker side below;
    // run from source (`npm run cli`), the worker needs tsx's require hook first.
    const hook = __filename.endsWith(".ts") ? 'require("tsx/cjs");' : "";
    const code = `${hook}require(${JSON.stringify(__filename)});`;
    this.workers = Array.from(
      { length: availableParallelism() },
      () => new Worker(code, { eval: true, workerData: { role: ROLE, window, transcript } }),
    );
    this.waiting = this.workers.map(() => []);
    this.workers.forEach((worker, i) => {
      const queue = this.waiting[i] ?? [];
      worker.on("message", (records: PreparedBatch) => queue.shift()?.resolve(records));
      worker.on("error", (error) => {
        for (const pending of queue.splice(0)) pending.reject(error);
      });
    });
  }

  /** Prepares the whole lines in `bytes` (UTF-8); memory it owns whole is moved to the worker, not copied. */
  submit(bytes: Uint8Array): Promise<PreparedBatch> {
    const i = this.next++ % this.workers.length;
    return new Promise((resolve, reject) => {
      this.waiting[i]?.push({ resolve, reject });
      const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      const own = owned ? bytes : new Uint8Array(bytes);
      this.workers[i]?.postMessage(own, [own.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  const { window, transcript } = workerData as { window: PrepareWindow; transcript: boolean };
  parentPort?.on("message", (bytes: Uint8Array) => {
    const batch = prepareLines(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      window,
      transcript,
    );
    parentPort?.postMessage(batch, [
      batch.outcomes.buffer,
      batch.idEnds.buffer,
      batch.items.buffer,
      batch.itemEnds.buffer,
    ] as ArrayBuffer[]);
  });
}
