import { parseArgs } from "node:util";
import { syntheticChatLog } from "../src/cli/synthetic";
import { FileRunStore } from "../src/local/fileRuns";
import { parseInstant, ReplayEngine, type ReplayOptions } from "../src/replay";

const SLICE = 2 ** 32;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)}`;

/** RSS and where it is: the JS heap, and array buffers (id pages, runs, batches). */
function memory(): string {
  const m = process.memoryUsage();
  return `[rss ${mib(m.rss)} MiB: heap ${mib(m.heapUsed)}, array buffers ${mib(m.arrayBuffers)}]`;
}

/**
 * `npm run bench -- engine`: the archive's engine (unordered, 32 MiB runs) fed a long broadcast
 * as ten concurrent slices would deliver it, with checkpoints saved and restored every
 * `--checkpoint-every` records, its runs on the local disk (moto cannot hold gigabytes of runs).
 * Reports peak RSS, each save and restore time and size, and the time to merge the replay.
 */
export async function engineBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      records: { type: "string", default: "17000000" },
      hours: { type: "string", default: "48" },
      "checkpoint-every": { type: "string", default: "4000000" },
    },
  });
  const records = Number(values.records);
  const every = Number(values["checkpoint-every"]);
  const start = Date.parse("2024-01-05T14:30:00.000Z");
  const end = start + Number(values.hours) * 3_600_000;
  const instant = (ms: number) => parseInstant(new Date(ms).toISOString()) ?? null;
  const options: ReplayOptions = {
    window: { start: instant(start), end: instant(end) },
    offsetBase: instant(start),
  };
  const engineOptions = { unordered: true, spillBytes: 32 * 2 ** 20, names: "bench" };
  const store = await FileRunStore.create();
  let engine: ReplayEngine | undefined = new ReplayEngine(options, store, engineOptions);
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, 200);
  const started = Date.now();
  const lines: string[] = [];
  let slice = 0;
  let inSlice = 0;
  let read = 0;
  const checkpoints: string[] = [];
  // Ten slices, as the archive reads a broadcast: each slice's records in order, pages of 3,000.
  const perSlice = Math.ceil(records / 10);
  for (const record of syntheticChatLog({
    records,
    start: new Date(start),
    durationMs: end - start,
    seed: 11,
  })) {
    lines.push(record.line);
    if (lines.length < 3000) continue;
    await feed();
  }
  await feed();
  async function feed(): Promise<void> {
    if (lines.length === 0) return;
    if (engine === undefined) throw new Error("no engine");
    await engine.addRaw(lines.splice(0), slice * SLICE + inSlice);
    inSlice += 3000;
    read += 3000;
    if (inSlice >= perSlice) {
      slice++;
      inSlice = 0;
    }
    if (read % every < 3000 && read >= every) {
      const saving = Date.now();
      const storedBefore = engine.storedBytes;
      const state = await engine.save();
      const saveMs = Date.now() - saving;
      const bytes = engine.storedBytes - storedBefore + JSON.stringify(state).length;
      // A new run starts without the last one's memory: let the old engine go before restoring.
      engine = undefined;
      const restoring = Date.now();
      engine = await ReplayEngine.restore(options, store, engineOptions, state);
      const line = `${memory()} checkpoint at ${read} records: saved ${(bytes / 2 ** 20).toFixed(0)} MiB in ${(saveMs / 1000).toFixed(2)} s, restored in ${((Date.now() - restoring) / 1000).toFixed(2)} s`;
      checkpoints.push(line);
      console.log(line);
    }
  }
  const readS = (Date.now() - started) / 1000;
  console.log(`${memory()} read done`);
  const merging = Date.now();
  let bytes = 0;
  if (engine === undefined) throw new Error("no engine");
  const replay = engine.finish();
  for await (const chunk of replay.chunks()) bytes += chunk.length;
  clearInterval(timer);
  sample();
  console.log(`${memory()} merged`);
  await store.close();
  console.log(
    `engine ${records} records over ${values.hours} h: read ${readS.toFixed(0)} s, replay of ${(bytes / 2 ** 20).toFixed(0)} MiB merged in ${((Date.now() - merging) / 1000).toFixed(0)} s, peak RSS ${(Math.max(peak, process.resourceUsage().maxRSS * 1024) / 2 ** 20).toFixed(0)} MiB (the process's high-water mark); counts ${JSON.stringify(replay.counts)}`,
  );
}
