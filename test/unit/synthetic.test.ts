import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  type SyntheticOptions,
  type SyntheticRecord,
  syntheticChatLog,
  writeSyntheticChatLogGz,
} from "../../src/cli/synthetic";

const START = new Date("2024-01-05T14:30:00.000Z");
const HOUR = 3_600_000;
const ID = /^[A-Za-z0-9]{12}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const EVENT_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const SEND_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

interface ChatRecord {
  event_timestamp: string;
  type: "MESSAGE" | "EVENT";
  version: string;
  payload: Record<string, unknown> & { Id: string; SendTime: string };
}

function generate(options: Partial<SyntheticOptions> = {}): SyntheticRecord[] {
  return [...syntheticChatLog({ records: 20_000, start: START, durationMs: HOUR, ...options })];
}

/** SPEC 3 rule 1: the record as the replay reads it, or undefined where the replay must skip it. */
function readable(line: string): ChatRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Partial<ChatRecord>;
  const payload = record.payload;
  if (record.type !== "MESSAGE" && record.type !== "EVENT") return undefined;
  if (typeof payload !== "object" || payload === null || typeof payload.Id !== "string") return undefined;
  if (Number.isNaN(Date.parse(String(record.event_timestamp)))) return undefined;
  if (Number.isNaN(Date.parse(String(payload.SendTime)))) return undefined;
  return record as ChatRecord;
}

function deleteTarget(record: ChatRecord): string | undefined {
  const attributes = record.payload.Attributes as Record<string, string>;
  return attributes.MessageId ?? attributes.MessageID;
}

describe("syntheticChatLog", () => {
  it("gives the same log for the same seed and another log for another seed", () => {
    // Prepare, Act
    const first = generate({ records: 5_000, seed: 7 });
    const second = generate({ records: 5_000, seed: 7 });
    const other = generate({ records: 5_000, seed: 8 });

    // Assess
    expect(second).toEqual(first);
    expect(other.map((r) => r.line)).not.toEqual(first.map((r) => r.line));
  });

  it("writes every record in the shape IVS Chat logs them, junk aside", () => {
    // Act
    const records = generate({ records: 5_000 });

    // Assess
    expect(records).toHaveLength(5_000);
    for (const { line, kind } of records) {
      const record = readable(line);
      if (kind === "junk") {
        expect(record, line).toBeUndefined();
        continue;
      }
      expect(record, line).toBeDefined();
      if (record === undefined) continue;
      const { payload } = record;
      expect(record.event_timestamp).toMatch(EVENT_TIMESTAMP);
      expect(record.version).toBe("1.0");
      expect(payload.Type).toBe(record.type);
      expect(payload.Id).toMatch(ID);
      expect(payload.SendTime).toMatch(SEND_TIME);
      expect(typeof payload.RequestId).toBe("string");
      if (record.type === "MESSAGE") {
        expect(typeof payload.Content).toBe("string");
        expect(payload.Attributes).toEqual({ username: expect.any(String) });
        expect(payload.Sender).toEqual({ UserId: expect.stringMatching(UUID), Attributes: {} });
      } else {
        expect(typeof payload.EventName).toBe("string");
        for (const value of Object.values(payload.Attributes as object)) expect(typeof value).toBe("string");
      }
    }
  });

  it("mixes in deletes of both spellings, duplicates, junk, custom events and disconnects", () => {
    // Act
    const records = generate();

    // Assess
    const kinds = new Set(records.map((r) => r.kind));
    expect([...kinds].sort()).toEqual(["custom", "delete", "disconnect", "duplicate", "junk", "message"]);
    const parsed = records.map((r) => ({ ...r, record: readable(r.line) }));
    const events = parsed.flatMap((r) => (r.record?.type === "EVENT" ? [r.record] : []));
    const deletes = events.filter((e) => e.payload.EventName === "aws:DELETE_MESSAGE");
    const attributeNames = new Set(deletes.flatMap((e) => Object.keys(e.payload.Attributes as object)));
    expect(attributeNames).toContain("MessageId");
    expect(attributeNames).toContain("MessageID");
    expect(events.some((e) => e.payload.EventName === "aws:DISCONNECT_USER")).toBe(true);
    const custom = new Set(
      events.map((e) => String(e.payload.EventName)).filter((name) => !name.startsWith("aws:")),
    );
    expect([...custom].sort()).toEqual(["app:announcement", "app:poll", "app:reaction"]);

    const duplicates = parsed.filter((r) => r.kind === "duplicate");
    const lines = new Set<string>();
    const contentById = new Map<string, unknown>();
    let exact = 0;
    let changed = 0;
    for (const { kind, line, record } of parsed) {
      if (record?.type !== "MESSAGE") continue;
      if (kind === "duplicate") {
        expect(contentById.has(record.payload.Id)).toBe(true);
        if (lines.has(line)) exact++;
        else if (contentById.get(record.payload.Id) !== record.payload.Content) changed++;
      } else {
        contentById.set(record.payload.Id, record.payload.Content);
      }
      lines.add(line);
    }
    expect(exact + changed).toBe(duplicates.length);
    expect(exact).toBeGreaterThan(0);
    expect(changed).toBeGreaterThan(0);
  });

  it("deletes mostly earlier messages, sometimes later ones and sometimes ids never logged", () => {
    // Prepare
    const records = generate()
      .map((r) => readable(r.line))
      .filter((r) => r !== undefined);
    const firstIndex = new Map<string, number>();
    records.forEach((r, i) => {
      if (r.type === "MESSAGE" && !firstIndex.has(r.payload.Id)) firstIndex.set(r.payload.Id, i);
    });

    // Act
    const positions = records.flatMap((r, i) => {
      if (r.payload.EventName !== "aws:DELETE_MESSAGE") return [];
      const target = firstIndex.get(deleteTarget(r) ?? "");
      return [target === undefined ? "unknown" : target < i ? "earlier" : "later"];
    });

    // Assess
    expect(new Set(positions)).toEqual(new Set(["earlier", "later", "unknown"]));
    expect(positions.filter((p) => p === "earlier").length).toBeGreaterThan(positions.length * 0.7);
  });

  it("yields non-decreasing timestamps inside the window, and late records after it", () => {
    // Act
    const records = generate({ lateRate: 0.01 });

    // Assess
    const end = START.getTime() + HOUR;
    const backwards = records.filter((r, i) => i > 0 && r.timestampMs < (records[i - 1]?.timestampMs ?? 0));
    expect(backwards).toEqual([]);
    expect(records[0]?.timestampMs).toBeGreaterThanOrEqual(START.getTime());
    const late = records.filter((r) => r.timestampMs >= end);
    expect(late).toHaveLength(200);
    expect(late.every((r) => r.timestampMs < end + 15 * 60_000)).toBe(true);
    const mismatched = records.filter(({ kind, line, timestampMs }) => {
      const record = readable(line);
      return (
        kind !== "duplicate" && record !== undefined && Date.parse(record.event_timestamp) !== timestampMs
      );
    });
    expect(mismatched).toEqual([]);
  });

  it("writes the same lines to a gzip file", async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), "synthetic-"));
    const file = join(dir, "chat.log.gz");
    const options = { records: 3_000, start: START, durationMs: HOUR, seed: 3 };

    try {
      // Act
      await writeSyntheticChatLogGz(file, options);

      // Assess
      const expected = [...syntheticChatLog(options)].map((r) => `${r.line}\n`).join("");
      expect(gunzipSync(readFileSync(file)).toString("utf8")).toBe(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
