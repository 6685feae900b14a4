import { parseRecordingStateEvent } from "../sessions/events";
import { type TrackingDeps, trackRecording } from "../sessions/track";
import { trackingDeps } from "../wiring";
import { lambda, logger, once } from "./shared";

/** EventBridge `IVS Recording State Change` -> the recording session; schedules the archive at its end. */
export function createRecordingStateHandler(deps: () => TrackingDeps) {
  return lambda(async (event: unknown) => {
    const fact = parseRecordingStateEvent(event);
    if (fact.kind === "ignored") {
      logger.debug("event ignored", { reason: fact.reason });
      return { ignored: fact.reason };
    }
    logger.appendKeys({ channelArn: fact.channelArn, recordingSessionId: fact.sessionId });
    const outcome = await trackRecording(fact, deps());
    logger.info(`${fact.kind} tracked`, { at: fact.at.toISOString(), streamIds: fact.streamIds, ...outcome });
    return outcome;
  });
}

/** The deployed handler: dependencies from the environment, made on the first event of a cold start. */
export const handler = createRecordingStateHandler(once(() => trackingDeps()));
