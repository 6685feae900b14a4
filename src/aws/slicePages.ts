import type { ChatPage, SlicePosition } from "../archive/ports";

/** Reads one slice from where it stands: its pages in log order, asking for none once `stopped()`. */
export type SliceReader = (
  index: number,
  from: SlicePosition,
  stopped: () => boolean,
) => AsyncIterable<ChatPage>;

/** A queue of pages from many producers to one consumer, with an end and an error. */
class PageChannel {
  private readonly pages: ChatPage[] = [];
  private wake: (() => void) | undefined;
  private failure: unknown;
  private open = 0;

  producer(): void {
    this.open++;
  }

  push(page: ChatPage): void {
    this.pages.push(page);
    this.signal();
  }

  close(error?: unknown): void {
    if (error !== undefined && this.failure === undefined) this.failure = error;
    this.open--;
    this.signal();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *drain(): AsyncGenerator<ChatPage> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const page = this.pages.shift();
      if (page !== undefined) {
        yield page;
        continue;
      }
      if (this.open === 0) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

/** A slice split while it is read: slice `from` now ends where `position`, a new slice, starts. */
export interface SliceSplit {
  from: number;
  position: SlicePosition;
}

/**
 * How slices are split to keep `slicesAtOnce` read at once: `next(index)` gives a split whose new
 * slice will be number `index`, or undefined when none is worth it.
 */
export interface Splitter {
  slicesAtOnce: number;
  next(index: number): SliceSplit | undefined;
}

/**
 * The pages of every slice not done, read by `readSlice` with at most `concurrency` slices at once,
 * each at most `readAhead` pages ahead of the consumer (so memory stays bounded). Pages come in
 * the order they arrive; within a slice, in log order. The first error ends the read; returning
 * from the iteration stops every slice. Once `windDown()` is true no slice asks for another page
 * or opens, and the iteration ends after the pages already read or asked for. With `split`, while
 * fewer than its `slicesAtOnce` are read, a slice may be split (one at a time, on each page or
 * slice read through) and the new one read too, announced by a first page without records
 * (`splitOf`). A page of the split slice may still carry its end from before the split.
 */
export async function* slicePages(
  slices: readonly SlicePosition[],
  readSlice: SliceReader,
  {
    concurrency = Number.POSITIVE_INFINITY,
    readAhead = 2,
    windDown = () => false,
    split,
  }: { concurrency?: number; readAhead?: number; windDown?: () => boolean; split?: Splitter } = {},
): AsyncGenerator<ChatPage> {
  // At least one slice and one page at a time: anything less would read nothing, or wait forever.
  const slicesAtOnce = Math.max(1, concurrency);
  const pagesAhead = Math.max(1, readAhead);
  const channel = new PageChannel();
  const consumed = slices.map(() => 0);
  const waiting = new Map<number, () => void>();
  const stop = new AbortController();
  const stopped = () => stop.signal.aborted;
  const winding = () => stopped() || windDown();
  const pending = [...slices.entries()].filter(([, slice]) => !slice.done);
  let reading = 0;

  const run = async (index: number, slice: SlicePosition, announced?: ChatPage) => {
    let produced = 0;
    if (announced !== undefined) {
      produced++;
      channel.push(announced);
    }
    for await (const page of readSlice(index, slice, winding)) {
      if (stopped()) return;
      produced++;
      channel.push(page);
      while (produced - (consumed[index] as number) >= pagesAhead && !stopped()) {
        await new Promise<void>((resolve) => waiting.set(index, resolve));
      }
      if (stopped()) return;
    }
  };
  const open = (index: number, slice: SlicePosition, announced?: ChatPage) => {
    channel.producer();
    reading++;
    run(index, slice, announced)
      .then(() => {
        reading--;
        // The next slice opens before this one closes, so the consumer never sees none open in between.
        if (!winding()) fill();
      })
      .then(
        () => channel.close(),
        (error: unknown) => channel.close(error),
      );
  };
  const fill = () => {
    while (reading < slicesAtOnce && pending.length > 0)
      open(...(pending.shift() as [number, SlicePosition]));
    // One split at a time: the next waits for news of the slices (a page, or a slice read through).
    if (split === undefined || reading >= split.slicesAtOnce || winding()) return;
    const index = consumed.length;
    const made = split.next(index);
    if (made === undefined) return;
    consumed.push(0);
    const announced = {
      slice: index,
      seq: 0,
      records: [],
      next: made.position,
      retries: 0,
      splitOf: made.from,
    };
    open(index, made.position, announced);
  };
  fill();
  try {
    for await (const page of channel.drain()) {
      consumed[page.slice] = (consumed[page.slice] as number) + 1;
      waiting.get(page.slice)?.();
      waiting.delete(page.slice);
      yield page;
      // A slice's page may show it worth splitting now.
      if (!winding()) fill();
    }
  } finally {
    stop.abort();
    for (const wake of waiting.values()) wake();
  }
}
