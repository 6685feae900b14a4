/**
 * ChatReplay: shows a VOD's chat in sync with its video (SPEC section 5). A browser ES module with
 * no dependency and no Node API: it opens `index.json` (or a version 1 `replay.json`), loads only
 * the segments near the playhead, and tells the page which messages and events to show.
 */

/** A replay item as `replay.json` writes it. */
export interface ReplayItem {
  id: string;
  offsetMs: number;
  sendTime: string;
  attributes: Record<string, unknown>;
  content?: unknown;
  sender?: { userId: string | null; attributes: Record<string, unknown> };
  name?: string | null;
}

/** A replay item with its kind. */
export type ChatItem = ReplayItem & { type: "message" | "event" };

/** What `update` answers: the items the playhead passed since the last update, and the messages to show. */
export interface Update {
  added: ChatItem[];
  visible: ChatItem[];
}

/** The header of a replay: `index.json` without `segments`, or a version 1 `replay.json` without its items. */
export type ReplayHeader = Record<string, unknown> & { version: number; offsetBase: string | null };

/** Options of `ChatReplay.open`. */
export interface OpenOptions {
  /** Messages `visible` keeps (default 50). */
  history?: number;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
  /** Segments kept in memory (default 8; those the current update needs are always kept). */
  maxSegments?: number;
}

/** The part of an `HTMLMediaElement` (native video, hls.js, video.js's tech) the client follows. */
export interface MediaElementLike {
  currentTime: number;
  paused: boolean;
  seeking?: boolean;
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/** The part of the Amazon IVS Player the client follows (positions in seconds). */
export interface IvsPlayerLike {
  getPosition(): number;
  getPlaybackRate?(): number;
  isPaused?(): boolean;
  addEventListener(type: string, listener: (...args: unknown[]) => void): void;
  removeEventListener(type: string, listener: (...args: unknown[]) => void): void;
}

/** A clock: a media element, an IVS Player, or a function giving the media time in milliseconds. */
export type Clock = MediaElementLike | IvsPlayerLike | (() => number);

interface SegmentEntry {
  startMs: number;
  endMs: number;
  messages: number;
  events: number;
  key: string;
}

/** A segment in memory: its items tagged with their kind once, when it loads. */
interface Segment {
  messages: ChatItem[];
  events: ChatItem[];
}

function segmentOf(json: { messages?: ReplayItem[]; events?: ReplayItem[] }): Segment {
  return {
    messages: (json.messages ?? []).map((item): ChatItem => ({ ...item, type: "message" })),
    events: (json.events ?? []).map((item): ChatItem => ({ ...item, type: "event" })),
  };
}

const RETRY_DELAYS_MS = [250, 1000, 3000];
// A request that has not answered (its body included) in this long is dropped and tried again.
const FETCH_TIMEOUT_MS = 10_000;
// How far an IVS Player's or a function clock's position may run ahead of its rate between two
// looks before it counts as a seek.
const JUMP_SLACK_MS = 2000;
// A function clock says nothing of its rate: it is taken to play at most this fast (the fastest
// rate browsers give a media element), so a jump further ahead is a seek.
const FUNCTION_CLOCK_MAX_RATE = 16;
// The IVS Player's event after a seek (PlayerEventType.SEEK_COMPLETED).
const IVS_SEEK_COMPLETED = "PlayerSeekCompleted";

/** A send time as [epoch ms, digits below the millisecond], to order items to the nanosecond. */
function sendKey(sendTime: string): [number, string] {
  const fraction = /\.(\d+)/.exec(sendTime)?.[1] ?? "";
  return [Date.parse(sendTime), fraction.slice(3).replace(/0+$/, "")];
}

function compareSub(a: string, b: string): number {
  const width = Math.max(a.length, b.length);
  const pa = a.padEnd(width, "0");
  const pb = b.padEnd(width, "0");
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** Replay order across messages and events: `offsetMs`, then `sendTime` to the nanosecond, then `id`. */
function byReplayOrder(a: ChatItem, b: ChatItem): number {
  if (a.offsetMs !== b.offsetMs) return a.offsetMs - b.offsetMs;
  const [am, as] = sendKey(a.sendTime);
  const [bm, bs] = sendKey(b.sendTime);
  if (am !== bm) return am - bm;
  const sub = compareSub(as, bs);
  if (sub !== 0) return sub;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What an update overtaken by a later seek rejects with: its answer is of a moment left behind. */
export class SupersededError extends Error {
  constructor() {
    super("the update was overtaken by a later seek");
    this.name = "SupersededError";
  }
}

/** A replay opened from its URL, following a clock. */
export class ChatReplay {
  /** `index.json` without `segments` (or the version 1 header). */
  readonly header: ReplayHeader;
  private readonly segments: SegmentEntry[];
  private readonly loaded = new Map<string, Segment>();
  private readonly loading = new Map<string, Promise<Segment>>();
  private readonly history: number;
  private readonly maxSegments: number;
  private previous: number | undefined;
  private visible: ChatItem[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  // Seeks so far: an update started before the latest seek leaves the playhead alone.
  private seeks = 0;

  private constructor(
    private readonly baseUrl: string,
    header: ReplayHeader,
    segments: SegmentEntry[],
    private readonly fetcher: typeof fetch,
    options: OpenOptions,
    whole?: Segment,
  ) {
    this.header = header;
    this.segments = segments;
    this.history = Math.max(0, Math.floor(options.history ?? 50));
    this.maxSegments = Math.max(1, Math.floor(options.maxSegments ?? 8));
    if (whole !== undefined) this.loaded.set(segments[0]?.key ?? "", whole);
  }

  /** Opens `index.json` (version 2), or a version 1 `replay.json` (loaded whole). */
  static async open(url: string, options: OpenOptions = {}): Promise<ChatReplay> {
    const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    const json = (await fetchJson(fetcher, url)) as Record<string, unknown>;
    // Relative URLs resolve against the page, as fetch resolves them.
    const page = (globalThis as { location?: { href: string } }).location?.href;
    const base = new URL(url, page ?? "http://localhost/").href;
    if (json.version === 2 && Array.isArray(json.segments)) {
      const { segments, ...header } = json;
      return new ChatReplay(base, header as ReplayHeader, segments as SegmentEntry[], fetcher, options);
    }
    if (json.version === 1 && Array.isArray(json.messages) && Array.isArray(json.events)) {
      const { messages, events, ...header } = json;
      const whole = segmentOf({ messages: messages as ReplayItem[], events: events as ReplayItem[] });
      let first = Number.POSITIVE_INFINITY;
      let last = Number.NEGATIVE_INFINITY;
      for (const item of [...whole.messages, ...whole.events]) {
        first = Math.min(first, item.offsetMs);
        last = Math.max(last, item.offsetMs);
      }
      const empty = whole.messages.length + whole.events.length === 0;
      const entry = {
        startMs: empty ? 0 : first,
        endMs: empty ? 0 : last + 1,
        messages: whole.messages.length,
        events: whole.events.length,
        key: "",
      };
      return new ChatReplay(base, header as ReplayHeader, empty ? [] : [entry], fetcher, options, whole);
    }
    throw new Error(`${url} is neither a version 2 index.json nor a version 1 replay.json`);
  }

  /**
   * Moves the playhead to `mediaMs`. A seek (the first call, `seek: true`, or any move backwards)
   * answers `added: []` and the last `history` messages at or before `mediaMs`; a move forward
   * answers every item passed since the last update, in replay order. A failed fetch rejects and
   * leaves the playhead where it was, so the next update tries again. A seek does not wait for
   * the updates before it: one still waiting for a segment then rejects with `SupersededError`.
   */
  update(mediaMs: number, options: { seek?: boolean } = {}): Promise<Update> {
    return this.run(mediaMs, options.seek === true).then((moved) => moved.update);
  }

  /** Updates one at a time, in call order, but for a seek; `seeked` says whether the update acted as a seek. */
  private run(mediaMs: number, seek: boolean): Promise<{ update: Update; seeked: boolean }> {
    const generation = seek ? ++this.seeks : this.seeks;
    const next = (seek ? Promise.resolve() : this.queue).then(() => this.move(mediaMs, seek, generation));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * What `work` (a fetch of segments) gives, or `SupersededError` when a seek came after the update
   * of `generation` began, whether `work` succeeded or failed: that update's answer is not wanted.
   */
  private async unlessOvertaken<T>(generation: number, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } finally {
      // biome-ignore lint/correctness/noUnsafeFinally: the overtaken update's outcome is replaced on purpose
      if (generation !== this.seeks) throw new SupersededError();
    }
  }

  /** Segment keys in memory now (for tests and diagnostics). */
  get segmentsInMemory(): string[] {
    return [...this.loaded.keys()];
  }

  /**
   * Follows a clock and calls `onUpdate` with every update that adds an item or follows a seek:
   * on each animation frame while the page is visible, on the media's `timeupdate`/`seeked`
   * events (so a throttled tab catches up), and at once. Returns a function that detaches it.
   * A media element says when it seeks; an IVS Player and a function clock seek when they jump
   * ahead further than playback could have taken them since the last look (a function clock is
   * taken to play at 16x at most), or back.
   */
  attach(clock: Clock, onUpdate: (update: Update) => void): () => void {
    let attached = true;
    let frame: number | undefined;
    let seekPending = true;
    // Updates started, and whether the latest one is still running.
    let started = 0;
    let busy = false;
    let last: { at: number; wall: number } | undefined;
    const element = typeof clock !== "function" && !("getPosition" in clock) ? clock : undefined;
    const ivs = typeof clock !== "function" && "getPosition" in clock ? clock : undefined;
    const now = (): number => {
      if (typeof clock === "function") return clock();
      if (ivs !== undefined) return ivs.getPosition() * 1000;
      return (element as MediaElementLike).currentTime * 1000;
    };
    // The IVS Player says a seek is over but not that one began, and a function clock says
    // neither: a move back, or a jump ahead of what playback could cover since the last look, is one.
    const jumped = (at: number, wall: number): boolean => {
      if (element !== undefined || last === undefined) return false;
      const rate = ivs === undefined ? FUNCTION_CLOCK_MAX_RATE : Math.abs(ivs.getPlaybackRate?.() ?? 1);
      return at < last.at || at - last.at > (wall - last.wall) * rate + JUMP_SLACK_MS;
    };
    const tick = () => {
      if (!attached) return;
      // A media element shows the new time as soon as a seek begins: wait for it to end.
      if (element?.seeking === true) {
        seekPending = true;
        return;
      }
      const at = now();
      const wall = Date.now();
      const seek = seekPending || jumped(at, wall);
      // One update at a time, so a slow fetch does not pile up a queue of them; but a seek goes
      // at once, and the update it overtakes is dropped.
      if (busy && !seek) return;
      seekPending = false;
      busy = true;
      // The look acted on: later ones are measured from it, while its update runs too.
      last = { at, wall };
      const mine = ++started;
      this.run(at, seek).then(
        ({ update, seeked }) => {
          if (mine === started) busy = false;
          if (attached && (seeked || update.added.length > 0)) onUpdate(update);
        },
        (error: unknown) => {
          // An update overtaken by a later one is not needed; the latest is tried again on the
          // next tick, from the same place, unless a seek of the page's own overtook it.
          if (mine !== started) return;
          busy = false;
          if (seek && !(error instanceof SupersededError)) seekPending = true;
        },
      );
    };
    const onSeeking = () => {
      seekPending = true;
    };
    // A media element's seek began with `seeking`: it is done once, on `seeked` or on the
    // `timeupdate` that comes before it.
    const onSeeked = () => tick();
    // The IVS Player has no event for a seek's start.
    const onSeekCompleted = () => {
      seekPending = true;
      tick();
    };
    const raf = (globalThis as { requestAnimationFrame?: (callback: () => void) => number })
      .requestAnimationFrame;
    const cancel = (globalThis as { cancelAnimationFrame?: (handle: number) => void }).cancelAnimationFrame;
    const loop = () => {
      if (!attached || raf === undefined) return;
      tick();
      frame = raf(loop);
    };
    const events: [string, () => void][] =
      ivs !== undefined
        ? [[IVS_SEEK_COMPLETED, onSeekCompleted]]
        : element !== undefined
          ? [
              ["seeking", onSeeking],
              ["seeked", onSeeked],
              ["timeupdate", tick],
              ["play", tick],
            ]
          : [];
    const target = ivs ?? element;
    for (const [type, listener] of events) target?.addEventListener(type, listener);
    // Without animation frames (a worker, a test), a timer drives it.
    const timer = raf === undefined ? setInterval(tick, 100) : undefined;
    if (raf !== undefined) frame = raf(loop);
    tick();
    return () => {
      attached = false;
      for (const [type, listener] of events) target?.removeEventListener(type, listener);
      if (frame !== undefined) cancel?.(frame);
      if (timer !== undefined) clearInterval(timer);
    };
  }

  private async move(
    mediaMs: number,
    seek: boolean,
    generation: number,
  ): Promise<{ update: Update; seeked: boolean }> {
    const previous = this.previous;
    if (previous === undefined || seek || mediaMs < previous) {
      const visible = await this.unlessOvertaken(generation, this.lastMessagesAt(mediaMs));
      this.previous = mediaMs;
      this.visible = visible;
      this.prefetchAfter(mediaMs);
      return { update: { added: [], visible: [...visible] }, seeked: true };
    }
    if (mediaMs === previous) return { update: { added: [], visible: [...this.visible] }, seeked: false };
    const entries = this.segments.filter((entry) => entry.endMs > previous && entry.startMs <= mediaMs);
    const loaded = await this.unlessOvertaken(generation, this.load(entries, mediaMs));
    const passed = (item: ChatItem) => item.offsetMs > previous && item.offsetMs <= mediaMs;
    const added = loaded
      .flatMap((segment) => [...segment.messages.filter(passed), ...segment.events.filter(passed)])
      .sort(byReplayOrder);
    const messages = added.filter((item) => item.type === "message");
    this.visible = this.history === 0 ? [] : [...this.visible, ...messages].slice(-this.history);
    this.previous = mediaMs;
    this.prefetchAfter(mediaMs);
    return { update: { added, visible: [...this.visible] }, seeked: false };
  }

  /** The last `history` messages at or before `mediaMs`, oldest first, from as many segments back as it takes. */
  private async lastMessagesAt(mediaMs: number): Promise<ChatItem[]> {
    if (this.history === 0) return [];
    const before = this.segments.filter((entry) => entry.startMs <= mediaMs);
    const needed: SegmentEntry[] = [];
    let count = 0;
    for (let i = before.length - 1; i >= 0 && count < this.history; i--) {
      const entry = before[i] as SegmentEntry;
      // A segment of events alone holds no history.
      if (entry.messages === 0) continue;
      needed.unshift(entry);
      // The segment holding the playhead may have messages after it: they do not count.
      if (entry.endMs <= mediaMs) count += entry.messages;
    }
    const loaded = await this.load(needed, mediaMs);
    const messages = loaded.flatMap((segment) => segment.messages).filter((item) => item.offsetMs <= mediaMs);
    return messages.slice(-this.history);
  }

  /** The segments, fetched where not in memory; memory then keeps these and the most recent others. */
  private async load(entries: SegmentEntry[], mediaMs: number): Promise<Segment[]> {
    const segments = await Promise.all(entries.map((entry) => this.segment(entry)));
    this.evict(new Set(entries.map((entry) => entry.key)), mediaMs);
    for (const entry of entries) {
      // Most recently used last.
      const segment = this.loaded.get(entry.key);
      if (segment !== undefined) {
        this.loaded.delete(entry.key);
        this.loaded.set(entry.key, segment);
      }
    }
    return segments;
  }

  private async segment(entry: SegmentEntry): Promise<Segment> {
    const ready = this.loaded.get(entry.key);
    if (ready !== undefined) return ready;
    let pending = this.loading.get(entry.key);
    if (pending === undefined) {
      pending = fetchJson(this.fetcher, new URL(entry.key, this.baseUrl).href).then((json) => {
        this.loaded.set(entry.key, segmentOf(json as { messages?: ReplayItem[]; events?: ReplayItem[] }));
        return this.loaded.get(entry.key) as Segment;
      });
      this.loading.set(entry.key, pending);
      pending.then(
        () => this.loading.delete(entry.key),
        () => this.loading.delete(entry.key),
      );
    }
    return pending;
  }

  /** Keeps `maxSegments` in memory: those in use, the next one, then the most recently used. */
  private evict(inUse: Set<string>, mediaMs: number): void {
    const next = this.nextAfter(mediaMs)?.key;
    for (const key of [...this.loaded.keys()]) {
      if (this.loaded.size <= Math.max(this.maxSegments, inUse.size + (next === undefined ? 0 : 1))) break;
      if (!inUse.has(key) && key !== next) this.loaded.delete(key);
    }
  }

  private nextAfter(mediaMs: number): SegmentEntry | undefined {
    return this.segments.find((entry) => entry.startMs > mediaMs);
  }

  /** Starts loading the segment after the playhead's, before it is needed. */
  private prefetchAfter(mediaMs: number): void {
    const next = this.nextAfter(mediaMs);
    if (next === undefined || this.loaded.has(next.key) || this.loading.has(next.key)) return;
    this.segment(next).then(
      () => this.evict(new Set(), this.previous ?? mediaMs),
      () => undefined,
    );
  }
}

/** GETs JSON, retrying a failed or silent request a few times with backoff. */
async function fetchJson(fetcher: typeof fetch, url: string): Promise<unknown> {
  for (let attempt = 0; ; attempt++) {
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new Error(`GET ${url}: no answer in ${FETCH_TIMEOUT_MS / 1000} s`)),
      FETCH_TIMEOUT_MS,
    );
    try {
      const response = await fetcher(url, { signal: abort.signal });
      if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
      return await response.json();
    } catch (error) {
      const wait = RETRY_DELAYS_MS[attempt];
      if (wait === undefined) throw abort.signal.aborted ? abort.signal.reason : error;
      await delay(wait);
    } finally {
      clearTimeout(timer);
    }
  }
}
