// npm run build: the browser code, as ES modules (SPEC section 5).
// - dist/player/chat-replay.js and its .d.ts: the ChatReplay module, no dependency;
// - dist/viewer/: the static viewer page, with hls.js bundled in.
// `node scripts/build.mjs DIR` builds into DIR instead (tests build their own copy, side by side).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = process.argv[2] ?? join(root, "dist");
rmSync(dist, { recursive: true, force: true });

const browser = { bundle: true, format: "esm", platform: "browser", target: "es2020", logLevel: "warning" };
await build({
  ...browser,
  entryPoints: [join(root, "src/player/chat-replay.ts")],
  outfile: join(dist, "player/chat-replay.js"),
});
await build({
  ...browser,
  entryPoints: [join(root, "viewer/viewer.ts")],
  outfile: join(dist, "viewer/viewer.js"),
  minify: true,
});
mkdirSync(join(dist, "viewer"), { recursive: true });
for (const file of ["index.html", "viewer.css"])
  copyFileSync(join(root, "viewer", file), join(dist, "viewer", file));

// The module's types, for pages written in TypeScript.
execFileSync(
  process.execPath,
  [
    join(root, "node_modules/typescript/bin/tsc"),
    join(root, "src/player/chat-replay.ts"),
    "--declaration",
    "--emitDeclarationOnly",
    "--target",
    "ES2022",
    "--lib",
    "ES2022,DOM",
    "--skipLibCheck",
    "--outDir",
    join(dist, "player"),
  ],
  { stdio: "inherit" },
);
console.log(`built ${dist}/player/chat-replay.js (+ .d.ts) and ${dist}/viewer/`);
