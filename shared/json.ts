/**
 * JSON bodies: one bounds check for every JSON text that comes from outside (nesting depth, and
 * size where the caller has no limit of its own), made before anything parses it, and the parse of
 * a body that must be an object. Nesting is refused before `JSON.parse` because what comes after
 * the parse recurses: `JSON.stringify` (events, history), ajv and the YAML parser overflow the
 * stack on a few thousand levels, and a deep body is never a legitimate request here.
 */
import { AppError, badRequest, unprocessable } from './errors';

/** Deeper than any body this API takes (a test definition is about 10 levels). */
export const MAX_JSON_DEPTH = 64;

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The deepest nesting of `[`/`{` outside strings, scanning at most until `stopAbove` is passed. One
 * linear pass over the bytes (UTF-8 never puts these ASCII bytes inside a multi-byte character).
 */
export function jsonDepth(text: string | Buffer, stopAbove = Infinity): number {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++depth > max && (max = depth) > stopAbove) return max;
    } else if ((b === CLOSE_ARRAY || b === CLOSE_OBJECT) && depth > 0) {
      depth--;
    }
  }
  return max;
}

/** Refuses (400) a JSON text nested deeper than `maxDepth` or, when given, larger than `maxBytes`. */
export function assertJsonBounds(text: string | Buffer, limits: { maxDepth?: number; maxBytes?: number } = {}): void {
  const maxDepth = limits.maxDepth ?? MAX_JSON_DEPTH;
  const size = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
  if (limits.maxBytes !== undefined && size > limits.maxBytes) {
    throw new AppError('payload_too_large', `JSON larger than ${limits.maxBytes} bytes is not accepted`, { details: { limitBytes: limits.maxBytes } });
  }
  if (jsonDepth(text, maxDepth) > maxDepth) {
    throw badRequest(`JSON nested deeper than ${maxDepth} levels is not accepted`, { maxDepth });
  }
}

/**
 * Parses a JSON body that must be an object: 400 when it is empty, too deep or not JSON, 422 when
 * it is JSON but not an object.
 */
export function parseJsonObject(text: string | Buffer): Record<string, unknown> {
  if (!text.length) throw new AppError('invalid_json', 'The request body is empty: send a JSON object');
  assertJsonBounds(text);
  let value: unknown;
  try {
    value = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch (err) {
    // The parser's own message quotes the body: it goes to the caller, never into a log line.
    throw new AppError('invalid_json', 'Request body is not valid JSON', { details: { reason: (err as Error).message } });
  }
  if (!isPlainObject(value)) {
    throw unprocessable(`Request body must be a JSON object, not ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  }
  return value;
}

/** A JSON object (not an array, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
