/**
 * JSON Schemas (ajv). One Ajv instance per process, created on first use; each schema compiled once.
 *
 * The instance does not check schemas against the JSON Schema meta-schema (`validateSchema: false`):
 * that check compiled the whole draft-07 meta-schema on the first request of every cold start
 * (about 30 ms of CPU, issue 14), and our schemas are fixed at build time. test/unit/schemas.test.ts
 * checks every schema the functions compile against the meta-schema instead; strict mode still
 * refuses unknown keywords when a schema is compiled.
 */
import type { ValidateFunction } from 'ajv';
import { unprocessable } from '../errors';
import backupRequest from './backup-request.json';
import batchRequest from './batch-request.json';
import commandRequest from './command-request.json';
import commandTask from './command-task.json';
import deliveryReplayRequest from './delivery-replay-request.json';
import eventEnvelope from './event-envelope.json';
import logArchiveRequest from './log-archive-request.json';
import sessionRequest from './session-request.json';
import testRunRequest from './test-run-request.json';
import testRunTask from './test-run-task.json';

/** The options every schema is compiled with (the unit test compiles with the same). */
export const AJV_OPTIONS = { allErrors: true, strict: true, allowUnionTypes: true, formats: { 'date-time': isDateTime } } as const;

let ajv: import('ajv').default | undefined;
const compiled = new Map<object, ValidateFunction>();

function instance(): import('ajv').default {
  if (!ajv) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Ajv = (require('ajv') as typeof import('ajv')).default;
    ajv = new Ajv({ ...AJV_OPTIONS, validateSchema: false });
  }
  return ajv;
}

function isDateTime(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) && !Number.isNaN(Date.parse(value));
}

export function validator<T>(schema: object): ValidateFunction<T> {
  let v = compiled.get(schema);
  if (!v) {
    v = instance().compile(schema);
    compiled.set(schema, v);
  }
  return v as ValidateFunction<T>;
}

/** ajv errors as `{path, message}` pairs for error details. */
export function describeErrors(v: ValidateFunction): { path: string; message: string }[] {
  return (v.errors ?? []).map((e) => ({ path: e.instancePath || '/', message: e.message ?? 'invalid' }));
}

export const schemas = { eventEnvelope, commandRequest, commandTask, sessionRequest, batchRequest, testRunRequest, testRunTask, logArchiveRequest, backupRequest, deliveryReplayRequest };

/** Validates `value` against `schema`, or throws 422 with ajv's findings as details. */
export function validateBody<T>(schema: object, value: unknown, what: string): T {
  const v = validator<T>(schema);
  if (!v(value)) throw unprocessable(`Invalid ${what}`, describeErrors(v));
  return value;
}
