/** Options of a service error: its cause, and whether retrying could ever help. */
export interface ArchiverErrorOptions extends ErrorOptions {
  permanent?: boolean;
}

/**
 * Base class of every error this service raises on purpose. A permanent one (bad input, a
 * missing room or log, a token cycle) is recorded on the broadcast at once; any other is retried.
 */
export class ArchiverError extends Error {
  readonly permanent: boolean;

  constructor(message: string, options?: ArchiverErrorOptions, permanentByDefault = false) {
    super(message, options);
    this.name = "ArchiverError";
    this.permanent = options?.permanent ?? permanentByDefault;
  }
}

/** An event, payload or argument did not have the expected shape; never worth retrying. */
export class ValidationError extends ArchiverError {
  constructor(message: string, options?: ArchiverErrorOptions) {
    super(message, options, true);
    this.name = "ValidationError";
  }
}

/** A required environment variable is missing or invalid. */
export class ConfigError extends ArchiverError {
  constructor(message: string, options?: ArchiverErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** Input files or streams could not be read (missing file, corrupt gzip, ...). */
export class InputError extends ArchiverError {
  constructor(message: string, options?: ArchiverErrorOptions) {
    super(message, options);
    this.name = "InputError";
  }
}

/** The output could not be written where the user asked (no such folder, full disk, closed pipe, ...). */
export class OutputError extends ArchiverError {
  constructor(message: string, options?: ArchiverErrorOptions) {
    super(message, options);
    this.name = "OutputError";
  }
}

/** The broadcast asked for is not known to the sessions table. */
export class BroadcastNotFoundError extends ArchiverError {
  constructor(message: string, options?: ArchiverErrorOptions) {
    super(message, options, true);
    this.name = "BroadcastNotFoundError";
  }
}

/** The chat room or its log group of a channel could not be found. */
export class ChatNotFoundError extends ArchiverError {
  constructor(message: string, options?: ArchiverErrorOptions) {
    super(message, options, true);
    this.name = "ChatNotFoundError";
  }
}

/** The chat log could not be read to the end (still throttled after the retry budget, or a broken answer). */
export class ChatLogReadError extends ArchiverError {
  constructor(message: string, options?: ArchiverErrorOptions) {
    super(message, options);
    this.name = "ChatLogReadError";
  }
}

/** Another run took the right to write a broadcast's replay; this run's work is retried. */
export class ArchiveConflictError extends ArchiverError {
  constructor(message: string, options?: ArchiverErrorOptions) {
    super(message, options);
    this.name = "ArchiveConflictError";
  }
}

/** Working state of a long archive could not be used (unreadable, another version, invalid). */
export class CheckpointError extends ArchiverError {
  constructor(message: string, options?: ArchiverErrorOptions) {
    super(message, options);
    this.name = "CheckpointError";
  }
}
