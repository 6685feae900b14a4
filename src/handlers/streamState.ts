import { parseStreamStateEvent } from "../sessions/events";
import { type TrackingDeps, trackStream } from "../sessions/track";
import { trackingDeps } from "../wiring";
import { lambda, logger, once } from "./shared";

/** EventBridge `IVS Stream State Change` -> the stream's window; schedules the archive once it ended. */
export function createStreamStateHandler(deps: () => TrackingDeps) {
  return lambda(async (event: unknown) => {
    const fact = parseStreamStateEvent(event);
    if (fact.kind === "ignored") {
      logger.debug("event ignored", { reason: fact.reason });
      return { ignored: fact.reason };
    }
    logger.appendKeys({ channelArn: fact.channelArn, streamId: fact.streamId });
    const outcome = await trackStream(fact, deps());
    logger.info(`${fact.kind} tracked`, { at: fact.at.toISOString(), ...outcome });
    return outcome;
  });
}

/** The deployed handler: dependencies from the environment, made on the first event of a cold start. */
export const handler = createStreamStateHandler(once(() => trackingDeps()));
