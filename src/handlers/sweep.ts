import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { type SweepDeps, sweep } from "../sessions/sweep";
import { sweepDeps } from "../wiring";
import { lambda, logger, metrics, once } from "./shared";

/** Scheduled (every 5 minutes): queues the archives no event will (SPEC section 8). */
export function createSweepHandler(deps: () => SweepDeps) {
  return lambda(async () => {
    const result = await sweep({
      ...deps(),
      log: { info: (message, extra = {}) => logger.info(message, extra) },
    });
    logger.info("sweep done", { ...result });
    // A broadcast the sweep gave up on is a failed archive: the same alarm watches both.
    if (result.failed > 0) {
      metrics.addMetric("ArchiveFailed", MetricUnit.Count, result.failed);
      metrics.publishStoredMetrics();
    }
    return result;
  });
}

/** The deployed handler: dependencies from the environment, made on the first event of a cold start. */
export const handler = createSweepHandler(once(() => sweepDeps()));
