import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

/** What a measured child process did: wall time, peak RSS and its output. */
export interface Measure {
  name: string;
  wallS: number;
  peakRssMiB: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node ARGS` with the `maxrss.cjs` preload from `dir` (it writes the child's peak RSS at
 * exit) and measures it; `BENCH_PROFILE_DIR` adds a CPU profile. Fails when the child does.
 */
export async function runMeasured(
  name: string,
  args: string[],
  { dir, cwd, env = process.env }: { dir: string; cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<Measure> {
  const rssFile = join(dir, `${name}.maxrss`);
  rmSync(rssFile, { force: true });
  const profile = process.env.BENCH_PROFILE_DIR
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
    : [];
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...profile, "--require", join(dir, "maxrss.cjs"), ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...env, BENCH_MAXRSS_FILE: rssFile },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (data: string) => {
    stdout += data;
  });
  child.stderr.setEncoding("utf8").on("data", (data: string) => {
    stderr += data;
  });
  const code = await new Promise<number | null>((resolveExit, reject) => {
    child.on("error", reject);
    child.on("close", resolveExit);
  });
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${name} exited with ${code}: ${stderr.trim().slice(-2000)}`);
  return { name, wallS, peakRssMiB: Number(readFileSync(rssFile, "utf8")) / 1024, stdout, stderr };
}
