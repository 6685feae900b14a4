import { parseStreamStateEvent } from "../sessions/events";
import { trackStream } from "../sessions/track";
import { trackingDeps } from "../wiring";
import { lambda, logger } from "./shared";

const deps = trackingDeps();

/** EventBridge `IVS Stream State Change` -> the stream's window; schedules the archive once it ended. */
export const handler = lambda(async (event: unknown) => {
  const fact = parseStreamStateEvent(event);
  if (fact.kind === "ignored") {
    logger.debug("event ignored", { reason: fact.reason });
    return { ignored: fact.reason };
  }
  logger.appendKeys({ channelArn: fact.channelArn, streamId: fact.streamId });
  const outcome = await trackStream(fact, deps);
  logger.info(`${fact.kind} tracked`, { at: fact.at.toISOString(), ...outcome });
  return outcome;
});
