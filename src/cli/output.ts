import { randomUUID } from "node:crypto";
import { createWriteStream, rmSync } from "node:fs";
import {
  access,
  chmod,
  constants,
  lstat,
  mkdir,
  readlink,
  realpath,
  rename,
  rm,
  stat,
} from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { OutputError } from "../errors";

// Bytes of `--out` buffered while earlier ones are written.
const OUT_BUFFER_BYTES = 4 * 2 ** 20;

/**
 * Where `--out PATH` writes. A regular file (or none yet) is replaced atomically: written beside
 * its real path (a symbolic link is written through, and stays a link) and renamed over it, so a
 * failed run leaves what was there. Anything else that is there already (a FIFO, a device) is
 * written to as it is: it cannot be replaced, and must not be.
 */
export type OutTarget =
  | { kind: "file"; path: string; real: string; mode?: number }
  | { kind: "stream"; path: string; real: string };

/** Why a write failed, in words, for the user's own path. */
export function whyNot(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return "no such directory";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    case "EISDIR":
      return "it is a directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "no space left on device";
    case "EDQUOT":
      return "disk quota exceeded";
    default:
      return (error as Error).message ?? String(error);
  }
}

/** The path a symbolic link chain ends at, whether or not that exists. */
async function followLinks(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    // A link to a file not there yet: follow it by hand (a few hops; a loop fails below).
    let at = resolve(path);
    for (let hops = 0; hops < 40; hops++) {
      const info = await lstat(at).catch(() => undefined);
      if (!info?.isSymbolicLink()) return at;
      at = resolve(dirname(at), await readlink(at));
    }
    return at;
  }
}

/** Checks `--out PATH` before any work: what is there, and that its folder takes a new file. */
export async function outTarget(path: string): Promise<OutTarget> {
  if (path.trim() === "") throw new OutputError(`--out "${path}" names no file`);
  const fail = (why: string) => new OutputError(`cannot write --out ${path}: ${why}`);
  const real = await followLinks(path);
  const found = await stat(real).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw fail(whyNot(error));
  });
  if (found?.isDirectory()) throw fail("it is a directory");
  if (found !== undefined && !found.isFile()) {
    await access(real, constants.W_OK).catch((error) => {
      throw fail(whyNot(error));
    });
    return { kind: "stream", path, real };
  }
  const folder = dirname(real);
  const info = await stat(folder).catch((error) => {
    throw fail(whyNot(error));
  });
  if (!info.isDirectory()) throw fail(`${folder} is not a directory`);
  await access(folder, constants.W_OK).catch((error) => {
    throw fail(whyNot(error));
  });
  return { kind: "file", path, real, ...(found && { mode: found.mode & 0o7777 }) };
}

/** Writes bytes to a stream, waiting when it asks to; a stream error (EPIPE, ENOSPC) rejects. */
export async function send(stream: Writable, chunk: Buffer): Promise<void> {
  if (stream.errored) throw stream.errored;
  if (stream.write(chunk)) return;
  await new Promise<void>((resolveDrain, reject) => {
    const done = (error?: Error) => {
      stream.off("drain", done);
      stream.off("error", done);
      stream.off("close", closed);
      if (error) reject(error);
      else resolveDrain();
    };
    const closed = () => done(stream.errored ?? new Error("the output closed"));
    stream.on("drain", done);
    stream.on("error", done);
    stream.on("close", closed);
  });
}

/** Ends a stream and waits until its bytes are written (or it failed). */
export async function close(stream: Writable): Promise<void> {
  stream.end();
  await finished(stream);
}

/** Writes chunks to `--out` as `outTarget` found it; errors name the user's path, never a temporary file. */
export async function writeOut(target: OutTarget, chunks: AsyncIterable<Buffer>): Promise<void> {
  const fail = (error: unknown) => {
    if (error instanceof OutputError) return error;
    // The folder was there when checked: a file that cannot be made in it is not a missing folder.
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no file can be made there" : whyNot(error);
    return new OutputError(`cannot write --out ${target.path}: ${why}`, { cause: error });
  };
  if (target.kind === "stream") {
    const stream = createWriteStream(target.real, { flags: "w" });
    stream.on("error", () => undefined); // seen by send() and close()
    try {
      for await (const chunk of chunks) await send(stream, chunk);
      await close(stream);
    } catch (error) {
      stream.destroy();
      throw fail(error);
    }
    return;
  }
  // A name of its own (a leftover of a killed run, or a run beside it, is never this one's).
  const temporary = join(dirname(target.real), `.${basename(target.real)}.${randomUUID()}.tmp`);
  const forget = removedIfInterrupted(temporary);
  try {
    // Room for a few chunks: the replay goes on while one is written (16 KiB, the default, made it wait on each).
    const stream = createWriteStream(temporary, { flags: "wx", highWaterMark: OUT_BUFFER_BYTES });
    stream.on("error", () => undefined);
    try {
      for await (const chunk of chunks) await send(stream, chunk);
      await close(stream);
    } catch (error) {
      stream.destroy();
      throw error;
    }
    if (target.mode !== undefined) await chmod(temporary, target.mode);
    await rename(temporary, target.real);
  } catch (error) {
    await rm(temporary, { force: true });
    throw fail(error);
  } finally {
    forget();
  }
}

// What an interrupted run removes before it goes; while `deferring`, it goes once that work is done.
const leftovers = new Set<string>();
let deferring = 0;
let deferred: NodeJS.Signals | undefined;

function interrupted(signal: NodeJS.Signals): void {
  if (deferring > 0) {
    deferred ??= signal;
    return;
  }
  for (const path of leftovers) rmSync(path, { recursive: true, force: true });
  // 128 + the signal's number, as a shell reports a process the signal ended.
  process.exit(128 + (osConstants.signals[signal] ?? 15));
}

// Ctrl-C, a kill, and the terminal closing under the run.
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Listens for interruptions while there is something to remove or to finish first. */
function listen(): void {
  const needed = leftovers.size > 0 || deferring > 0;
  if (needed && process.listeners("SIGINT").includes(interrupted)) return;
  for (const signal of SIGNALS) {
    if (needed) process.on(signal, interrupted);
    else process.off(signal, interrupted);
  }
}

/**
 * Removes `path` (a temporary file or folder) if the run is interrupted (Ctrl-C, a kill) before
 * the function returned is called.
 */
export function removedIfInterrupted(path: string): () => void {
  leftovers.add(path);
  listen();
  return () => {
    leftovers.delete(path);
    listen();
  };
}

/**
 * Runs `work` (a few renames that must not stop half way) to its end before an interruption that
 * comes meanwhile is acted on.
 */
export async function uninterrupted<T>(work: () => Promise<T>): Promise<T> {
  deferring++;
  listen();
  try {
    return await work();
  } finally {
    deferring--;
    listen();
    const signal = deferred;
    if (deferring === 0 && signal !== undefined) {
      deferred = undefined;
      interrupted(signal);
    }
  }
}

/** Creates `--out-dir DIR` (and its parents) or checks it is a folder that takes files. */
export async function outDirectory(dir: string): Promise<void> {
  if (dir.trim() === "") throw new OutputError(`--out-dir "${dir}" names no folder`);
  const fail = (why: string) => new OutputError(`cannot write --out-dir ${dir}: ${why}`);
  await mkdir(dir, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
    throw fail(error.code === "EEXIST" ? "it is a file, not a folder" : whyNot(error));
  });
  const info = await stat(dir);
  if (!info.isDirectory()) throw fail("it is a file, not a folder");
  await access(dir, constants.W_OK).catch((error) => {
    throw fail(whyNot(error));
  });
}
