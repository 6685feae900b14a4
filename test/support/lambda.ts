export { type LambdaHandler, lambdaContext, sqsEvent } from "../../src/cli/lambda";
