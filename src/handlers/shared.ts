import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import middy, { type MiddlewareObj } from "@middy/core";
import type { Context } from "aws-lambda";
import { ArchiverError } from "../errors";

/** The one logger of the service; per-broadcast keys are appended per invocation. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "ivs-chat-archiver" });

/** The service's metrics (namespace `IvsChatArchiver`, dimension `service`), written as embedded metric format log lines. */
export const metrics = new Metrics({ namespace: "IvsChatArchiver" });

export { once } from "../once";

/** Logs a failing invocation once, with the error as an object, then lets it fail (retry, DLQ). */
const logFailure: MiddlewareObj = {
  onError: async (request) => {
    const error = request.error;
    const expected = error instanceof ArchiverError;
    logger.error(expected ? error.message : "unexpected failure", { error: error ?? undefined });
  },
};

/** Wraps a handler in middy with the Powertools logger context and failure logging. */
export function lambda<E, R>(handler: (event: E, context: Context) => Promise<R>) {
  return middy(handler)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logFailure);
}
