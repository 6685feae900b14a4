import { createWriteStream } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { InputError, OutputError, ValidationError } from "../errors";
import { FileRunStore } from "../local/fileRuns";
import {
  DEFAULT_SEGMENT_MS,
  type Instant,
  parseInstant,
  parseTimeline,
  playlistTimeline,
  REPLAY_FILES,
  type Replay,
  type ReplayCounts,
  ReplayEngine,
  type ReplayOptions,
  type RunStore,
  replayFiles,
  type TimelinePiece,
} from "../replay";
import type { PreparedBatch } from "../replay/prepare";
import { describe, fileSources, type RecordBatch, readAll, stdinSource } from "./input";
import {
  close,
  outDirectory,
  outTarget,
  removedIfInterrupted,
  send,
  uninterrupted,
  whyNot,
  writeOut,
} from "./output";
import { PreparePool } from "./preparePool";

/** Options of `replay`, as parsed from the command line. */
export interface ReplayCommand {
  files: string[];
  start?: string;
  end?: string;
  base?: string;
  timeline?: string;
  playlist?: string;
  out?: string;
  outDir?: string;
}

/** Parses a time option; the replay writes it to the millisecond, so it may not be finer. */
function timeOption(flag: string, value: string | undefined): Instant | null {
  if (value === undefined) return null;
  const at = parseInstant(value);
  if (at === undefined) {
    throw new ValidationError(
      `--${flag} "${value}" is not an ISO 8601 time with a zone, such as 2024-01-05T14:30:00Z`,
    );
  }
  if (at.sub !== "") {
    throw new ValidationError(`--${flag} "${value}" is finer than a millisecond: give it to the millisecond`);
  }
  return { ms: at.ms, sub: "" };
}

/** Writes the replay to standard output; a reader that went away (a closed pipe) is said in one line. */
async function writeStdout(replay: Replay, stdout: Writable): Promise<void> {
  stdout.on("error", () => undefined); // seen by send()
  try {
    for await (const chunk of replay.chunks()) await send(stdout, chunk);
    // Until the last bytes are out: a reader that left meanwhile is still heard of.
    await new Promise<void>((resolve, reject) =>
      stdout.write("", (error) => (error ? reject(error) : resolve())),
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EPIPE" || code === "ERR_STREAM_DESTROYED") {
      throw new OutputError("standard output was closed before the whole replay was written");
    }
    throw new OutputError(`cannot write to standard output: ${whyNot(error)}`, { cause: error });
  }
}

async function readText(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new InputError(`cannot read --${flag} ${path}: ${describe(error)}`, { cause: error });
  }
}

/** The timeline of `--timeline FILE` (JSON pieces) or `--playlist FILE` (an HLS media playlist with program dates). */
async function timelineOption(command: ReplayCommand): Promise<TimelinePiece[] | undefined> {
  if (command.timeline !== undefined && command.playlist !== undefined) {
    throw new ValidationError("--timeline and --playlist both give the timeline: use one");
  }
  if (command.timeline !== undefined) {
    const text = await readText("timeline", command.timeline);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ValidationError(`--timeline ${command.timeline} is not JSON`);
    }
    const pieces = parseTimeline(json);
    if (typeof pieces === "string") throw new ValidationError(`--timeline ${command.timeline} ${pieces}`);
    return pieces;
  }
  if (command.playlist !== undefined) {
    const text = await readText("playlist", command.playlist);
    const { timeline: pieces, problem } = playlistTimeline(text);
    if (problem !== undefined) throw new ValidationError(`--playlist ${command.playlist} ${problem}`);
    if (pieces === undefined) {
      throw new ValidationError(
        `--playlist ${command.playlist} has no #EXT-X-PROGRAM-DATE-TIME: its media times cannot be placed in wall-clock time`,
      );
    }
    return pieces;
  }
  return undefined;
}

/**
 * Writes every file of SPEC sections 3 and 4 into `dir` (created if missing): staged in a hidden
 * folder beside them, then swapped in. The old index goes aside first and the new one comes in
 * last, so no index ever names a segment of another run; a failed swap puts the old files back.
 */
async function writeDirectory(replay: Replay, dir: string): Promise<void> {
  const staging = await mkdtemp(join(dir, ".replay-")).catch((error) => {
    throw new OutputError(`cannot write --out-dir ${dir}: ${whyNot(error)}`, { cause: error });
  });
  const forget = removedIfInterrupted(staging);
  try {
    await mkdir(join(staging, "segments"));
    const streams = {
      "replay.json": createWriteStream(join(staging, REPLAY_FILES.replay)),
      "replay.vtt": createWriteStream(join(staging, REPLAY_FILES.transcript)),
    };
    for await (const part of replayFiles(replay, DEFAULT_SEGMENT_MS, { scratchRoot: staging })) {
      if (part.file === "segment") await writeFile(join(staging, part.key), part.body);
      else if (part.file === "index.json") await writeFile(join(staging, REPLAY_FILES.index), part.body);
      else await send(streams[part.file], part.chunk);
    }
    for (const stream of Object.values(streams)) await close(stream);
    await uninterrupted(() => swapIn(staging, dir));
  } catch (error) {
    if (error instanceof OutputError) throw error;
    throw new OutputError(`cannot write --out-dir ${dir}: ${whyNot(error)}`, { cause: error });
  } finally {
    forget();
    // What is left here is the run's own: the earlier files never come in here.
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
}

const SEGMENT_NAME = /^-?\d+\.json$/;

/**
 * Why the replay files in `dir` are not all a replay's to replace (a folder named replay.json, a
 * segments folder holding other files), or undefined.
 */
async function notReplaceable(dir: string): Promise<string | undefined> {
  const { index, replay: json, transcript } = REPLAY_FILES;
  const kind = async (name: string) => {
    const info = await lstat(join(dir, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    return info === undefined
      ? "none"
      : info.isDirectory()
        ? "folder"
        : info.isSymbolicLink()
          ? "link"
          : "file";
  };
  for (const name of [index, json, transcript]) {
    if ((await kind(name)) === "folder") return `its ${name} is a folder`;
  }
  const segments = await kind("segments");
  if (segments === "none") return undefined;
  if (segments !== "folder") return `its segments is a ${segments}, not a folder`;
  for (const entry of await readdir(join(dir, "segments"), { withFileTypes: true })) {
    if (!entry.isFile() || !SEGMENT_NAME.test(entry.name))
      return `its segments folder holds ${entry.name}, not a segment`;
  }
  return undefined;
}

/** Refuses an `--out-dir` whose replay files are not all a replay's: they are not ours to replace. */
async function checkReplaceable(dir: string): Promise<void> {
  const why = await notReplaceable(dir);
  if (why !== undefined) {
    throw new OutputError(`cannot write --out-dir ${dir}: ${why}, not a replay's: it is left as it is`);
  }
}

/**
 * Moves the files staged in `staging` into `dir`; the ones they replace go to a hidden folder of
 * their own in `dir`, removed once the new files are in or the old ones back. Old files that could
 * not be put back stay there, and the error says where.
 */
async function swapIn(staging: string, dir: string): Promise<void> {
  const { index, replay: json, transcript } = REPLAY_FILES;
  await checkReplaceable(dir);
  const old = await mkdtemp(join(dir, ".replay-earlier-"));
  const done: { from: string; to: string }[] = [];
  const move = async (from: string, to: string) => {
    try {
      await rename(from, to);
      done.push({ from, to });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || from.startsWith(staging)) throw error;
    }
  };
  try {
    for (const name of [index, "segments", transcript, json]) await move(join(dir, name), join(old, name));
    for (const name of ["segments", transcript, json, index])
      await move(join(staging, name), join(dir, name));
  } catch (error) {
    let restored = true;
    for (const { from, to } of done.reverse()) {
      await rename(to, from).catch(() => {
        restored = false;
      });
    }
    if (!restored) {
      throw new OutputError(
        `cannot write --out-dir ${dir}: ${whyNot(error)}; the earlier files are in ${old}`,
        {
          cause: error,
        },
      );
    }
    await rm(old, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
  await rm(old, { recursive: true, force: true }).catch(() => undefined);
}

/** Builds the replay with worker threads preparing batches while this thread applies them in order. */
async function buildInParallel(
  batches: AsyncIterable<RecordBatch>,
  options: ReplayOptions,
  store: RunStore,
  transcript: boolean,
): Promise<{ replay: Replay; notUtf8: number }> {
  const engine = new ReplayEngine(options, store, { transcript });
  let notUtf8 = 0;
  const pool = new PreparePool(options.window, transcript);
  // Results are applied in input order; a bounded number in flight bounds memory.
  const inFlight: Promise<PreparedBatch>[] = [];
  const applyOldest = async () => {
    const batch = await inFlight.shift();
    if (batch === undefined) return;
    notUtf8 += batch.notUtf8;
    await engine.add(batch);
  };
  try {
    for await (const batch of batches) {
      if ("lines" in batch) inFlight.push(pool.submit(batch.lines));
      else {
        while (inFlight.length > 0) await applyOldest();
        await engine.addRaw(batch.records);
      }
      if (inFlight.length >= 8) await applyOldest();
    }
    while (inFlight.length > 0) await applyOldest();
  } finally {
    await pool.close();
  }
  return { replay: engine.finish(), notUtf8 };
}

/** One line for standard error: what was read, written and left out. */
function summary(counts: ReplayCounts, skipReasons: Partial<Record<string, number>>): string {
  const reasons = Object.entries(skipReasons)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(", ");
  return (
    `replay: ${counts.records} records read; ${counts.messages} messages and ${counts.events} events written; ` +
    `${counts.deleted} deleted, ${counts.duplicates} duplicates, ${counts.skipped} skipped` +
    (reasons ? ` (${reasons})` : "")
  );
}

/** `replay [FILE ...] [--start ISO] [--end ISO] [--base ISO] [--out FILE]`. */
export async function replayCommand(
  command: ReplayCommand,
  io: { stdin: Readable; stdout: Writable; stderr: Writable },
): Promise<void> {
  const start = timeOption("start", command.start);
  const end = timeOption("end", command.end);
  const base = timeOption("base", command.base);
  if (start !== null && end !== null && end.ms < start.ms) {
    throw new ValidationError(`--end ${command.end} is before --start ${command.start}`);
  }
  if (command.out !== undefined && command.outDir !== undefined) {
    throw new ValidationError("--out and --out-dir both say where to write: use one");
  }
  const timeline = await timelineOption(command);
  const sources =
    command.files.length > 0 ? await fileSources(command.files, io.stdin) : [stdinSource(io.stdin)];
  // Where the output goes is checked before any work, so a bad path costs nothing and writes
  // nothing; `--out -` is standard output, as `-` is standard input.
  const toFile = command.out !== undefined && command.out !== "-";
  const target = toFile ? await outTarget(command.out as string) : undefined;
  if (command.outDir !== undefined) {
    await outDirectory(command.outDir);
    await checkReplaceable(command.outDir);
  }
  // Kept items spill to the local disk as sorted runs, so memory does not grow with the chat.
  const store = await FileRunStore.create();
  const forget = removedIfInterrupted(store.dir);
  try {
    const { replay, notUtf8 } = await buildInParallel(
      readAll(sources),
      { window: { start, end }, offsetBase: base ?? start, ...(timeline && { timeline }) },
      store,
      command.outDir !== undefined,
    );
    if (command.outDir !== undefined) await writeDirectory(replay, command.outDir);
    else if (target === undefined) await writeStdout(replay, io.stdout);
    else await writeOut(target, replay.chunks());
    const invalid =
      notUtf8 === 0
        ? ""
        : `; ${notUtf8} lines were not valid UTF-8 (read with U+FFFD in place of the bad bytes)`;
    io.stderr.write(`${summary(replay.counts, replay.skipReasons)}${invalid}\n`);
  } finally {
    try {
      await store.close();
    } finally {
      forget();
    }
  }
}
