import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(__dirname, "..", "..");

/** A project of its own holding the launcher and a command line that prints `text` and its arguments. */
function project(): { dir: string; write(text: string): void } {
  const dir = mkdtempSync(join(tmpdir(), "cli-launcher-"));
  mkdirSync(join(dir, "scripts"));
  mkdirSync(join(dir, "src", "cli"), { recursive: true });
  cpSync(join(ROOT, "scripts", "cli.cjs"), join(dir, "scripts", "cli.cjs"));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  const write = (text: string) => {
    writeFileSync(
      join(dir, "src", "cli", "words.ts"),
      `export const WORDS: string = ${JSON.stringify(text)};\n`,
    );
    writeFileSync(
      join(dir, "src", "cli", "main.ts"),
      'import { WORDS } from "./words";\nexport async function main(argv: string[]): Promise<number> {\n  process.stdout.write([WORDS, argv.join(" "), __dirname.endsWith("cli")].join(" ") + "\\n");\n  return argv.includes("fail") ? 3 : 0;\n}\n',
    );
  };
  write("first");
  return { dir, write };
}

function run(dir: string, args: string[]): { out: string; code: number } {
  try {
    return {
      out: execFileSync(process.execPath, [join(dir, "scripts", "cli.cjs"), ...args]).toString(),
      code: 0,
    };
  } catch (error) {
    const failed = error as { stdout: Buffer; status: number };
    return { out: failed.stdout.toString(), code: failed.status };
  }
}

describe("scripts/cli.cjs (npm run cli): the command line from a bundle rebuilt when its sources change", () => {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });

  it("builds the bundle two folders down, passes the arguments and the exit code on", () => {
    const { dir } = project();
    made.push(dir);

    const first = run(dir, ["status", "--since", "1h"]);
    const failing = run(dir, ["fail"]);

    expect(first).toEqual({ out: "first status --since 1h true\n", code: 0 });
    expect(failing.code).toBe(3);
    expect(existsSync(join(dir, ".cache", "cli", "main.cjs"))).toBe(true);
  });

  it("rebuilds when a file the bundle holds changes, even one the entry point only imports", () => {
    const { dir, write } = project();
    made.push(dir);
    run(dir, []);

    write("second");
    // Saved a moment later than the bundle was built, as an edit would be.
    const later = new Date(Date.now() + 2000);
    utimesSync(join(dir, "src", "cli", "words.ts"), later, later);

    expect(run(dir, ["x"]).out).toBe("second x true\n");
  });

  it("runs the sources through tsx where the bundle cannot be written", () => {
    const { dir } = project();
    made.push(dir);
    writeFileSync(join(dir, ".cache"), "a file where the folder would go");

    expect(run(dir, ["y", "fail"])).toEqual({ out: "first y fail true\n", code: 3 });
  });
});
