import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chatMessage } from "../support/chatRecords";

const ROOT = join(__dirname, "..", "..");
const FIXTURES = join(ROOT, "test", "fixtures", "chat");
const RECORDS = join(FIXTURES, "room.ndjson");
const EXPECTED_UNBOUNDED = () => cli(["replay", RECORDS]).stdout;

function cli(args: string[], input?: Buffer | string) {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: ROOT,
    input,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const oneLine = (stderr: string) => stderr.trim().split("\n");

describe("npm run cli -- replay against hostile output paths", () => {
  it("writes through a symbolic link, which stays a link", () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    writeFileSync(join(dir, "target.json"), "old");
    symlinkSync("target.json", join(dir, "link.json"));

    const { code } = cli(["replay", RECORDS, "--out", join(dir, "link.json")]);

    expect(code).toBe(0);
    expect(lstatSync(join(dir, "link.json")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, "link.json"))).toBe("target.json");
    expect(readFileSync(join(dir, "target.json"), "utf8")).toBe(EXPECTED_UNBOUNDED());
  });

  it("writes through a link to a file not there yet", () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    symlinkSync("later.json", join(dir, "link.json"));

    expect(cli(["replay", RECORDS, "--out", join(dir, "link.json")]).code).toBe(0);
    expect(lstatSync(join(dir, "link.json")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, "later.json"), "utf8")).toBe(EXPECTED_UNBOUNDED());
  });

  it("writes into a FIFO, for its reader, without replacing it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    const fifo = join(dir, "fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const reader = spawn("cat", [fifo]);
    let read = "";
    reader.stdout.setEncoding("utf8").on("data", (data: string) => {
      read += data;
    });
    const closed = new Promise((resolve) => reader.on("close", resolve));

    const { code } = cli(["replay", RECORDS, "--out", fifo]);
    await closed;

    expect(code).toBe(0);
    expect(read).toBe(EXPECTED_UNBOUNDED());
    expect(statSync(fifo).isFIFO()).toBe(true);
  });

  it.runIf(existsSync("/dev/full"))(
    "says a full device is full, and leaves the device node as it was",
    () => {
      const { code, stderr } = cli(["replay", RECORDS, "--out", "/dev/full"]);

      expect(code).toBe(2);
      expect(oneLine(stderr)).toEqual(["replay: cannot write --out /dev/full: no space left on device"]);
      expect(statSync("/dev/full").isCharacterDevice()).toBe(true);
    },
  );

  it.each([
    ["a missing folder", (dir: string) => join(dir, "missing", "out.json"), "no such directory"],
    ["a directory", (dir: string) => dir, "it is a directory"],
    [
      "a file as a folder",
      (dir: string) => join(dir, "file.txt", "out.json"),
      "a part of the path is not a directory",
    ],
    ["a place no file can be made in", () => "/proc/replay.json", "no file can be made there"],
  ])("refuses --out into %s with one line naming the path, exit 2, writing nothing", (_, path, why) => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    writeFileSync(join(dir, "file.txt"), "keep");
    const out = path(dir);

    const { code, stdout, stderr } = cli(["replay", RECORDS, "--out", out]);

    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(oneLine(stderr)).toEqual([`replay: cannot write --out ${out}: ${why}`]);
    expect(readFileSync(join(dir, "file.txt"), "utf8")).toBe("keep");
  });

  it("refuses an empty --out, and --out-dir onto a file, in one line", () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    writeFileSync(join(dir, "file.txt"), "keep");

    const empty = cli(["replay", RECORDS, "--out", ""]);
    const onFile = cli(["replay", RECORDS, "--out-dir", join(dir, "file.txt")]);

    expect([empty.code, onFile.code]).toEqual([2, 2]);
    expect(oneLine(empty.stderr)).toEqual(['replay: --out "" names no file']);
    expect(oneLine(onFile.stderr)).toEqual([
      `replay: cannot write --out-dir ${join(dir, "file.txt")}: it is a file, not a folder`,
    ]);
    expect(readFileSync(join(dir, "file.txt"), "utf8")).toBe("keep");
  });

  it("keeps an existing --out file whole, and its mode, when the run fails or succeeds", () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    const out = join(dir, "replay.json");
    writeFileSync(out, "earlier replay");
    chmodSync(out, 0o640);

    const failed = cli(["replay", join(dir, "no-such.ndjson"), "--out", out]);
    const before = readFileSync(out, "utf8");
    const done = cli(["replay", RECORDS, "--out", out]);

    expect(failed.code).toBe(2);
    expect(before).toBe("earlier replay");
    expect(done.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(EXPECTED_UNBOUNDED());
    expect(statSync(out).mode & 0o777).toBe(0o640);
    expect(readdirNames(dir)).toEqual(["replay.json"]);
  });

  it("says in one line that standard output closed early (a pipe to head), without a stack trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    const big = join(dir, "big.ndjson");
    const start = Date.parse("2024-01-05T14:30:00Z");
    const many = Array.from({ length: 40_000 }, (_, i) => chatMessage(`m${i}`, start + i * 10).line);
    writeFileSync(big, `${many.join("\n")}\n`);
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "replay", big], {
      cwd: ROOT,
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (data: string) => {
      stderr += data;
    });
    child.stdout.once("data", () => child.stdout.destroy());
    const code = await new Promise((resolve) => child.on("close", resolve));

    expect(code).toBe(2);
    expect(oneLine(stderr)).toEqual([
      "replay: standard output was closed before the whole replay was written",
    ]);
  });
});

describe("npm run cli -- replay --out-dir over an earlier replay", () => {
  /** Every file below `dir` (paths relative to it) with its contents; a folder as "(folder)". */
  function snapshot(dir: string, under = ""): Record<string, string> {
    const files: Record<string, string> = {};
    for (const name of readdirNames(join(dir, under)).filter((n) => n !== "")) {
      const path = join(under, name);
      if (lstatSync(join(dir, path)).isDirectory()) {
        files[path] = "(folder)";
        Object.assign(files, snapshot(dir, path));
      } else files[path] = readFileSync(join(dir, path), "utf8");
    }
    return files;
  }

  it("refuses, in one line, to replace what is not a replay's file, and leaves every earlier file as it was", () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    expect(cli(["replay", RECORDS, "--out-dir", dir]).code).toBe(0);
    rmSync(join(dir, "replay.json"));
    mkdirSync(join(dir, "replay.json"));
    writeFileSync(join(dir, "replay.json", "mine.txt"), "keep");
    const before = snapshot(dir);

    const { code, stderr } = cli(["replay", RECORDS, "--out-dir", dir]);

    expect(code).toBe(2);
    expect(oneLine(stderr)).toEqual([
      `replay: cannot write --out-dir ${dir}: its replay.json is a folder, not a replay's: it is left as it is`,
    ]);
    expect(snapshot(dir)).toEqual(before);
    expect(Object.keys(before)).toContain(join("segments", "0.json"));
  });

  it("refuses a segments folder holding other files than segments, before any work, and leaves it as it was", () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    expect(cli(["replay", RECORDS, "--out-dir", dir]).code).toBe(0);
    writeFileSync(join(dir, "segments", "my-notes.txt"), "keep");
    const before = snapshot(dir);

    const { code, stderr } = cli(["replay", RECORDS, "--out-dir", dir]);

    expect(code).toBe(2);
    expect(oneLine(stderr)).toEqual([
      `replay: cannot write --out-dir ${dir}: its segments folder holds my-notes.txt, not a segment, not a replay's: it is left as it is`,
    ]);
    expect(snapshot(dir)).toEqual(before);
  });

  it("finishes the swap of the files before it acts on an interruption that comes meanwhile", () => {
    const temp = mkdtempSync(join(tmpdir(), "hostile-"));
    const script = `
      const { writeFileSync, mkdirSync } = require("node:fs");
      const { removedIfInterrupted, uninterrupted } = require("./src/cli/output.ts");
      mkdirSync(${JSON.stringify(join(temp, "staging"))});
      removedIfInterrupted(${JSON.stringify(join(temp, "staging"))});
      uninterrupted(async () => {
        process.kill(process.pid, "SIGINT");
        await new Promise((resolve) => setTimeout(resolve, 100));
        writeFileSync(${JSON.stringify(join(temp, "swapped"))}, "done");
      });
      setTimeout(() => writeFileSync(${JSON.stringify(join(temp, "went on"))}, "no"), 1000);
    `;

    const run = spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
      cwd: ROOT,
      encoding: "utf8",
    });

    expect(run.stderr).toBe("");
    expect(run.status).toBe(130);
    expect(readdirNames(temp)).toEqual(["swapped"]);
  });

  it("creates no --out-dir when the input cannot be read", () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));

    const { code } = cli(["replay", join(dir, "no-such.ndjson"), "--out-dir", join(dir, "made", "here")]);

    expect(code).toBe(2);
    expect(existsSync(join(dir, "made"))).toBe(false);
  });

  it.each([
    ["Ctrl-C", "SIGINT", 130],
    ["the terminal closing", "SIGHUP", 129],
  ] as const)("removes its staging folder and its runs when interrupted (%s)", async (_, signal, status) => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    const temp = mkdtempSync(join(tmpdir(), "hostile-tmp-"));
    const big = join(dir, "big.ndjson");
    const start = Date.parse("2024-01-05T14:30:00Z");
    const many = Array.from({ length: 60_000 }, (_, i) => chatMessage(`m${i}`, start + i * 10).line);
    writeFileSync(big, `${many.join("\n")}\n`);
    const out = join(dir, "out");
    mkdirSync(out);
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "replay", big, "--out-dir", out],
      {
        cwd: ROOT,
        env: { ...process.env, TMPDIR: temp },
      },
    );
    const exited = new Promise((resolve) => child.on("close", (code, signal) => resolve(code ?? signal)));
    const seen = { runs: false, staging: false };
    // Interrupted once both the run store (made first) and the staging folder (made to write) are there.
    for (let waited = 0; !seen.staging && waited < 60_000; waited += 10) {
      seen.runs ||= readdirNames(temp).some((name) => name.startsWith("ivs-chat-runs-"));
      seen.staging = readdirNames(out).some((name) => name.startsWith(".replay-"));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    child.kill(signal);

    expect(seen).toEqual({ runs: true, staging: true });
    expect(await exited).toBe(status);
    expect(readdirNames(out)).toEqual([""]);
    expect(readdirNames(temp).filter((name) => name.startsWith("ivs-chat-runs-"))).toEqual([]);
  });
});

describe("npm run cli -- replay, options a user may get wrong", () => {
  it("writes to standard output with --out -, as - reads standard input", () => {
    const { code, stdout } = cli(["replay", RECORDS, "--out", "-"]);

    expect(code).toBe(0);
    expect(stdout).toBe(EXPECTED_UNBOUNDED());
    expect(existsSync(join(ROOT, "-"))).toBe(false);
  });

  it("refuses a --start or --end finer than the millisecond, which the replay could not keep", () => {
    const { code, stdout, stderr } = cli(["replay", RECORDS, "--end", "2024-01-05T14:30:01.000000001Z"]);

    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(oneLine(stderr)).toEqual([
      'replay: --end "2024-01-05T14:30:01.000000001Z" is finer than a millisecond: give it to the millisecond',
    ]);
    expect(cli(["replay", RECORDS, "--end", "2024-01-05T14:30:01.000000Z"]).code).toBe(0);
  });

  it("names the line of a --playlist tag it cannot read", () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    const file = join(dir, "playlist.m3u8");
    writeFileSync(file, "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:30:00Z\n#EXTINF:abc,\n0.ts\n");

    const { code, stderr } = cli(["replay", RECORDS, "--playlist", file]);

    expect(code).toBe(2);
    expect(oneLine(stderr)).toEqual([
      `replay: --playlist ${file} line 3: #EXTINF "abc" is not a duration in seconds`,
    ]);
  });

  it("refuses an archive named both by stream and by recording session", () => {
    const { code, stderr } = cli([
      "archive",
      "--channel-arn",
      "arn:aws:ivs:us-east-1:123456789012:channel/AbCdef1G2hij",
      "--stream-id",
      "st-1A2b3c4D5e6F78ghij9Klmn",
      "--recording-session-id",
      "a6RfV23ES97iyfoQ",
    ]);

    expect(code).toBe(2);
    expect(oneLine(stderr)).toEqual([
      "archive: archive takes --channel-arn ARN --stream-id ID or --recording-session-id ID: not both",
    ]);
  });
});

function readdirNames(dir: string): string[] {
  return spawnSync("ls", ["-A", dir], { encoding: "utf8" }).stdout.trim().split("\n");
}

describe("npm run cli -- replay against hostile input", () => {
  it.each([
    ['{"events":"oops"}', 'an aws logs JSON document needs an "events" list; it has "oops"'],
    ['{"events":null}', 'an aws logs JSON document needs an "events" list; it has null'],
    ['{"nextToken":"x"}', 'an aws logs JSON document needs an "events" list; it has none'],
  ])("refuses the aws logs document %s in one line, exit 2", (document, why) => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    const file = join(dir, "logs.json");
    writeFileSync(file, document);

    const { code, stdout, stderr } = cli(["replay", file]);

    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(oneLine(stderr)).toEqual([`replay: cannot read ${file}: ${why}`]);
  });

  it("counts the lines that are not valid UTF-8, read with U+FFFD", () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    const file = join(dir, "latin1.ndjson");
    const line = chatMessage("cafe", Date.parse("2024-01-05T14:31:00Z"), "café").line;
    writeFileSync(
      file,
      Buffer.concat([Buffer.from(`${line}\n`), Buffer.from(`${line.replace("cafe", "caf2")}\n`, "latin1")]),
    );

    const { code, stdout, stderr } = cli(["replay", file]);

    expect(code).toBe(0);
    const contents = JSON.parse(stdout).messages.map((m: { content: string }) => m.content);
    expect(contents.sort()).toEqual(["caf\uFFFD", "café"].sort());
    expect(stderr).toContain("; 1 lines were not valid UTF-8 (read with U+FFFD in place of the bad bytes)");
  });

  it("reads - as standard input, among files", () => {
    const { code, stdout } = cli(["replay", "-"], readFileSync(RECORDS));

    expect(code).toBe(0);
    expect(stdout).toBe(EXPECTED_UNBOUNDED());
  });

  it("answers replay --help with the help, exit 0", () => {
    const { code, stdout, stderr } = cli(["replay", "--help"]);

    expect(code).toBe(0);
    expect(stdout).toContain("replay [FILE ...]");
    expect(stderr).toBe("");
  });

  it.runIf(spawnSync("which", ["script"]).status === 0)(
    "refuses to wait in silence on a terminal for standard input",
    () => {
      const run = spawnSync(
        "script",
        ["-qec", `${process.execPath} --import tsx src/cli/main.ts replay`, "/dev/null"],
        {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 30_000,
        },
      );

      expect(run.status).toBe(2);
      expect(run.stdout).toContain(
        "replay: no input: name chat log files, or pipe records to standard input",
      );
    },
  );

  it("prints a stack trace only when asked, with --debug", () => {
    mkdirSync(join(tmpdir(), "hostile-debug"), { recursive: true });
    const plain = cli(["replay", "no-such.ndjson"]);
    const debug = cli(["replay", "no-such.ndjson", "--debug"]);
    const off = spawnSync(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "replay", "no-such.ndjson"],
      {
        cwd: ROOT,
        encoding: "utf8",
        env: { ...process.env, DEBUG: "0" },
      },
    );

    expect(oneLine(plain.stderr)).toHaveLength(1);
    expect(oneLine(off.stderr)).toEqual(["replay: cannot read no-such.ndjson: no such file"]);
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(/^replay: cannot read no-such.ndjson: no such file\n\w*Error: .*\n\s+at /);
  });
});
