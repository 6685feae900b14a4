import { execFile, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { MOTO_ENV, startMoto } from "../support/moto";

const ROOT = join(__dirname, "..", "..");
const execFileAsync = promisify(execFile);

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
    expect(replay.streamIds).toEqual([
      expect.stringMatching(/^st-demo\w+First$/),
      expect.stringMatching(/^st-demo\w+Reconnect$/),
    ]);
    // Recorded under today's date, as IVS names the prefix.
    const day = new Date(Date.now() - 2 * 3_600_000);
    expect(replay.recording.prefix).toContain(
      `/AbCdef1G2hij/${day.getUTCFullYear()}/${day.getUTCMonth() + 1}/${day.getUTCDate()}/`,
    );
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

  it("plays a broadcast of its own on each run against the same local AWS", async () => {
    const moto = await startMoto();
    try {
      // Run one after the other, without blocking this process: it serves moto's output meanwhile.
      const runs = [];
      for (const _ of [1, 2]) {
        const run = await execFileAsync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "start"], {
          cwd: ROOT,
          env: { ...process.env, ...MOTO_ENV, AWS_ENDPOINT_URL: moto.endpoint },
          encoding: "utf8",
          timeout: 120_000,
        }).then(
          ({ stderr }) => ({ status: 0, stderr }),
          (error: { code?: number; stderr?: string }) => ({
            status: error.code ?? null,
            stderr: error.stderr ?? "",
          }),
        );
        runs.push({
          run,
          replay: JSON.parse(readFileSync(join(ROOT, "out", "chat", "replay.json"), "utf8")),
        });
      }

      for (const { run, replay } of runs) {
        expect(run.status, run.stderr).toBe(0);
        expect(replay.counts.records).toBe(403);
      }
      expect(runs[1]?.replay.recording.sessionId).not.toBe(runs[0]?.replay.recording.sessionId);
    } finally {
      await moto.stop();
    }
  }, 240_000);
});
