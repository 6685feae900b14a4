/** Base class of every error this service raises on purpose. */
export class ArchiverError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ArchiverError";
  }
}

/** An event, payload or argument did not have the expected shape; never worth retrying. */
export class ValidationError extends ArchiverError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ValidationError";
  }
}

/** A required environment variable is missing or invalid. */
export class ConfigError extends ArchiverError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** Input files or streams could not be read (missing file, corrupt gzip, ...). */
export class InputError extends ArchiverError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InputError";
  }
}

/** The broadcast asked for is not known to the sessions table. */
export class BroadcastNotFoundError extends ArchiverError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BroadcastNotFoundError";
  }
}

/** The chat room or its log group of a channel could not be found. */
export class ChatNotFoundError extends ArchiverError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChatNotFoundError";
  }
}

/** The chat log could not be read to the end (still throttled after the retry budget, or a broken answer). */
export class ChatLogReadError extends ArchiverError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChatLogReadError";
  }
}
