import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticChatLog } from "../../src/cli/synthetic";
import { serveFolder } from "../../src/cli/view";

const run = promisify(execFile);
const ROOT = resolve(__dirname, "..", "..");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// The demo recording's wall-clock start (demo/recording, scripts/make-demo-recording.mjs).
const RECORDED = Date.parse("2024-01-05T14:30:01Z");

interface Message {
  id: string;
  offsetMs: number;
  content: unknown;
}

describe.skipIf(!existsSync(CHROMIUM))("the viewer in Chromium, on the demo recording", () => {
  let dir: string;
  let server: Server;
  let browser: Browser;
  let url: string;
  let messages: Message[];

  beforeAll(async () => {
    // The site as `npm start` leaves it in out/: the recording, its chat replayed offline from its playlist, the built viewer.
    dir = await mkdtemp(join(tmpdir(), "viewer-"));
    await cp(join(ROOT, "demo", "recording"), join(dir, "recording"), { recursive: true });
    const lines = [
      ...syntheticChatLog({ records: 300, start: new Date(RECORDED - 1000), durationMs: 56_000, seed: 3 }),
    ].map((record) => record.line);
    const markup = "<img src=x onerror=\"document.title='pwned'\"><b>bold</b> & --> arrows";
    // 5.5 s into the second stream (it starts 35 s after the first, 20 s of media later): offset 25500.
    const at = new Date(RECORDED + 40_500).toISOString();
    lines.push(
      JSON.stringify({
        event_timestamp: at,
        type: "MESSAGE",
        payload: {
          Id: "MarkupLate",
          Content: markup,
          SendTime: at,
          Attributes: { username: "tester" },
          Sender: { UserId: "u" },
        },
      }),
    );
    await writeFile(join(dir, "chat.ndjson"), `${lines.join("\n")}\n`);
    const playlist = join(dir, "recording", "media", "hls", "160p30", "playlist.m3u8");
    await run(
      "npm",
      [
        "run",
        "--silent",
        "cli",
        "--",
        "replay",
        join(dir, "chat.ndjson"),
        "--playlist",
        playlist,
        "--out-dir",
        join(dir, "chat"),
      ],
      {
        cwd: ROOT,
      },
    );
    // The viewer as `npm run build` makes it, built into this test's own folder.
    await run(process.execPath, [join(ROOT, "scripts", "build.mjs"), join(dir, "dist")]);
    await cp(join(dir, "dist", "viewer"), join(dir, "viewer"), { recursive: true });
    messages = JSON.parse(await readFile(join(dir, "chat", "replay.json"), "utf8")).messages;
    server = await serveFolder(dir);
    const { port } = server.address() as AddressInfo;
    url = `http://127.0.0.1:${port}/viewer/index.html?video=/recording/media/hls/master.m3u8&chat=/chat/index.json`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => server?.close(done));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("plays the video, follows it and a seek with the chat, and shows markup as text, without a page error", async () => {
    // Prepare
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(url);

    // Act: play three seconds, then pause and seek into the second stream
    await page.evaluate(() => {
      const video = document.getElementById("video") as HTMLVideoElement;
      video.muted = true;
      return video.play();
    });
    await page.waitForFunction(
      () => (document.getElementById("video") as HTMLVideoElement).currentTime > 3,
      null,
      { timeout: 30_000 },
    );
    const playing = await page.evaluate(() => document.querySelectorAll("#chat li").length);
    await page.evaluate(async () => {
      const video = document.getElementById("video") as HTMLVideoElement;
      video.pause();
      const seeked = new Promise((done) => video.addEventListener("seeked", done, { once: true }));
      video.currentTime = 26;
      await seeked;
    });
    await page.waitForTimeout(500);
    const shown = await page.evaluate(() => ({
      time: (document.getElementById("video") as HTMLVideoElement).currentTime,
      ids: Array.from(document.querySelectorAll<HTMLLIElement>("#chat li"), (li) => li.dataset.id ?? ""),
      texts: Array.from(document.querySelectorAll("#chat li .text"), (span) => span.textContent ?? ""),
      elements: document.querySelectorAll("#chat img, #chat b, #chat script").length,
      title: document.title,
    }));

    // Assess
    expect(errors).toEqual([]);
    expect(playing).toBeGreaterThan(0);
    const expected = messages.filter((m) => m.offsetMs <= shown.time * 1000).slice(-50);
    expect(shown.ids).toEqual(expected.map((m) => m.id));
    expect(shown.ids).toContain("MarkupLate");
    expect(shown.texts).toContain("<img src=x onerror=\"document.title='pwned'\"><b>bold</b> & --> arrows");
    expect(shown.elements).toBe(0);
    expect(shown.title).toBe("Chat replay");
    await page.close();
  });

  it("says what is wrong with its parameters and with a video it cannot play, beside the chat's state", async () => {
    const page = await browser.newPage();
    const base = url.slice(0, url.indexOf("?"));
    const statusOf = async (query: string, wanted: RegExp) => {
      await page.goto(`${base}${query}`);
      await page.waitForFunction(
        (source) => new RegExp(source).test(document.getElementById("status")?.textContent ?? ""),
        wanted.source,
        { timeout: 15_000 },
      );
      return page.evaluate(() => document.getElementById("status")?.textContent ?? "");
    };

    const empty = await statusOf("?video=&chat=%20", /Open this page/);
    const notUrl = await statusOf("?video=http://[bad&chat=/chat/index.json", /not a URL/);
    const noVideo = await statusOf(
      "?video=/no-such/master.m3u8&chat=/chat/index.json",
      /Video error.*messages/,
    );

    expect(empty).toBe("Open this page as index.html?video=<master.m3u8 URL>&chat=<index.json URL>.");
    expect(notUrl).toBe("The video parameter is not a URL: http://[bad");
    expect(noVideo).toMatch(new RegExp(`^Video error: .+\\. ${messages.length} messages$`));
    await page.close();
  });
});
