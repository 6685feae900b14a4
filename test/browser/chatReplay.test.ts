import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticChatLog } from "../../src/cli/synthetic";
import { buildReplay, compareInstants, parseInstant, replayFiles } from "../../src/replay";

const ROOT = resolve(__dirname, "..", "..");
// Debian's chromium, never a downloaded browser (.ci/run installs it when missing).
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) {
  console.warn(
    `\n${"!".repeat(78)}\n!! NO CHROMIUM at ${CHROMIUM}: the browser tests of ChatReplay are SKIPPED.\n!! Install it (apt-get install -y chromium) or set CHROMIUM_PATH; .ci/run does.\n${"!".repeat(78)}\n`,
  );
}

const START = Date.parse("2024-01-05T14:00:00Z");
const MINUTE = 60_000;

interface Item {
  id: string;
  offsetMs: number;
  sendTime: string;
  type: "message" | "event";
}

/** Three hours of chat, with silent and bursting minutes, as the archive writes it; served on loopback. */
async function serveReplay(built: string) {
  const lines = [
    ...syntheticChatLog({
      records: 6000,
      start: new Date(START),
      durationMs: 3 * 60 * MINUTE,
      seed: 5,
      customEventRate: 0.03,
    }),
  ]
    .filter((record) => Math.floor((record.timestampMs - START) / MINUTE) % 7 !== 3) // a silent minute in seven
    .map((record) => record.line);
  // A burst: 400 messages in one minute.
  for (let i = 0; i < 400; i++) {
    const at = new Date(START + 90 * MINUTE + i * 150).toISOString();
    lines.push(
      JSON.stringify({
        event_timestamp: at,
        type: "MESSAGE",
        payload: {
          Id: `burst${i}`,
          Content: `<img src=x onerror="window.pwned=1"> #${i}`,
          SendTime: at,
          Attributes: {},
          Sender: { UserId: "fan" },
        },
      }),
    );
  }
  const files = new Map<string, string>();
  let replayText = "";
  for await (const part of replayFiles(
    await buildReplay(lines, { window: { start: null, end: null }, offsetBase: null }),
    60_000,
  )) {
    if (part.file === "segment") files.set(`/vod/${part.key}`, part.body.toString("utf8"));
    else if (part.file === "index.json") files.set("/vod/index.json", part.body.toString("utf8"));
    else if (part.file === "replay.json") replayText += part.chunk.toString("utf8");
  }
  files.set("/player/chat-replay.js", await readFile(join(built, "player", "chat-replay.js"), "utf8"));
  files.set("/", "<!doctype html><title>ChatReplay test</title><ul id=chat></ul>");
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    requests.push(path);
    const body = files.get(path);
    if (body === undefined) {
      response.writeHead(404).end();
      return;
    }
    const type = path.endsWith(".js") ? "text/javascript" : path === "/" ? "text/html" : "application/json";
    response.writeHead(200, { "content-type": type }).end(body);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const replay = JSON.parse(replayText) as { messages: Item[]; events: Item[] };
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    messages: replay.messages.map((m) => ({ ...m, type: "message" as const })),
    events: replay.events.map((e) => ({ ...e, type: "event" as const })),
  };
}

describe.skipIf(!HAS_CHROMIUM)("ChatReplay in Chromium (dist/player/chat-replay.js)", () => {
  let served: Awaited<ReturnType<typeof serveReplay>>;
  let server: Server;
  let browser: Browser;
  let page: Page;
  let built: string;

  beforeAll(async () => {
    // The module as `npm run build` makes it, built into this test's own folder.
    built = await mkdtemp(join(tmpdir(), "chat-replay-build-"));
    await promisify(execFile)(process.execPath, [join(ROOT, "scripts", "build.mjs"), built]);
    served = await serveReplay(built);
    server = served.server;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(served.url);
    // The built module, imported by the page as a player page would (vitest rewrites import() in evaluated code).
    await page.addScriptTag({
      type: "module",
      content: 'import { ChatReplay } from "/player/chat-replay.js"; window.ChatReplay = ChatReplay;',
    });
    await page.waitForFunction(() => "ChatReplay" in window);
    expect(errors).toEqual([]);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => server?.close(done));
    if (built) await rm(built, { recursive: true, force: true });
  });

  const order = (a: Item, b: Item) =>
    a.offsetMs - b.offsetMs ||
    compareInstants(
      parseInstant(a.sendTime) ?? { ms: 0, sub: "" },
      parseInstant(b.sendTime) ?? { ms: 0, sub: "" },
    ) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const added = (from: number, to: number) =>
    [...served.messages, ...served.events].filter((i) => i.offsetMs > from && i.offsetMs <= to).sort(order);
  const visible = (at: number, history = 50) =>
    served.messages.filter((m) => m.offsetMs <= at).slice(-history);
  const ids = (items: Item[]) => items.map((item) => `${item.type}:${item.id}`);

  it("follows a script of seeks and plays exactly as replay.json prescribes, loading only segments near the playhead", async () => {
    // Act: in the page, through the built module
    served.requests.length = 0;
    const steps = [
      { at: 95 * MINUTE, seek: true },
      { at: 95 * MINUTE + 400 },
      { at: 96 * MINUTE + 10 },
      { at: 30 * MINUTE, seek: true },
      { at: 30 * MINUTE + 59_999 },
      { at: 31 * MINUTE },
      { at: 20 * MINUTE }, // backwards: a seek
      { at: 24 * MINUTE + 1 },
    ];
    const results = await page.evaluate(async (script) => {
      const { ChatReplay } = window as unknown as {
        ChatReplay: typeof import("../../src/player/chat-replay").ChatReplay;
      };
      const replay = await ChatReplay.open("/vod/index.json");
      const out = [];
      for (const step of script) {
        const update = await replay.update(step.at, { seek: step.seek === true });
        out.push({
          added: update.added.map((i: { type: string; id: string }) => `${i.type}:${i.id}`),
          visible: update.visible.map((i: { type: string; id: string }) => `${i.type}:${i.id}`),
        });
      }
      return out;
    }, steps);

    // Assess
    let previous = 0;
    const expected = steps.map((step) => {
      const seek = step.seek === true || step.at < previous;
      const result = seek
        ? { added: [], visible: ids(visible(step.at)) }
        : { added: ids(added(previous, step.at)), visible: [] };
      previous = step.at;
      return result;
    });
    expect(results.map((r) => r.added)).toEqual(expected.map((e) => e.added));
    for (const [i, step] of steps.entries()) expect(results[i]?.visible).toEqual(ids(visible(step.at)));
    const segments = served.requests
      .filter((path) => path.startsWith("/vod/segments/"))
      .map((path) => Number(path.slice(14, -5)));
    expect(segments.length).toBeGreaterThan(0);
    const near = (ms: number) =>
      steps.some((step) => ms >= step.at - 3 * MINUTE && ms <= step.at + 2 * MINUTE);
    expect(segments.filter((ms) => !near(ms))).toEqual([]);
    expect(new Set(segments).size).toBe(segments.length);
  });

  it("follows a clock on animation frames, and shows chat markup as text", async () => {
    // Act: a page-side clock that plays a minute at 15x (faster would be taken for a seek)
    const shown = await page.evaluate(async () => {
      const { ChatReplay } = window as unknown as {
        ChatReplay: typeof import("../../src/player/chat-replay").ChatReplay;
      };
      const replay = await ChatReplay.open("/vod/index.json", { history: 10 });
      const list = document.getElementById("chat") as HTMLUListElement;
      let now = 90 * 60_000;
      const seen: string[] = [];
      const detach = replay.attach(
        () => now,
        (update: { added: { id: string; type: string }[]; visible: { content?: unknown }[] }) => {
          seen.push(...update.added.map((item) => `${item.type}:${item.id}`));
          list.replaceChildren(
            ...update.visible.map((item) => {
              const li = document.createElement("li");
              li.textContent = String(item.content);
              return li;
            }),
          );
        },
      );
      const frames = (n: number) =>
        new Promise<void>((done) => {
          const step = (left: number) => (left === 0 ? done() : requestAnimationFrame(() => step(left - 1)));
          step(n);
        });
      await frames(10);
      const end = now + 60_000;
      for (let wall = performance.now(); now < end; ) {
        await frames(1);
        const at = performance.now();
        now = Math.min(end, now + (at - wall) * 15);
        wall = at;
      }
      await frames(10);
      detach();
      return {
        seen,
        items: list.querySelectorAll("li").length,
        images: list.querySelectorAll("img").length,
        pwned: (window as { pwned?: number }).pwned ?? 0,
        texts: Array.from(list.querySelectorAll("li"), (li) => li.textContent ?? ""),
      };
    });

    // Assess
    expect(shown.seen).toEqual(ids(added(90 * MINUTE, 91 * MINUTE)));
    expect(shown.items).toBe(10);
    expect(shown.images).toBe(0);
    expect(shown.pwned).toBe(0);
    expect(
      shown.texts.filter((text) => /^<img src=x onerror="window.pwned=1"> #\d+$/.test(text)).length,
    ).toBeGreaterThan(0);
  });
});
