import { describe, expect, it } from "vitest";
import {
  buildReplay,
  parseInstant,
  parseTimeline,
  playlistTimeline,
  type TimelinePiece,
  timelineFromPlaylist,
  timelineJson,
} from "../../src/replay";

const at = (text: string) => {
  const instant = parseInstant(text);
  if (instant === undefined) throw new Error(`not a time: ${text}`);
  return instant;
};

function message(id: string, sendTime: string) {
  return JSON.stringify({
    event_timestamp: sendTime.replace(/\.\d+Z$/, ".000Z"),
    type: "MESSAGE",
    payload: { Id: id, Content: id, SendTime: sendTime, Attributes: {}, Sender: { UserId: "u" } },
  });
}

function chatEvent(id: string, sendTime: string) {
  return JSON.stringify({
    event_timestamp: sendTime.replace(/\.\d+Z$/, ".000Z"),
    type: "EVENT",
    payload: { Id: id, EventName: "app:poll", SendTime: sendTime, Attributes: {} },
  });
}

// Two streams joined by IVS across a 3-minute gap: 14:00:00-14:10:00 at 0, 14:13:00-14:20:00 at 600000.
const MERGED: TimelinePiece[] = [
  { start: at("2024-01-05T14:00:00Z"), end: at("2024-01-05T14:10:00Z"), mediaMs: 0 },
  { start: at("2024-01-05T14:13:00Z"), end: at("2024-01-05T14:20:00Z"), mediaMs: 600_000 },
];

describe("rule 8: offsets in the recording's media time", () => {
  it("places each send time by its piece: before, inside, in the gap, after the reconnect, past the end", async () => {
    // Prepare
    const lines = [
      message("before", "2024-01-05T13:59:58.500000001Z"),
      message("first", "2024-01-05T14:00:00.000000000Z"),
      message("inside", "2024-01-05T14:09:59.999999999Z"),
      message("atEnd", "2024-01-05T14:10:00.000000000Z"),
      message("gap", "2024-01-05T14:11:30.000Z"),
      message("rejoined", "2024-01-05T14:13:00.000000001Z"),
      message("later", "2024-01-05T14:19:00.250Z"),
      message("past", "2024-01-05T14:25:00.000Z"),
      chatEvent("eventInGap", "2024-01-05T14:12:00.000Z"),
      chatEvent("eventAfter", "2024-01-05T14:14:00.000Z"),
    ];

    // Act
    const json = JSON.parse(
      await (
        await buildReplay(lines, { window: { start: null, end: null }, offsetBase: null, timeline: MERGED })
      ).text(),
    );

    // Assess
    expect(json.offsetBase).toBe("2024-01-05T14:00:00.000Z");
    expect(json.timeline).toEqual([
      { start: "2024-01-05T14:00:00.000Z", end: "2024-01-05T14:10:00.000Z", mediaMs: 0 },
      { start: "2024-01-05T14:13:00.000Z", end: "2024-01-05T14:20:00.000Z", mediaMs: 600_000 },
    ]);
    expect(json.messages.map((m: { id: string; offsetMs: number }) => [m.id, m.offsetMs])).toEqual([
      ["before", -1500],
      ["first", 0],
      ["inside", 599_999],
      ["atEnd", 600_000],
      ["gap", 600_000],
      ["rejoined", 600_000],
      ["later", 600_000 + 360_250],
      ["past", 600_000 + 720_000],
    ]);
    expect(json.events.map((e: { id: string; offsetMs: number }) => [e.id, e.offsetMs])).toEqual([
      ["eventInGap", 600_000],
      ["eventAfter", 660_000],
    ]);
  });

  it("with one open piece, is floor((sendTime - offsetBase) / 1 ms), as without a timeline", async () => {
    const lines = [message("a", "2024-01-05T14:00:01.500000001Z"), message("b", "2024-01-05T13:59:59.999Z")];
    const base = at("2024-01-05T14:00:00Z");

    const withTimeline = await (
      await buildReplay(lines, {
        window: { start: null, end: null },
        offsetBase: null,
        timeline: [{ start: base, end: null, mediaMs: 0 }],
      })
    ).text();
    const withBase = await (
      await buildReplay(lines, { window: { start: null, end: null }, offsetBase: base })
    ).text();

    expect(withTimeline).toBe(withBase);
    expect(JSON.parse(withBase).messages.map((m: { offsetMs: number }) => m.offsetMs)).toEqual([-1, 1500]);
  });
});

describe("a media playlist's timeline (rule 8 (a))", () => {
  const playlist = (...lines: string[]) =>
    ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:3", ...lines, "#EXT-X-ENDLIST"].join("\n");

  it("starts a piece at the first segment, after a discontinuity and at a jump of the date of more than 1 s", () => {
    // Act
    const pieces = timelineFromPlaylist(
      playlist(
        "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:00:00.000Z",
        "#EXTINF:2.002,",
        "0.ts",
        "#EXTINF:2.002,",
        "1.ts",
        // 0.5 s of drift: the same piece
        "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:00:04.504Z",
        "#EXTINF:2.002,",
        "2.ts",
        "#EXT-X-DISCONTINUITY",
        "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:03:00.000Z",
        "#EXTINF:3.000,",
        "3.ts",
        // a jump without a discontinuity tag
        "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:05:00.000Z",
        "#EXTINF:1.5,",
        "4.ts",
      ),
    );

    // Assess: media times are the earlier durations' exact sums, floored to the millisecond
    expect(timelineJson(pieces ?? [])).toEqual([
      { start: "2024-01-05T14:00:00.000Z", end: "2024-01-05T14:00:06.506Z", mediaMs: 0 },
      { start: "2024-01-05T14:03:00.000Z", end: "2024-01-05T14:03:03.000Z", mediaMs: 6006 },
      { start: "2024-01-05T14:05:00.000Z", end: "2024-01-05T14:05:01.500Z", mediaMs: 9006 },
    ]);
  });

  it("dates segments without a date of their own from their neighbours, and keeps microseconds until the sum", () => {
    const pieces = timelineFromPlaylist(
      playlist(
        "#EXTINF:1.0000005,",
        "0.ts",
        "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:00:01.000+00:00",
        "#EXTINF:1.0000005,",
        "1.ts",
        "#EXTINF:1.000999,",
        "2.ts",
        "#EXT-X-DISCONTINUITY",
        "#EXTINF:1,",
        "3.ts",
      ),
    );

    expect(timelineJson(pieces ?? [])).toEqual([
      { start: "2024-01-05T14:00:00.000Z", end: "2024-01-05T14:00:03.000Z", mediaMs: 0 },
      { start: "2024-01-05T14:00:03.000Z", end: "2024-01-05T14:00:04.000Z", mediaMs: 3000 },
    ]);
  });

  it("keeps pieces apart when a program date steps back", () => {
    const pieces = timelineFromPlaylist(
      playlist(
        "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:00:00.000Z",
        "#EXTINF:10,",
        "0.ts",
        // the encoder's clock corrected by 5 s backwards
        "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:00:05.000Z",
        "#EXTINF:10,",
        "1.ts",
      ),
    );

    expect(timelineJson(pieces ?? [])).toEqual([
      { start: "2024-01-05T14:00:00.000Z", end: "2024-01-05T14:00:10.000Z", mediaMs: 0 },
      { start: "2024-01-05T14:00:10.000Z", end: "2024-01-05T14:00:20.000Z", mediaMs: 10000 },
    ]);
  });

  it("is undefined for a playlist without program dates", () => {
    expect(timelineFromPlaylist(playlist("#EXTINF:2,", "0.ts"))).toBeUndefined();
    expect(timelineFromPlaylist("")).toBeUndefined();
  });

  it("names the first tag it cannot read, by line (for --playlist), and nothing in a good playlist", () => {
    const dated = "#EXT-X-PROGRAM-DATE-TIME:2024-01-05T14:30:00.000Z";

    expect(
      playlistTimeline(playlist(dated, "#EXTINF:2.000,", "0.ts", "#EXTINF:2,", "1.ts")).problem,
    ).toBeUndefined();
    expect(playlistTimeline(playlist(dated, "#EXTINF:abc,", "0.ts")).problem).toBe(
      'line 5: #EXTINF "abc" is not a duration in seconds',
    );
    expect(playlistTimeline(playlist(dated, "#EXTINF:-5,", "0.ts")).problem).toBe(
      'line 5: #EXTINF "-5" is not a duration in seconds',
    );
    expect(playlistTimeline(playlist("#EXT-X-PROGRAM-DATE-TIME:garbage", "#EXTINF:2,", "0.ts")).problem).toBe(
      'line 4: #EXT-X-PROGRAM-DATE-TIME "garbage" is not an ISO 8601 time with a zone',
    );
  });
});

describe("a timeline given as JSON (--timeline FILE)", () => {
  it("reads pieces in order", () => {
    const pieces = parseTimeline([
      { start: "2024-01-05T14:00:00Z", end: "2024-01-05T14:10:00Z", mediaMs: 0 },
      { start: "2024-01-05T14:13:00Z", end: null, mediaMs: 600000 },
    ]);

    expect(Array.isArray(pieces) ? timelineJson(pieces) : pieces).toEqual([
      { start: "2024-01-05T14:00:00.000Z", end: "2024-01-05T14:10:00.000Z", mediaMs: 0 },
      { start: "2024-01-05T14:13:00.000Z", end: null, mediaMs: 600000 },
    ]);
  });

  it.each([
    [{}, "is not a non-empty JSON list of pieces"],
    [[], "is not a non-empty JSON list of pieces"],
    [[{ start: "14:00", end: null, mediaMs: 0 }], 'piece 1: "start" is not an ISO 8601 time with a zone'],
    [
      [{ start: "2024-01-05T14:00:00Z", end: "soon", mediaMs: 0 }],
      'piece 1: "end" is neither null nor an ISO 8601 time with a zone',
    ],
    [
      [{ start: "2024-01-05T14:00:00Z", end: null, mediaMs: 1.5 }],
      'piece 1: "mediaMs" is not a whole number of milliseconds',
    ],
    [
      [{ start: "2024-01-05T14:00:00Z", end: "2024-01-05T13:00:00Z", mediaMs: 0 }],
      'piece 1: "end" is not after "start"',
    ],
    [
      [
        { start: "2024-01-05T14:00:00Z", end: null, mediaMs: 0 },
        { start: "2024-01-05T15:00:00Z", end: null, mediaMs: 1 },
      ],
      'piece 2 follows an open piece (only the last may have "end": null)',
    ],
    [
      [
        { start: "2024-01-05T14:00:00Z", end: "2024-01-05T14:10:00Z", mediaMs: 0 },
        { start: "2024-01-05T14:05:00Z", end: null, mediaMs: 1 },
      ],
      "piece 2 starts before the end of the piece before it",
    ],
  ])("refuses %j: %s", (json, reason) => {
    expect(parseTimeline(json)).toBe(reason);
  });
});
