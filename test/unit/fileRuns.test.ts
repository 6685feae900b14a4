import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FileRunStore } from "../../src/local/fileRuns";
import { EVENTS_SCRATCH_PREFIX } from "../../src/replay/files";

describe("FileRunStore.removeLeftovers", () => {
  it("removes the run stores and staged events a killed run left, and nothing else in the folder", async () => {
    // Prepare: two stores with runs in them (one made as a run makes it), and files of others
    const root = mkdtempSync(join(tmpdir(), "leftovers-"));
    const store = await FileRunStore.create(root);
    await store.put("r1-run-0-messages", [Buffer.from("items")]);
    mkdirSync(join(root, "ivs-chat-runs-old"));
    writeFileSync(join(root, "ivs-chat-runs-old", "r2-run-3-events"), "items");
    mkdirSync(join(root, `${EVENTS_SCRATCH_PREFIX}x1`));
    writeFileSync(join(root, `${EVENTS_SCRATCH_PREFIX}x1`, "events"), "staged");
    mkdirSync(join(root, "someone-else"));
    writeFileSync(join(root, "notes.txt"), "kept");

    // Act
    const removed = FileRunStore.removeLeftovers(root);

    // Assess
    expect(removed.sort()).toEqual(
      [store.dir.slice(root.length + 1), "ivs-chat-runs-old", `${EVENTS_SCRATCH_PREFIX}x1`].sort(),
    );
    expect(readdirSync(root).sort()).toEqual(["notes.txt", "someone-else"]);
  });
});
