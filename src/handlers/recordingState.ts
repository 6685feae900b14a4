/** Placeholder until the handler lands; keeps `serverless package` working. */
export const handler = async (): Promise<void> => {};
