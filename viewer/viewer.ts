/**
 * The viewer (SPEC section 5): plays a recording's `master.m3u8` with hls.js (or natively) and
 * shows its chat beside it through ChatReplay. `index.html?video=<master.m3u8 URL>&chat=<index.json URL>`.
 * Chat is rendered as text, never as HTML.
 */
import Hls from "hls.js";
import { type ChatItem, ChatReplay, type Update } from "../src/player/chat-replay";

const video = document.getElementById("video") as HTMLVideoElement;
const chat = document.getElementById("chat") as HTMLOListElement;
const status = document.getElementById("status") as HTMLParagraphElement;
const events = document.getElementById("events") as HTMLOListElement;
// Custom events (polls, reactions...) passed since the last seek: the latest few.
const RECENT_EVENTS = 5;

// The status line: what went wrong with the video, if anything, then the chat's state.
let videoProblem = "";
let chatState = "Loading…";

function say(text: string): void {
  chatState = text;
  status.textContent = videoProblem === "" ? chatState : `${videoProblem} ${chatState}`;
}

function videoFailed(text: string): void {
  videoProblem = text;
  say(chatState);
}

const MEDIA_ERRORS: Record<number, string> = {
  1: "stopped",
  2: "a network error",
  3: "it could not be decoded",
  4: "it cannot be played (missing, or not HLS)",
};

function line(item: ChatItem): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset.id = item.id;
  if (item.type === "event") {
    li.className = "event";
    li.textContent = `${item.name ?? "event"} ${JSON.stringify(item.attributes)}`;
    return li;
  }
  const who = document.createElement("span");
  who.className = "who";
  const username = item.attributes.username;
  who.textContent = typeof username === "string" && username !== "" ? username : (item.sender?.userId ?? "?");
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = typeof item.content === "string" ? item.content : JSON.stringify(item.content ?? "");
  li.append(who, text);
  return li;
}

function render(update: Update): void {
  const atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 40;
  chat.replaceChildren(...update.visible.map(line));
  if (atBottom) chat.scrollTop = chat.scrollHeight;
  // An update without items follows a seek: the events shown were those of another moment.
  if (update.added.length === 0) events.replaceChildren();
  for (const item of update.added) if (item.type === "event") events.append(line(item));
  while (events.childElementCount > RECENT_EVENTS) events.firstElementChild?.remove();
}

function playVideo(url: string): void {
  video.addEventListener("error", () => {
    const code = video.error?.code ?? 0;
    videoFailed(`Video error: ${MEDIA_ERRORS[code] ?? video.error?.message ?? "unknown"}.`);
  });
  if (video.canPlayType("application/vnd.apple.mpegurl") !== "") {
    video.src = url;
    return;
  }
  if (!Hls.isSupported()) {
    videoFailed("This browser cannot play HLS.");
    return;
  }
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (data.fatal) videoFailed(`Video error: ${data.details}.`);
  });
  hls.loadSource(url);
  hls.attachMedia(video);
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  // An empty parameter is a missing one.
  const videoUrl = params.get("video")?.trim() || undefined;
  const chatUrl = params.get("chat")?.trim() || undefined;
  if (videoUrl === undefined || chatUrl === undefined) {
    say("Open this page as index.html?video=<master.m3u8 URL>&chat=<index.json URL>.");
    return;
  }
  for (const [name, url] of [
    ["video", videoUrl],
    ["chat", chatUrl],
  ]) {
    if (!URL.canParse(url as string, location.href)) {
      say(`The ${name} parameter is not a URL: ${url}`);
      return;
    }
  }
  playVideo(videoUrl);
  const transcript = document.getElementById("transcript") as HTMLTrackElement;
  transcript.src = new URL("replay.vtt", new URL(chatUrl, location.href)).href;
  const replay = await ChatReplay.open(chatUrl);
  const counts = replay.header.counts as { messages?: number } | undefined;
  say(`${counts?.messages ?? 0} messages`);
  replay.attach(video, render);
}

main().catch((error: unknown) =>
  say(`Could not load the chat: ${error instanceof Error ? error.message : String(error)}`),
);
