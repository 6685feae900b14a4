/**
 * Record ids as bytes, for the id tables and run items: UTF-8, except that a lone surrogate (a
 * JSON-escaped `\ud800` with no pair) is kept as its own three bytes (WTF-8, ED A0..BF xx) where
 * UTF-8 would put U+FFFD. Two ids that differ only there stay two ids (rules 2 and 5), and the
 * id is written back as it was logged. A well-formed id's bytes are its UTF-8, so an id read
 * straight from a line's bytes is stored as it is.
 */

/** True when `text` holds a surrogate without its pair. */
export function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    const next = text.charCodeAt(i + 1);
    if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return true;
    i++;
  }
  return false;
}

/** Writes `id`'s bytes at `at` (room for 3 bytes a character); returns how many. */
export function writeId(into: Buffer, at: number, id: string): number {
  if (!hasLoneSurrogate(id)) return into.write(id, at, "utf8");
  let to = at;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const next = id.charCodeAt(i + 1);
    if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      to += into.write(id.slice(i, i + 2), to, "utf8");
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      into[to++] = 0xe0 | (c >> 12);
      into[to++] = 0x80 | ((c >> 6) & 0x3f);
      into[to++] = 0x80 | (c & 0x3f);
    } else {
      to += into.write(id[i] as string, to, "utf8");
    }
  }
  return to - at;
}

/** True when `bytes[at]` starts a lone surrogate's three bytes (never valid UTF-8). */
export function isSurrogateAt(bytes: Buffer, at: number, end: number): boolean {
  return bytes[at] === 0xed && at + 1 < end && (bytes[at + 1] as number) >= 0xa0;
}

/** The id whose bytes (`writeId`'s) are `bytes[start, end)`. */
export function readId(bytes: Buffer, start: number, end: number): string {
  let surrogate = -1;
  for (let i = start; i < end && surrogate < 0; i++) if (isSurrogateAt(bytes, i, end)) surrogate = i;
  if (surrogate < 0) return bytes.toString("utf8", start, end);
  let text = bytes.toString("utf8", start, surrogate);
  for (let i = surrogate; i < end; ) {
    if (isSurrogateAt(bytes, i, end)) {
      text += String.fromCharCode(
        (((bytes[i] as number) & 0x0f) << 12) |
          (((bytes[i + 1] as number) & 0x3f) << 6) |
          ((bytes[i + 2] as number) & 0x3f),
      );
      i += 3;
      continue;
    }
    let next = i + 1;
    while (next < end && !isSurrogateAt(bytes, next, end)) next++;
    text += bytes.toString("utf8", i, next);
    i = next;
  }
  return text;
}
