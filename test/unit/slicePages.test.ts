import { describe, expect, it } from "vitest";
import type { ChatPage, SlicePosition } from "../../src/archive/ports";
import { slicePages } from "../../src/aws/slicePages";

const slice = (start: number): SlicePosition => ({
  start,
  end: start + 100,
  read: 0,
  done: false,
  rank: start,
});

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

describe("slicePages splitting", () => {
  /** A splitter that splits slice 0 at 50 once, and notes the indexes it was asked for. */
  function splitOnce() {
    const asked: number[] = [];
    let made = false;
    const split = {
      slicesAtOnce: 2,
      next: (index: number) => {
        asked.push(index);
        if (made) return undefined;
        made = true;
        return { from: 0, position: { start: 50, end: 100, read: 0, done: false, rank: 1 } };
      },
    };
    return { split, asked };
  }

  it("opens a split slice with a page that announces it, then reads it", async () => {
    // Prepare: two slices where two may be read; once one is done, the splitter gives a third
    const { read, opened } = reader(2);
    const { split, asked } = splitOnce();

    // Act
    const pages: ChatPage[] = [];
    for await (const page of slicePages([slice(0), slice(100)], read, { split })) pages.push(page);

    // Assess
    const announced = pages.filter((page) => page.splitOf !== undefined);
    expect(announced).toEqual([
      {
        slice: 2,
        seq: 0,
        records: [],
        next: { start: 50, end: 100, read: 0, done: false, rank: 1 },
        retries: 0,
        splitOf: 0,
      },
    ]);
    expect(asked[0]).toBe(2);
    expect(opened).toEqual([0, 1, 2]);
    const third = pages.filter((page) => page.slice === 2);
    expect(third[0]).toBe(announced[0]);
    expect(third.slice(1).flatMap((page) => page.records)).toEqual(["2/0", "2/1"]);
  });

  it("splits nothing once winding down", async () => {
    // Prepare
    const { read, opened } = reader(2);
    const { split, asked } = splitOnce();

    // Act
    const pages: ChatPage[] = [];
    for await (const page of slicePages([slice(0), slice(100)], read, { split, windDown: () => true })) {
      pages.push(page);
    }

    // Assess
    expect(asked).toEqual([]);
    expect(opened).toEqual([0, 1]);
    expect(pages.some((page) => page.splitOf !== undefined)).toBe(false);
  });
});
