import { AppError, unprocessable } from './errors';

/** Parses a JSON body that must be an object: 400 when it is not JSON, 422 when it is not an object. */
export function parseJsonObject(text: string | Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch (err) {
    // The parser's own message quotes the body: it goes to the caller, never into a log line.
    throw new AppError('invalid_json', 'Request body is not valid JSON', { details: { reason: (err as Error).message } });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw unprocessable(`Request body must be a JSON object, not ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/** A JSON object (a map of keys to values): not null, not an array. */
export const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
