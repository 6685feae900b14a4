import { type SweepDeps, sweep } from "../sessions/sweep";
import { sweepDeps } from "../wiring";
import { lambda, logger } from "./shared";

/** Scheduled (every 5 minutes): queues the archives no event will (SPEC section 8). */
export function createSweepHandler(deps: () => SweepDeps) {
  return lambda(async () => {
    const result = await sweep({
      ...deps(),
      log: { info: (message, extra = {}) => logger.info(message, extra) },
    });
    logger.info("sweep done", { ...result });
    return result;
  });
}

let defaults: SweepDeps | undefined;

/** The deployed handler: dependencies from the environment, made once per cold start. */
export const handler = createSweepHandler(() => {
  defaults ??= sweepDeps();
  return defaults;
});
