/**
 * Virtuoso's errors in the project's taxonomy (VIRTUOSO_API.md §1.2): mapped once, here.
 */
import { AppError, conflict, notFound, toAppError, unavailable, unprocessable } from '../errors';
import { VirtuosoApiError } from './client';

/** Codes Virtuoso uses for an id that does not exist (1403 is also sent for unknown checkpoints). */
const NOT_FOUND_CODES = new Set(['1403', '2500']);
const DUPLICATE_NAME = '1501';
const INVALID_STEP = '2605';

export function virtuosoToAppError(err: VirtuosoApiError): AppError {
  const details = { virtuoso: { status: err.status, code: err.code } };
  if (err.retryable) return unavailable(`Virtuoso is unavailable: ${err.message}`, err.retryAfterSeconds ?? 5, err);
  if (NOT_FOUND_CODES.has(err.code) || err.status === 404) return withDetails(notFound(`Virtuoso: ${err.message}`), details);
  if (err.code === DUPLICATE_NAME || err.status === 409) return conflict(`Virtuoso: ${err.message}`, details);
  if (err.code === INVALID_STEP || err.status === 400 || err.status === 422) return unprocessable(`Virtuoso refused the request: ${err.message}`, details);
  // 401/403: the deployment's token is wrong or lacks rights — not the caller's fault, nothing to retry.
  return new AppError('internal', err.status === 401 || err.status === 403 ? 'Virtuoso rejected the API token' : `Virtuoso error: ${err.message}`, { details, cause: err });
}

function withDetails(e: AppError, details: unknown): AppError {
  return new AppError(e.code, e.message, { details });
}

/** Any error in the taxonomy, Virtuoso's mapped as above. */
export function asAppError(err: unknown): AppError {
  return err instanceof VirtuosoApiError ? virtuosoToAppError(err) : toAppError(err);
}
