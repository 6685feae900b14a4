import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");

describe("npm start", () => {
  it("plays a broadcast on its own moto and ends with the replay in out/", () => {
    rmSync(join(ROOT, "out", "chat", "replay.json"), { force: true });
    const env = { ...process.env };
    delete env.AWS_ENDPOINT_URL;

    const run = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "start"], {
      cwd: ROOT,
      env,
      encoding: "utf8",
      timeout: 120_000,
    });

    const replay = JSON.parse(readFileSync(join(ROOT, "out", "chat", "replay.json"), "utf8"));
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/started moto at http:\/\/127\.0\.0\.1:\d+/);
    expect(run.stdout).toContain("replay at s3://ivs-recordings-example/");
    expect(run.stdout).toMatch(/with index\.json, \d+ segments and replay\.vtt; copies in out\//);
    expect(run.stdout).toContain("stopped moto");
    expect(replay).toMatchObject({ version: 1 });
    expect(replay.counts.records).toBe(403);
    // The demo recording: two streams joined across a gap, its timeline from the playlist's program dates
    expect(replay.streamIds).toEqual(["st-1A2b3c4D5e6F78ghij9Klmn", "st-2Reconnect5e6F78ghij9K"]);
    expect(replay.timeline.map((piece: { mediaMs: number }) => piece.mediaMs)).toEqual([0, 20000]);
    expect(replay.messages.find((m: { id: string }) => m.id === "Markup002")?.offsetMs).toBe(20000);
    expect(readFileSync(join(ROOT, "out", "recording", "media", "hls", "master.m3u8"), "utf8")).toContain(
      "160p30/playlist.m3u8",
    );
    expect(readFileSync(join(ROOT, "out", "viewer", "index.html"), "utf8")).toContain("viewer.js");
    expect(replay.counts.deleted).toBeGreaterThan(0);
    expect(replay.counts.duplicates).toBeGreaterThan(0);
    expect(replay.counts.skipped).toBeGreaterThan(0);
    expect(replay.messages).toHaveLength(replay.counts.messages);
    expect(replay.events.length).toBeGreaterThan(0);
    const index = JSON.parse(readFileSync(join(ROOT, "out", "chat", "index.json"), "utf8"));
    expect(index).toMatchObject({ version: 2, segmentMs: 60000, counts: replay.counts });
    const segments = index.segments.map((entry: { key: string }) =>
      JSON.parse(readFileSync(join(ROOT, "out", "chat", entry.key), "utf8")),
    );
    expect(segments.flatMap((segment: { messages: unknown[] }) => segment.messages)).toEqual(replay.messages);
    expect(readFileSync(join(ROOT, "out", "chat", "replay.vtt"), "utf8").match(/ --> /g)).toHaveLength(
      replay.counts.messages,
    );
  }, 180_000);
});
