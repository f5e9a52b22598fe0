/** The error taxonomy (shared/errors.ts) and the body-parser mapping in shared/http.ts. */
import assert from 'node:assert/strict';
import {
  AppError,
  badRequest,
  conflict,
  dependencyError,
  errorBody,
  forbidden,
  invalidJson,
  isTransient,
  methodNotAllowed,
  notFound,
  payloadTooLarge,
  toAppError,
  unauthenticated,
  unavailable,
  unprocessable,
  unsupportedMediaType,
  type ErrorCode,
} from '../../shared/errors';
import { DEFAULT_MAX_BODY_BYTES, frameworkError } from '../../shared/http';

/** Typed as Record<ErrorCode, …> so a new code without a row here fails the type check. */
const EXPECTED_STATUS: Record<ErrorCode, number> = {
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
const CODES = Object.keys(EXPECTED_STATUS) as ErrorCode[];

describe('errors', () => {
  describe('AppError', () => {
    it('has the right HTTP status for every code', () => {
      for (const code of CODES) assert.equal(new AppError(code, 'm').status, EXPECTED_STATUS[code], code);
    });

    it('is retryable only for unavailable and rate_limited', () => {
      const retryable = CODES.filter((code) => new AppError(code, 'm').retryable);
      assert.deepEqual(retryable.sort(), ['rate_limited', 'unavailable']);
    });

    it('is an Error named AppError that keeps its message, options and cause', () => {
      const cause = new Error('root');
      const err = new AppError('rate_limited', 'slow down', {
        details: { limit: 10 },
        retryAfterSeconds: 30,
        headers: { 'RateLimit-Limit': '10' },
        cause,
      });
      assert.ok(err instanceof Error);
      assert.equal(err.name, 'AppError');
      assert.equal(err.message, 'slow down');
      assert.deepEqual(err.details, { limit: 10 });
      assert.equal(err.retryAfterSeconds, 30);
      assert.deepEqual(err.headers, { 'RateLimit-Limit': '10' });
      assert.equal(err.cause, cause);
      assert.match(err.stack ?? '', /AppError: slow down/);
    });

    it('has no cause property when none was given', () => {
      assert.ok(!('cause' in new AppError('internal', 'm')));
    });
  });

  describe('helpers', () => {
    it('build the expected codes, details and headers', () => {
      assert.equal(badRequest('b').code, 'bad_request');
      assert.deepEqual(badRequest('b', { field: 'x' }).details, { field: 'x' });
      assert.equal(invalidJson('j').code, 'invalid_json');
      assert.equal(unauthenticated('u').status, 401);
      assert.equal(forbidden('f').status, 403);
      assert.equal(notFound('n').status, 404);
      assert.deepEqual(conflict('c', { id: 1 }).details, { id: 1 });
      assert.equal(conflict('c').code, 'conflict');
      assert.equal(conflict('c').status, 409);
      assert.equal(unprocessable('p').code, 'unprocessable_entity');
      assert.deepEqual(unprocessable('p', { at: 'goals[0]' }).details, { at: 'goals[0]' });

      const tooLarge = payloadTooLarge(1024);
      assert.equal(tooLarge.status, 413);
      assert.equal(tooLarge.message, 'Request body exceeds the limit of 1024 bytes');
      assert.deepEqual(tooLarge.details, { limitBytes: 1024 });

      const media = unsupportedMediaType('text/plain', ['application/json']);
      assert.equal(media.status, 415);
      assert.equal(media.message, "Content-Type 'text/plain' is not supported");
      assert.deepEqual(media.details, { allowed: ['application/json'] });
      assert.equal(unsupportedMediaType(undefined, []).message, 'Content-Type (none) is not supported');

      const method = methodNotAllowed(['GET', 'POST']);
      assert.equal(method.status, 405);
      assert.deepEqual(method.headers, { Allow: 'GET, POST' });
      assert.equal(method.message, 'Method not allowed; use GET, POST');
    });

    it('unavailable defaults to Retry-After 5 s and keeps the cause', () => {
      const cause = new Error('down');
      assert.equal(unavailable('x').retryAfterSeconds, 5);
      const err = unavailable('x', 30, cause);
      assert.equal(err.status, 503);
      assert.equal(err.retryAfterSeconds, 30);
      assert.equal(err.cause, cause);
      assert.ok(err.retryable);
    });
  });

  describe('errorBody', () => {
    it('is {error: {code, message}} without a details key when there are none', () => {
      const body = errorBody(notFound('No such delivery'));
      assert.deepEqual(body, { error: { code: 'not_found', message: 'No such delivery' } });
      assert.ok(!('details' in body.error));
    });

    it('carries details when present, even falsy ones other than undefined', () => {
      assert.deepEqual(errorBody(badRequest('bad', { field: 'name' })), {
        error: { code: 'bad_request', message: 'bad', details: { field: 'name' } },
      });
      assert.deepEqual(errorBody(new AppError('conflict', 'c', { details: 0 })).error.details, 0);
    });

    it('never includes the cause, headers, Retry-After or a stack', () => {
      const body = errorBody(new AppError('unavailable', 'down', { retryAfterSeconds: 9, headers: { A: 'b' }, cause: new Error('secret') }));
      assert.deepEqual(body, { error: { code: 'unavailable', message: 'down' } });
      assert.ok(!JSON.stringify(body).includes('secret'));
    });
  });

  describe('isTransient', () => {
    it('follows AppError.retryable', () => {
      assert.equal(isTransient(unavailable('x')), true);
      assert.equal(isTransient(new AppError('rate_limited', 'x')), true);
      assert.equal(isTransient(new AppError('internal', 'x')), false);
      assert.equal(isTransient(notFound('x')), false);
    });

    it('is true for the retryable gRPC status codes', () => {
      const names: Record<number, string> = { 1: 'CANCELLED', 4: 'DEADLINE_EXCEEDED', 8: 'RESOURCE_EXHAUSTED', 10: 'ABORTED', 13: 'INTERNAL', 14: 'UNAVAILABLE' };
      for (const [code, name] of Object.entries(names)) {
        assert.equal(isTransient(Object.assign(new Error(name), { code: Number(code) })), true, name);
      }
    });

    it('is false for the permanent gRPC status codes', () => {
      // OK, UNKNOWN, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
      // FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED, DATA_LOSS, UNAUTHENTICATED
      for (const code of [0, 2, 3, 5, 6, 7, 9, 11, 12, 15, 16]) {
        assert.equal(isTransient(Object.assign(new Error('x'), { code })), false, String(code));
      }
    });

    it('is true for the transient Node network error codes', () => {
      for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']) {
        assert.equal(isTransient(Object.assign(new Error(code), { code })), true, code);
      }
    });

    it('is false for other Node error codes', () => {
      for (const code of ['ENOENT', 'EACCES', 'ERR_INVALID_ARG_TYPE', 'EINVAL']) {
        assert.equal(isTransient(Object.assign(new Error(code), { code })), false, code);
      }
    });

    it('is true for timeouts and aborts recognised by name', () => {
      assert.equal(isTransient(Object.assign(new Error('t'), { name: 'TimeoutError' })), true);
      assert.equal(isTransient(Object.assign(new Error('a'), { name: 'AbortError' })), true);
    });

    // Regression (shared/errors.ts isTransient, fixed): DOMException carries a legacy *numeric* `code`
    // (TimeoutError = 23, AbortError = 20), so the `typeof e.code === 'number'` branch returns
    // false before the name check is reached. This is exactly what fetch() throws with
    // AbortSignal.timeout(ms), so a dependency timeout would become a 500 instead of a 503.
    it('is true for the DOMException that fetch() throws on AbortSignal.timeout / abort', () => {
      const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
      const abort = new DOMException('This operation was aborted', 'AbortError');
      assert.equal(isTransient(timeout), true, `TimeoutError (code ${timeout.code})`);
      assert.equal(isTransient(abort), true, `AbortError (code ${abort.code})`);
    });

    // Regression (shared/errors.ts isTransient, fixed): with the REST transport (fallback: true, used with
    // SECRET_MANAGER_ENDPOINT) google-gax 5.0.8 surfaces the GaxiosError itself, whose numeric
    // `code` is the HTTP status (gaxios 7, see googleapis/gax-nodejs#1803), not a gRPC code. 503
    // is then not in RETRYABLE_GRPC and becomes a 500. gRPC codes are 0–16 and HTTP statuses
    // 100–599, so both can be recognised without ambiguity.
    it('is true for the HTTP statuses (408/429/500/502/503/504) REST-transport errors carry as their code', () => {
      for (const status of [408, 429, 500, 502, 503, 504]) {
        const gaxiosLike = Object.assign(new Error(`HTTP ${status}`), { code: status, status });
        assert.equal(isTransient(gaxiosLike), true, String(status));
      }
      for (const status of [400, 401, 403, 404, 409, 501]) {
        assert.equal(isTransient(Object.assign(new Error('x'), { code: status, status })), false, String(status));
      }
    });

    it('is false for plain errors, nothing, and non-errors', () => {
      assert.equal(isTransient(new Error('boom')), false);
      assert.equal(isTransient(new TypeError('x')), false);
      assert.equal(isTransient(null), false);
      assert.equal(isTransient(undefined), false);
      assert.equal(isTransient('ECONNRESET'), false);
      assert.equal(isTransient(42), false);
    });
  });

  describe('dependencyError', () => {
    it('returns an AppError unchanged', () => {
      const err = notFound('x');
      assert.equal(dependencyError('Firestore', err), err);
    });

    it('maps a transient failure to unavailable (503, retryable) with Retry-After and the cause', () => {
      const cause = Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: 14 });
      const err = dependencyError('Firestore', cause);
      assert.equal(err.code, 'unavailable');
      assert.equal(err.status, 503);
      assert.ok(err.retryable);
      assert.equal(err.message, 'Firestore is temporarily unavailable');
      assert.equal(err.retryAfterSeconds, 5);
      assert.equal(err.cause, cause);
      assert.equal(dependencyError('Redis', Object.assign(new Error('x'), { code: 'ECONNRESET' }), 12).retryAfterSeconds, 12);
    });

    it('maps anything else to internal (500) whose message does not leak the cause', () => {
      const cause = Object.assign(new Error('7 PERMISSION_DENIED: missing role on projects/p'), { code: 7 });
      const err = dependencyError('Secret Manager', cause);
      assert.equal(err.code, 'internal');
      assert.equal(err.status, 500);
      assert.equal(err.retryable, false);
      assert.equal(err.message, 'Secret Manager failed');
      assert.equal(err.retryAfterSeconds, undefined);
      assert.equal(err.cause, cause);
    });
  });

  describe('toAppError', () => {
    it('returns an AppError unchanged', () => {
      const err = badRequest('x');
      assert.equal(toAppError(err), err);
    });

    it('hides the message of anything else behind a generic 500, keeping it as the cause', () => {
      const cause = new Error('connect to 10.0.0.3 with password hunter2 failed');
      const err = toAppError(cause);
      assert.equal(err.code, 'internal');
      assert.equal(err.status, 500);
      assert.equal(err.message, 'Internal error');
      assert.equal(err.cause, cause);
      assert.deepEqual(errorBody(err), { error: { code: 'internal', message: 'Internal error' } });
    });

    it('wraps thrown non-errors too', () => {
      for (const thrown of ['a string', 42, null, undefined, { code: 'x' }]) {
        const err = toAppError(thrown);
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'internal');
        assert.equal(err.message, 'Internal error');
      }
    });
  });

  describe('frameworkError (http.ts: body-parser failures raised before a function runs)', () => {
    /** The shape body-parser gives its errors (http-errors with `type`, `body`, `limit`…). */
    const parserError = (type: string, props: Record<string, unknown> = {}) =>
      Object.assign(new Error(type), { type, expose: true, statusCode: 400, status: 400, ...props });

    it('entity.parse.failed with valid JSON that is not an object/array (strict mode) is 422', () => {
      for (const body of ['"just a string"', '42', 'true', 'null']) {
        const err = frameworkError(parserError('entity.parse.failed', { body }));
        assert.equal(err.code, 'unprocessable_entity', body);
        assert.equal(err.status, 422, body);
        assert.equal(err.message, 'Request body must be a JSON object');
      }
    });

    it('entity.parse.failed with invalid JSON is 400 invalid_json', () => {
      for (const body of ['{"a": ', 'not json', '{a:1}', '']) {
        const err = frameworkError(parserError('entity.parse.failed', { body }));
        assert.equal(err.code, 'invalid_json', body);
        assert.equal(err.status, 400, body);
      }
      assert.equal(frameworkError(parserError('entity.parse.failed')).code, 'invalid_json', 'no body at all');
    });

    it('entity.too.large is 413 with the parser limit', () => {
      const err = frameworkError(parserError('entity.too.large', { status: 413, statusCode: 413, limit: 2048, length: 5000 }));
      assert.equal(err.code, 'payload_too_large');
      assert.equal(err.status, 413);
      assert.deepEqual(err.details, { limitBytes: 2048 });
    });

    it('entity.too.large without a limit falls back to the front door limit', () => {
      const err = frameworkError(parserError('entity.too.large', { status: 413 }));
      assert.equal(err.status, 413);
      const { limitBytes } = err.details as { limitBytes: number };
      assert.ok(Number.isInteger(limitBytes) && limitBytes > 0, String(limitBytes));
      if (!process.env.FUNCTION_TARGET) assert.ok(limitBytes >= DEFAULT_MAX_BODY_BYTES);
    });

    it('charset.unsupported and encoding.unsupported are 415 with the parser message', () => {
      const charset = frameworkError(parserError('charset.unsupported', { status: 415, message: 'unsupported charset "KOI8-R"', charset: 'koi8-r' }));
      assert.equal(charset.code, 'unsupported_media_type');
      assert.equal(charset.status, 415);
      assert.equal(charset.message, 'unsupported charset "KOI8-R"');
      const encoding = frameworkError(parserError('encoding.unsupported', { status: 415, message: 'unsupported content encoding "br2"' }));
      assert.equal(encoding.status, 415);
      assert.equal(encoding.message, 'unsupported content encoding "br2"');
    });

    it('an aborted or truncated request is 400 bad_request', () => {
      for (const type of ['request.aborted', 'request.size.invalid']) {
        const err = frameworkError(parserError(type));
        assert.equal(err.code, 'bad_request', type);
        assert.equal(err.message, 'Request body was incomplete');
      }
    });

    it('any other 4xx is a generic 400, and anything else a hidden 500', () => {
      const other = frameworkError(Object.assign(new Error('weird'), { status: 431 }));
      assert.equal(other.code, 'bad_request');
      assert.equal(other.message, 'Bad request');
      const crash = frameworkError(new Error('stack details'));
      assert.equal(crash.code, 'internal');
      assert.equal(crash.message, 'Internal error');
      assert.equal(frameworkError(Object.assign(new Error('x'), { status: 502 })).code, 'internal');
      assert.equal(frameworkError(undefined).code, 'internal');
      const app = unavailable('down');
      assert.equal(frameworkError(app), app);
    });
  });
});
