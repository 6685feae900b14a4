import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { type SyntheticOptions, writeSyntheticChatLogGz } from "../src/cli/synthetic";
import { archiveBench } from "./archive-bench";
import { type Measure, runMeasured } from "./child";
import { engineBench } from "./engine-bench";

const root = resolve(__dirname, "..");
const dir = join(root, ".bench");
const log = join(dir, "chat.log.gz");
const cliEntry = join(root, "src/cli/main.ts");
// Runs in every child: reports the peak RSS (KiB on Linux) where the parent can read it.
const PRELOAD = `process.on("exit", () => require("node:fs").writeFileSync(process.env.BENCH_MAXRSS_FILE, String(process.resourceUsage().maxRSS)));\n`;

/** Writes .bench/chat.log.gz unless one made from the same parameters and generator source is there. */
async function ensureLog(records: number): Promise<void> {
  const options: SyntheticOptions = {
    records,
    start: new Date("2024-01-05T14:30:00.000Z"),
    durationMs: 3_600_000,
    seed: 1,
  };
  // The generator's source is part of the key, so changing it regenerates the log.
  const source = readFileSync(join(root, "src/cli/synthetic.ts"));
  const key = JSON.stringify({ ...options, generator: createHash("sha256").update(source).digest("hex") });
  const keyFile = join(dir, "chat.log.key");
  if (existsSync(log) && existsSync(keyFile) && readFileSync(keyFile, "utf8") === key) {
    console.log("reusing .bench/chat.log.gz");
    return;
  }
  const started = process.hrtime.bigint();
  rmSync(keyFile, { force: true });
  await writeSyntheticChatLogGz(`${log}.tmp`, options);
  renameSync(`${log}.tmp`, log);
  writeFileSync(keyFile, key);
  console.log(`generated .bench/chat.log.gz in ${seconds(started).toFixed(1)} s`);
}

/**
 * Bundles the entry points so children run plain node without tsx. Packages stay in node_modules,
 * as for `npm run cli` from a checkout, and are loaded only by the code that uses them.
 */
async function bundle(withCli: boolean): Promise<void> {
  await build({
    entryPoints: { floor: join(root, "bench/floor.ts"), ...(withCli ? { cli: cliEntry } : {}) },
    outdir: dir,
    outExtension: { ".js": ".cjs" },
    bundle: true,
    platform: "node",
    packages: "external",
    format: "cjs",
    target: "node20",
    logLevel: "warning",
  });
  writeFileSync(join(dir, "maxrss.cjs"), PRELOAD);
}

function run(name: string, args: string[]): Promise<Measure> {
  return runMeasured(name, args, { dir, cwd: root });
}

function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}

/** The counts object near the head of a replay file, without parsing the whole file. */
function replayCounts(path: string): string {
  const head = Buffer.alloc(4096);
  const fd = openSync(path, "r");
  const length = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  return /"counts":\s*(\{[^}]*\})/.exec(head.toString("utf8", 0, length))?.[1] ?? "(counts not found)";
}

async function main(): Promise<void> {
  const [first, ...rest] = process.argv.slice(2);
  if (first === "engine") {
    await engineBench(rest);
    return;
  }
  if (first === "archive") {
    mkdirSync(dir, { recursive: true });
    await bundle(true);
    await archiveBench(rest, dir, join(dir, "cli.cjs"));
    return;
  }
  const { values } = parseArgs({
    args: first === "replay" ? rest : process.argv.slice(2),
    options: { records: { type: "string", default: "1000000" }, runs: { type: "string", default: "3" } },
  });
  const records = Number(values.records);
  const runs = Number(values.runs);
  if (!Number.isInteger(records) || records < 1 || !Number.isInteger(runs) || runs < 1) {
    throw new Error(
      "usage: npm run bench -- [replay] [--records N] [--runs N] | archive [--records N] [--hours H] [--burst SHARE] [--mib-latency-ms N] [--quota-tps N] [--read-tps N] [--max-run-seconds N] [--no-verify]",
    );
  }
  mkdirSync(dir, { recursive: true });
  await ensureLog(records);
  const withCli = existsSync(cliEntry);
  await bundle(withCli);
  console.log(
    `.bench/chat.log.gz: ${(statSync(log).size / 2 ** 20).toFixed(1)} MiB gzip, ${records} records`,
  );

  const commands: [string, string[]][] = [["floor", [join(dir, "floor.cjs"), log]]];
  if (withCli)
    commands.push(["replay", [join(dir, "cli.cjs"), "replay", log, "--out", join(dir, "replay.json")]]);
  else console.log("replay: skipped, src/cli/main.ts does not exist yet");

  const measures = new Map<string, Measure[]>(commands.map(([name]) => [name, []]));
  // Interleaved so that a slow phase of the machine hits every command alike.
  for (let i = 0; i < runs; i++) {
    for (const [name, args] of commands) {
      const measure = await run(name, args);
      measures.get(name)?.push(measure);
      console.log(
        `  ${name} run ${i + 1}: ${measure.wallS.toFixed(2)} s, ${measure.peakRssMiB.toFixed(0)} MiB`,
      );
    }
  }
  const lastReplay = measures.get("replay")?.at(-1);
  if (lastReplay !== undefined) {
    if (lastReplay.stderr.trim() !== "") console.log(`replay stderr: ${lastReplay.stderr.trim()}`);
    console.log(`replay counts: ${replayCounts(join(dir, "replay.json"))}`);
  }

  const rows = [...measures].map(([name, list]) => ({
    name,
    wallS: median(list.map((m) => m.wallS)),
    peakRssMiB: Math.max(...list.map((m) => m.peakRssMiB)),
  }));
  const floorS = rows[0]?.wallS ?? Number.NaN;
  console.log(
    `\n${"name".padEnd(8)}${"wall s".padStart(8)}${"records/s".padStart(12)}${"peak RSS MiB".padStart(14)}${"x floor".padStart(9)}`,
  );
  for (const row of rows) {
    const perSecond = Math.round(records / row.wallS).toLocaleString("en-US");
    console.log(
      `${row.name.padEnd(8)}${row.wallS.toFixed(2).padStart(8)}${perSecond.padStart(12)}` +
        `${row.peakRssMiB.toFixed(0).padStart(14)}${(row.wallS / floorS).toFixed(2).padStart(9)}`,
    );
  }
  const figures = rows.map(
    (row) =>
      `${row.name} ${row.wallS.toFixed(2)} s (${Math.round(records / row.wallS / 1000)}k rec/s, ` +
      `${row.peakRssMiB.toFixed(0)} MiB, ${(row.wallS / floorS).toFixed(2)}x floor)`,
  );
  console.log(
    `\nbench: ${records} records, median of ${runs}, node ${process.version}, ` +
      `${cpus().length}x ${cpus()[0]?.model.trim() ?? "cpu"}: ${figures.join("; ")}`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
