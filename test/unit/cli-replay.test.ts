import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const FIXTURES = join(__dirname, "..", "fixtures", "chat");
const WINDOW = ["--start", "2024-01-05T14:30:00Z", "--end", "2024-01-05T15:30:00Z"];
// Hand-checked: 24 records, 7 skipped, 1 duplicate, 2 deleted (one by MessageID after the end).
const EXPECTED = readFileSync(join(FIXTURES, "room.replay.json"), "utf8");

function cli(args: string[], input?: Buffer) {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: join(__dirname, "..", ".."),
    input,
    encoding: "utf8",
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function fixture(name: string) {
  return join(FIXTURES, name);
}

describe("npm run cli -- replay", () => {
  it.each([
    ["newline-delimited records", "room.ndjson"],
    ["gzip, detected by its magic bytes", "room-ndjson.gz"],
    ["aws logs get-log-events JSON", "get-log-events.json"],
    ["aws logs filter-log-events JSON", "filter-log-events.json"],
  ])("turns %s into the expected replay", (_, name) => {
    const { code, stdout, stderr } = cli(["replay", fixture(name), ...WINDOW]);

    expect(code).toBe(0);
    expect(stdout).toBe(EXPECTED);
    expect(stderr).toContain(
      "24 records read; 7 messages and 1 events written; 2 deleted, 1 duplicates, 7 skipped",
    );
  });

  it("reads standard input when no file is named, gzip included", () => {
    const { code, stdout } = cli(["replay", ...WINDOW], readFileSync(fixture("room-ndjson.gz")));

    expect(code).toBe(0);
    expect(stdout).toBe(EXPECTED);
  });

  it("reads several files in the order given, so the first copy of a record wins", () => {
    const dir = mkdtempSync(join(tmpdir(), "replay-"));
    const lines = readFileSync(fixture("room.ndjson"), "utf8").split("\n");
    writeFileSync(join(dir, "part1.log"), lines.slice(0, 12).join("\n"));
    writeFileSync(join(dir, "part2.log"), lines.slice(12).join("\n"));

    const { code, stdout } = cli(["replay", join(dir, "part1.log"), join(dir, "part2.log"), ...WINDOW]);

    expect(code).toBe(0);
    expect(stdout).toBe(EXPECTED);
  });

  it.each(["room.ndjson", "get-log-events.json"])("ignores a byte order mark at the start of %s", (name) => {
    const dir = mkdtempSync(join(tmpdir(), "replay-"));
    const withBom = join(dir, name);
    writeFileSync(withBom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(fixture(name))]));

    const { code, stdout } = cli(["replay", withBom, ...WINDOW]);

    expect(code).toBe(0);
    expect(stdout).toBe(EXPECTED);
  });

  it("reads a byte order mark inside a file as part of its line, which is then not JSON", () => {
    const dir = mkdtempSync(join(tmpdir(), "replay-"));
    const lines = readFileSync(fixture("room.ndjson"), "utf8").split("\n");
    const marked = join(dir, "marked.ndjson");
    writeFileSync(marked, [lines[0], `\uFEFF${lines[1]}`, ...lines.slice(2)].join("\n"));

    const { code, stdout, stderr } = cli(["replay", marked, ...WINDOW]);

    expect(code).toBe(0);
    expect(stdout).not.toBe(EXPECTED);
    expect(stderr).toMatch(/notJson 2\b/);
  });

  it("writes --out and measures offsets from --base", () => {
    const out = join(mkdtempSync(join(tmpdir(), "replay-")), "replay.json");

    const { code, stdout } = cli([
      "replay",
      fixture("room.ndjson"),
      "--base",
      "2024-01-05T14:33:32.894Z",
      "--out",
      out,
    ]);

    const replay = JSON.parse(readFileSync(out, "utf8"));
    expect(code).toBe(0);
    expect(stdout).toBe("");
    expect(replay.offsetBase).toBe("2024-01-05T14:33:32.894Z");
    expect(replay.window).toEqual({ start: null, end: null });
    expect(replay.messages[0]).toMatchObject({ id: "PreWindow001", offsetMs: -212896 });
  });

  it("writes replay.json, index.json, the segments and the transcript with --out-dir, replacing an earlier run's", () => {
    // Prepare: an earlier replay of the whole log in the same folder
    const dir = join(mkdtempSync(join(tmpdir(), "replay-")), "out");
    cli(["replay", fixture("room.ndjson"), "--out-dir", dir]);
    const earlier = readdirSync(join(dir, "segments")).sort();

    // Act
    const { code, stdout } = cli(["replay", fixture("room.ndjson"), ...WINDOW, "--out-dir", dir]);

    // Assess
    expect(code).toBe(0);
    expect(stdout).toBe("");
    expect(readFileSync(join(dir, "replay.json"), "utf8")).toBe(EXPECTED);
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    const replay = JSON.parse(EXPECTED);
    expect(index).toMatchObject({
      version: 2,
      segmentMs: 60000,
      offsetBase: replay.offsetBase,
      counts: replay.counts,
    });
    const segments = index.segments.map((entry: { key: string }) =>
      JSON.parse(readFileSync(join(dir, entry.key), "utf8")),
    );
    expect(segments.flatMap((segment: { messages: unknown[] }) => segment.messages)).toEqual(replay.messages);
    expect(segments.flatMap((segment: { events: unknown[] }) => segment.events)).toEqual(replay.events);
    expect(readdirSync(join(dir, "segments")).sort()).toEqual(
      index.segments.map((entry: { key: string }) => entry.key.slice("segments/".length)).sort(),
    );
    expect(earlier).not.toEqual(readdirSync(join(dir, "segments")).sort());
    expect(readdirSync(dir).sort()).toEqual(["index.json", "replay.json", "replay.vtt", "segments"]);
    const vtt = readFileSync(join(dir, "replay.vtt"), "utf8");
    expect(vtt.startsWith("WEBVTT\n\n00:03:32.894 --> 00:03:37.894\ngleningp: bbiab!\n")).toBe(true);
    expect(vtt.match(/ --> /g)).toHaveLength(replay.messages.length);
  });

  it("places offsets in the media time of a --playlist with a reconnect gap, or of the same --timeline", () => {
    // Prepare: 14:30-14:35 recorded, a gap, then 14:40-15:40 from media time 300 s
    const dir = mkdtempSync(join(tmpdir(), "replay-"));
    const playlist = join(dir, "playlist.m3u8");
    writeFileSync(
      playlist,
      [
        "#EXTM3U",
        "#EXT-X-TARGETDURATION:3600",
        "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:30:00.000Z",
        "#EXTINF:300.000,",
        "a.ts",
        "#EXT-X-DISCONTINUITY",
        "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:40:00.000Z",
        "#EXTINF:3600.000,",
        "b.ts",
        "#EXT-X-ENDLIST",
        "",
      ].join("\n"),
    );
    const timeline = join(dir, "timeline.json");
    writeFileSync(
      timeline,
      JSON.stringify([
        { start: "2024-01-05T14:30:00Z", end: "2024-01-05T14:35:00Z", mediaMs: 0 },
        { start: "2024-01-05T14:40:00Z", end: "2024-01-05T15:40:00Z", mediaMs: 300000 },
      ]),
    );

    // Act
    const fromPlaylist = cli(["replay", fixture("room.ndjson"), ...WINDOW, "--playlist", playlist]);
    const fromTimeline = cli(["replay", fixture("room.ndjson"), ...WINDOW, "--timeline", timeline]);

    // Assess: in the gap, the join point; after it, 300 s plus the time since 14:40
    expect(fromPlaylist.code).toBe(0);
    expect(fromTimeline.stdout).toBe(fromPlaylist.stdout);
    const replay = JSON.parse(fromPlaylist.stdout);
    expect(replay.offsetBase).toBe("2024-01-05T14:30:00.000Z");
    expect(replay.timeline).toEqual([
      { start: "2024-01-05T14:30:00.000Z", end: "2024-01-05T14:35:00.000Z", mediaMs: 0 },
      { start: "2024-01-05T14:40:00.000Z", end: "2024-01-05T15:40:00.000Z", mediaMs: 300000 },
    ]);
    expect(replay.messages.map((m: { id: string; offsetMs: number }) => [m.id, m.offsetMs])).toEqual([
      ["WhO6MW6iRdS5", 212894],
      ["Tie00000000A", 300000],
      ["Tie00000000B", 300000],
      ["NanoFirst001", 300000],
      ["NanoLater002", 300000],
      ["Unicode00001", 360000],
      ["LastInWin001", 3300000],
    ]);
    expect(replay.events.map((e: { offsetMs: number }) => e.offsetMs)).toEqual([420000]);
  });

  it.each([
    [
      "a missing file",
      ["replay", "no-such-file.log"],
      /^replay: cannot read no-such-file.log: no such file\n$/,
    ],
    ["a corrupt gzip", ["replay", "CORRUPT"], /^replay: cannot read .*corrupt.gz: corrupt gzip data/],
    ["a bad --start", ["replay", "--start", "noon"], /^replay: --start "noon" is not an ISO 8601 time/],
    ["an unknown option", ["replay", "--since", "x"], /^replay: Unknown option '--since'/],
    [
      "a missing --timeline",
      ["replay", "--timeline", "no-such.json"],
      /^replay: cannot read --timeline no-such.json: no such file\n$/,
    ],
    [
      "a playlist without program dates",
      ["replay", "--playlist", "NODATES"],
      /^replay: --playlist .*nodates.m3u8 has no #EXT-X-PROGRAM-DATE-TIME/,
    ],
    [
      "both --timeline and --playlist",
      ["replay", "--timeline", "a.json", "--playlist", "b.m3u8"],
      /^replay: --timeline and --playlist both give the timeline: use one\n$/,
    ],
    [
      "both --out and --out-dir",
      ["replay", "--out-dir", "somewhere"],
      /^replay: --out and --out-dir both say where to write: use one\n$/,
    ],
  ])("refuses %s with exit code 2, a one-line error and no output file", (_, args, message) => {
    const dir = mkdtempSync(join(tmpdir(), "replay-"));
    const corrupt = join(dir, "corrupt.gz");
    writeFileSync(corrupt, readFileSync(fixture("room-ndjson.gz")).subarray(0, 200));
    const noDates = join(dir, "nodates.m3u8");
    writeFileSync(noDates, "#EXTM3U\n#EXTINF:2,\na.ts\n");
    const out = join(dir, "out.json");

    const { code, stdout, stderr } = cli(
      [...args.map((a) => (a === "CORRUPT" ? corrupt : a === "NODATES" ? noDates : a)), "--out", out],
      Buffer.from(""),
    );

    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(message);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(() => readFileSync(out)).toThrow();
  });

  it("documents every command in --help", () => {
    const { code, stdout } = cli(["--help"]);

    expect(code).toBe(0);
    for (const command of ["replay", "archive", "provision", "link", "start"])
      expect(stdout).toContain(command);
  });
});
