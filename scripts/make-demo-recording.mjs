// Makes demo/recording/: a short, real HLS recording as IVS writes one for a session that merged two
// streams across a reconnect gap (SPEC rule 8): media/hls/master.m3u8, one 160p rendition whose
// playlist carries #EXT-X-PROGRAM-DATE-TIME, and an #EXT-X-DISCONTINUITY at the join. Dates are those
// of the samples in events/ (2024-01-05T14:30); `npm start` moves them to the demo broadcast's time.
// Needs ffmpeg (apt-get install -y ffmpeg); run once: node scripts/make-demo-recording.mjs
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const hls = join(root, "demo/recording/media/hls");
const rendition = join(hls, "160p30");
rmSync(join(root, "demo/recording"), { recursive: true, force: true });
mkdirSync(rendition, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "demo-recording-"));

// The two streams: 20 s each, 15 s apart (the broadcaster's reconnect).
const STREAMS = [
  { pattern: "testsrc2", tone: 440, programDate: Date.parse("2024-01-05T14:30:01.000Z") },
  { pattern: "smptebars", tone: 660, programDate: Date.parse("2024-01-05T14:30:36.000Z") },
];
const lines = [
  "#EXTM3U",
  "#EXT-X-VERSION:3",
  "#EXT-X-TARGETDURATION:4",
  "#EXT-X-PLAYLIST-TYPE:VOD",
  "#EXT-X-MEDIA-SEQUENCE:0",
];
let n = 0;
for (const [i, stream] of STREAMS.entries()) {
  const playlist = join(work, `s${i}.m3u8`);
  execFileSync("ffmpeg", [
    ...["-loglevel", "error", "-f", "lavfi", "-i", `${stream.pattern}=size=160x90:rate=15:duration=20`],
    ...["-f", "lavfi", "-i", `sine=frequency=${stream.tone}:duration=20`],
    ...["-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-b:v", "40k", "-g", "30"],
    ...["-c:a", "aac", "-b:a", "24k", "-ac", "1", "-ar", "22050"],
    ...[
      "-f",
      "hls",
      "-hls_time",
      "4",
      "-hls_list_size",
      "0",
      "-hls_segment_filename",
      join(work, `s${i}_%d.ts`),
      playlist,
    ],
  ]);
  if (i > 0) lines.push("#EXT-X-DISCONTINUITY");
  let date = stream.programDate;
  let segment = 0;
  for (const line of readFileSync(playlist, "utf8").split("\n")) {
    if (!line.startsWith("#EXTINF:")) continue;
    const seconds = Number(line.slice(8).split(",")[0]);
    lines.push(
      `#EXT-X-PROGRAM-DATE-TIME:${new Date(date).toISOString()}`,
      `#EXTINF:${seconds.toFixed(6)},`,
      `${n}.ts`,
    );
    renameSync(join(work, `s${i}_${segment}.ts`), join(rendition, `${n}.ts`));
    date += Math.round(seconds * 1000);
    segment++;
    n++;
  }
}
lines.push("#EXT-X-ENDLIST", "");
writeFileSync(join(rendition, "playlist.m3u8"), lines.join("\n"));
writeFileSync(
  join(hls, "master.m3u8"),
  [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    '#EXT-X-STREAM-INF:BANDWIDTH=80000,RESOLUTION=160x90,NAME="160p30"',
    "160p30/playlist.m3u8",
    "",
  ].join("\n"),
);
rmSync(work, { recursive: true, force: true });
console.log(`wrote demo/recording/media/hls: ${n} segments`);
