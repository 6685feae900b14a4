export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
/**
 * A broadcast that started 4 h ago and lasted an hour: moto, like CloudWatch, refuses log events
 * older than 14 days or ahead of now, so even records logged 2 h after its end are in the past.
 */
export const START = Math.floor((Date.now() - 4 * HOUR) / MINUTE) * MINUTE;
export const END = START + HOUR;
export const RECORDING_START = START + 1000;
export const DURATION_MS = HOUR - 1000;
