import {
  compareInstants,
  floorDiffMs,
  formatInstant,
  type Instant,
  parseInstant,
  type ReplayOptions,
  type TimelinePiece,
} from "../../src/replay";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const orEmpty = (v: unknown): Json => (isObject(v) ? v : {});

interface Item {
  id: string;
  at: Instant;
  fields: Json;
}

/**
 * SPEC section 3 read literally, in one pass over an in-memory list: the reference that the
 * bounded-memory engine must match byte for byte.
 */
export function referenceReplay(lines: readonly string[], options: ReplayOptions): string {
  const counts = { records: 0, messages: 0, events: 0, deleted: 0, duplicates: 0, skipped: 0 };
  const seen = new Set<string>();
  const deletedIds = new Set<string>();
  const messages: Item[] = [];
  const events: Item[] = [];
  const { start, end } = options.window;
  for (const line of lines) {
    if (line.trim() === "") continue;
    counts.records++;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      counts.skipped++;
      continue;
    }
    const payload = isObject(record) ? record.payload : undefined;
    const type = isObject(record) ? record.type : undefined;
    const logged = isObject(record) ? parseInstant(record.event_timestamp) : undefined;
    const sent = isObject(payload) ? parseInstant(payload.SendTime) : undefined;
    if (
      !isObject(record) ||
      (type !== "MESSAGE" && type !== "EVENT") ||
      !isObject(payload) ||
      typeof payload.Id !== "string" ||
      payload.Id === "" ||
      logged === undefined ||
      sent === undefined
    ) {
      counts.skipped++;
      continue;
    }
    const id = payload.Id;
    if (seen.has(id)) {
      counts.duplicates++;
      continue;
    }
    seen.add(id);
    const name = payload.EventName;
    if (type === "EVENT" && name === "aws:DELETE_MESSAGE") {
      const attributes = orEmpty(payload.Attributes);
      const target =
        typeof attributes.MessageId === "string" && attributes.MessageId !== ""
          ? attributes.MessageId
          : attributes.MessageID;
      if (typeof target === "string" && target !== "") deletedIds.add(target);
      continue;
    }
    if (type === "EVENT" && typeof name === "string" && name.startsWith("aws:")) continue;
    if (
      (start !== null && compareInstants(logged, start) < 0) ||
      (end !== null && compareInstants(logged, end) >= 0)
    ) {
      continue;
    }
    if (type === "MESSAGE") {
      const sender = orEmpty(payload.Sender);
      messages.push({
        id,
        at: sent,
        fields: {
          sendTime: payload.SendTime,
          content: payload.Content ?? null,
          attributes: orEmpty(payload.Attributes),
          sender: {
            userId: typeof sender.UserId === "string" ? sender.UserId : null,
            attributes: orEmpty(sender.Attributes),
          },
        },
      });
    } else {
      events.push({
        id,
        at: sent,
        fields: {
          sendTime: payload.SendTime,
          name: typeof name === "string" ? name : null,
          attributes: orEmpty(payload.Attributes),
        },
      });
    }
  }
  const order = (a: Item, b: Item) => compareInstants(a.at, b.at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const kept = messages.filter((m) => !deletedIds.has(m.id)).sort(order);
  events.sort(order);
  counts.deleted = messages.length - kept.length;
  counts.messages = kept.length;
  counts.events = events.length;
  const first = [kept[0], events[0]].filter((i) => i !== undefined).sort(order)[0];
  const base =
    options.offsetBase !== null
      ? { at: options.offsetBase, text: formatInstant(options.offsetBase) }
      : first === undefined
        ? null
        : { at: first.at, text: first.fields.sendTime as string };
  const given = options.timeline ?? [];
  const timeline =
    given.length > 0
      ? given.map((p) => ({
          start: formatInstant(p.start),
          end: p.end === null ? null : formatInstant(p.end),
          mediaMs: p.mediaMs,
        }))
      : base === null
        ? []
        : [{ start: base.text, end: null, mediaMs: 0 }];
  // Rule 8, read literally: a linear search over the pieces for every item.
  const offsetOf = (t: Instant): number => {
    if (given.length === 0) return base === null ? 0 : floorDiffMs(t, base.at);
    const pieces = [...given];
    const first = pieces[0] as TimelinePiece;
    if (compareInstants(t, first.start) < 0) return first.mediaMs + floorDiffMs(t, first.start);
    for (const [i, piece] of pieces.entries()) {
      const inside =
        compareInstants(piece.start, t) <= 0 && (piece.end === null || compareInstants(t, piece.end) < 0);
      if (inside) return piece.mediaMs + floorDiffMs(t, piece.start);
      const next = pieces[i + 1];
      if (
        next !== undefined &&
        piece.end !== null &&
        compareInstants(piece.end, t) <= 0 &&
        compareInstants(t, next.start) < 0
      ) {
        return next.mediaMs;
      }
    }
    const last = pieces[pieces.length - 1] as TimelinePiece;
    return last.mediaMs + floorDiffMs(t, last.start);
  };
  const header = {
    version: 1,
    channelArn: options.channelArn ?? null,
    roomArn: options.roomArn ?? null,
    streamIds: options.streamIds ?? [],
    recording: options.recording ?? null,
    window: {
      start: start === null ? null : formatInstant(start),
      end: end === null ? null : formatInstant(end),
    },
    offsetBase: given.length > 0 ? (timeline[0]?.start ?? null) : (base?.text ?? null),
    timeline,
    counts,
  };
  const render = (items: Item[]) =>
    items.length === 0
      ? ""
      : `\n${items
          .map((i) =>
            JSON.stringify({
              id: i.id,
              offsetMs: offsetOf(i.at),
              ...i.fields,
            }),
          )
          .join(",\n")}\n`;
  return `${JSON.stringify(header).slice(0, -1)},"messages":[${render(kept)}],"events":[${render(events)}]}\n`;
}
