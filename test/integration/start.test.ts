import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");

describe("npm start", () => {
  it("plays a broadcast on its own moto and ends with the replay in out/", () => {
    rmSync(join(ROOT, "out", "replay.json"), { force: true });
    const env = { ...process.env };
    delete env.AWS_ENDPOINT_URL;

    const run = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "start"], {
      cwd: ROOT,
      env,
      encoding: "utf8",
      timeout: 120_000,
    });

    const replay = JSON.parse(readFileSync(join(ROOT, "out", "replay.json"), "utf8"));
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/started moto at http:\/\/127\.0\.0\.1:\d+/);
    expect(run.stdout).toContain("replay at s3://ivs-recordings-example/");
    expect(run.stdout).toMatch(/with index\.json, \d+ segments and replay\.vtt; copies in out\//);
    expect(run.stdout).toContain("stopped moto");
    expect(replay).toMatchObject({ version: 1, streamIds: ["st-1A2b3c4D5e6F78ghij9Klmn"] });
    expect(replay.counts.records).toBe(400);
    expect(replay.counts.deleted).toBeGreaterThan(0);
    expect(replay.counts.duplicates).toBeGreaterThan(0);
    expect(replay.counts.skipped).toBeGreaterThan(0);
    expect(replay.messages).toHaveLength(replay.counts.messages);
    expect(replay.events.length).toBeGreaterThan(0);
    const index = JSON.parse(readFileSync(join(ROOT, "out", "index.json"), "utf8"));
    expect(index).toMatchObject({ version: 2, segmentMs: 60000, counts: replay.counts });
    const segments = index.segments.map((entry: { key: string }) =>
      JSON.parse(readFileSync(join(ROOT, "out", entry.key), "utf8")),
    );
    expect(segments.flatMap((segment: { messages: unknown[] }) => segment.messages)).toEqual(replay.messages);
    expect(readFileSync(join(ROOT, "out", "replay.vtt"), "utf8").match(/ --> /g)).toHaveLength(
      replay.counts.messages,
    );
  }, 180_000);
});
