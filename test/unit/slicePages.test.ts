import { describe, expect, it } from "vitest";
import type { ChatPage, SlicePosition } from "../../src/archive/ports";
import { slicePages } from "../../src/aws/slicePages";

const slice = (start: number): SlicePosition => ({ start, end: start + 100, read: 0, done: false });

/** A slice reader of `pages` pages a slice, one record each, that notes which slices it opened. */
function reader(pages: number) {
  const opened: number[] = [];
  async function* read(index: number, from: SlicePosition, stopped: () => boolean): AsyncGenerator<ChatPage> {
    opened.push(index);
    for (let read = from.read; read < pages && !stopped(); read++) {
      await new Promise((resolve) => setImmediate(resolve));
      const next = { ...from, read: read + 1, done: read + 1 === pages };
      yield { slice: index, seq: read, records: [`${index}/${read}`], next, retries: 0 };
    }
  }
  return { read, opened };
}

describe("slicePages winding down", () => {
  it("opens no slice once winding down, and ends after the pages of the slices open", async () => {
    // Prepare: three slices of three pages, one slice at a time
    const { read, opened } = reader(3);
    let winding = false;

    // Act
    const records: string[] = [];
    for await (const page of slicePages([slice(0), slice(100), slice(200)], read, {
      concurrency: 1,
      windDown: () => winding,
    })) {
      records.push(...page.records);
      winding = true;
    }

    // Assess: the open slice gave what it had asked for, in order, and no other slice opened
    expect(opened).toEqual([0]);
    expect(records[0]).toBe("0/0");
    expect(records).toEqual(records.map((_, i) => `0/${i}`));
  });

  it("ends with the error of a slice that fails while winding down", async () => {
    // Prepare
    let winding = false;
    async function* read(index: number): AsyncGenerator<ChatPage> {
      const next = { ...slice(0), read: 1 };
      yield { slice: index, seq: 0, records: ["first"], next, retries: 0 };
      throw new Error("socket hang up");
    }

    // Act
    const records: string[] = [];
    const reading = (async () => {
      for await (const page of slicePages([slice(0)], read, { windDown: () => winding })) {
        records.push(...page.records);
        winding = true;
      }
    })();

    // Assess
    await expect(reading).rejects.toThrow("socket hang up");
    expect(records).toEqual(["first"]);
  });
});
