/**
 * The one error taxonomy. Handlers throw these; each trigger kind's wrapper maps them once
 * (shared/http.ts for HTTP). `retryable` errors become 503 + Retry-After so Cloud Tasks, Pub/Sub
 * or the webhook sender tries again; everything else is permanent.
 */
export type ErrorCode =
  | 'bad_request'
  | 'invalid_json'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'request_timeout'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unprocessable_entity'
  | 'rate_limited'
  | 'request_header_fields_too_large'
  | 'internal'
  | 'unavailable';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_json: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable_entity: 422,
  rate_limited: 429,
  request_header_fields_too_large: 431,
  internal: 500,
  unavailable: 503,
};

export interface AppErrorOptions {
  details?: unknown;
  /** Seconds the caller should wait before trying again (429 and 503). */
  retryAfterSeconds?: number;
  /** Extra response headers (e.g. `Allow` for 405, `RateLimit-*` for 429). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;
  readonly retryAfterSeconds?: number;
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = STATUS[code];
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.headers = options.headers;
  }

  /** Retryable errors are the ones the caller should simply send again later. */
  get retryable(): boolean {
    return this.code === 'unavailable' || this.code === 'rate_limited';
  }
}

export const badRequest = (message: string, details?: unknown) => new AppError('bad_request', message, { details });
export const invalidJson = (message: string) => new AppError('invalid_json', message);
export const unauthenticated = (message: string) => new AppError('unauthenticated', message);
export const forbidden = (message: string) => new AppError('forbidden', message);
export const notFound = (message: string) => new AppError('not_found', message);
export const conflict = (message: string, details?: unknown) => new AppError('conflict', message, { details });
export const unprocessable = (message: string, details?: unknown) =>
  new AppError('unprocessable_entity', message, { details });
export const payloadTooLarge = (limitBytes: number) =>
  new AppError('payload_too_large', `Request body exceeds the limit of ${limitBytes} bytes`, {
    details: { limitBytes },
  });
export const unsupportedMediaType = (got: string | undefined, allowed: readonly string[]) =>
  new AppError('unsupported_media_type', `Content-Type ${got ? `'${got}'` : '(none)'} is not supported`, {
    details: { allowed },
  });
export const methodNotAllowed = (allowed: readonly string[]) =>
  new AppError('method_not_allowed', `Method not allowed; use ${allowed.join(', ')}`, {
    headers: { Allow: allowed.join(', ') },
  });
/** Retryable trouble: a dependency is down or busy. The caller should retry after `retryAfterSeconds`. */
export const unavailable = (message: string, retryAfterSeconds = 5, cause?: unknown) =>
  new AppError('unavailable', message, { retryAfterSeconds, cause });

/** gRPC status codes that mean "try again later" (google-gax, Firestore, Pub/Sub). */
const RETRYABLE_GRPC = new Set([1 /* CANCELLED */, 4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 10 /* ABORTED */, 13 /* INTERNAL */, 14 /* UNAVAILABLE */]);
/** HTTP statuses that REST-transport errors (google-gax fallback, gaxios) carry as their numeric `code`. */
const RETRYABLE_HTTP = new Set([408, 429, 500, 502, 503, 504]);
const RETRYABLE_NODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * Whether an error from a Google client library or the network is transient. Used by the
 * service modules to turn library failures into `unavailable` (503) instead of `internal` (500).
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof AppError) return err.retryable;
  const e = err as { code?: unknown; name?: string } | null;
  if (!e) return false;
  // fetch() timeouts are DOMExceptions whose legacy numeric `code` means nothing here.
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return true;
  // gRPC codes are 0–16, so they cannot be confused with HTTP statuses.
  if (typeof e.code === 'number') return RETRYABLE_GRPC.has(e.code) || RETRYABLE_HTTP.has(e.code);
  if (typeof e.code === 'string') return RETRYABLE_NODE.has(e.code);
  return false;
}

/** Wraps a dependency failure: transient → `unavailable` (503), anything else → `internal` (500). */
export function dependencyError(what: string, err: unknown, retryAfterSeconds = 5): AppError {
  if (err instanceof AppError) return err;
  return isTransient(err)
    ? unavailable(`${what} is temporarily unavailable`, retryAfterSeconds, err)
    : new AppError('internal', `${what} failed`, { cause: err });
}

/** Turns anything thrown into an AppError; unknown errors become a 500 whose message hides internals. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return new AppError('internal', 'Internal error', { cause: err });
}

/** The JSON body every error response carries. */
export function errorBody(err: AppError): { error: { code: ErrorCode; message: string; details?: unknown } } {
  return {
    error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) },
  };
}
