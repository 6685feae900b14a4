// `npm run cli`, `npm start` and `npm run view`: the command line (src/cli/main.ts) run from a
// bundle that esbuild rebuilds whenever a file it was built from has changed since, so no start
// pays for compiling the sources through tsx.
//
// The bundle lives in .cache/cli/, two folders below the root as src/cli/ is, so the paths the code
// finds from __dirname (serverless.yml, out/) are the same.
"use strict";
const { mkdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");
const dir = join(root, ".cache", "cli");
const bundle = join(dir, "main.cjs");
const sources = join(dir, "sources.json");

/** True when the bundle was built after every file it holds last changed. */
function fresh() {
  try {
    const built = statSync(bundle).mtimeMs;
    const files = JSON.parse(readFileSync(sources, "utf8"));
    return files.every((file) => statSync(join(root, file)).mtimeMs < built);
  } catch {
    return false;
  }
}

/** Builds the bundle beside its place and renames it there, so that runs at once never read half of one. */
function rebuild() {
  const started = new Date();
  mkdirSync(dir, { recursive: true });
  const temp = (path) => `${path}.${process.pid}.tmp`;
  const result = require("esbuild").buildSync({
    absWorkingDir: root,
    entryPoints: ["src/cli/main.ts"],
    outfile: temp(bundle),
    bundle: true,
    platform: "node",
    packages: "external",
    format: "cjs",
    target: "node20",
    sourcemap: "inline",
    metafile: true,
    logLevel: "warning",
  });
  writeFileSync(temp(sources), JSON.stringify(Object.keys(result.metafile.inputs)));
  renameSync(temp(sources), sources);
  // Dated from before the build: a source saved while it ran is seen as newer next time.
  utimesSync(temp(bundle), started, started);
  renameSync(temp(bundle), bundle);
}

/** The command line's module: the bundle, or the sources through tsx where no bundle can be built or written. */
function commandLine() {
  try {
    if (!fresh()) rebuild();
  } catch {
    require("tsx/cjs");
    return require(join(root, "src", "cli", "main.ts"));
  }
  // Stack traces (--debug, DEBUG) name the sources, not the bundle.
  if (process.argv.includes("--debug") || process.env.DEBUG) process.setSourceMapsEnabled(true);
  return require(bundle);
}

commandLine()
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
