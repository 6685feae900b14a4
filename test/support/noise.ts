import { randomBytes } from "node:crypto";

/**
 * Chat log lines of messages that hardly compress (900 random bytes in base64 each), one every
 * 200 ms from `startIso`: a few thousand make a replay over lib-storage's 5 MiB part, gzipped.
 */
export function incompressibleMessages(count: number, startIso: string, idPrefix: string): string[] {
  const start = Date.parse(startIso);
  return Array.from({ length: count }, (_, i) => {
    const at = new Date(start + i * 200).toISOString();
    return JSON.stringify({
      event_timestamp: at,
      type: "MESSAGE",
      payload: {
        Id: `${idPrefix}${i}`,
        Content: randomBytes(900).toString("base64"),
        SendTime: at,
        Sender: { UserId: "n" },
      },
    });
  });
}
