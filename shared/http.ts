/**
 * The one HTTP wrapper. Every HTTP entry point is registered through `httpFunction`, which gives
 * it a request id, a request-scoped logger with the trace, a method check (405), a body size limit
 * (413), a content-type check (415), and maps every thrown error once to the JSON body
 * `{error: {code, message, details?}}` — never HTML, never a stack.
 *
 * The Functions Framework parses bodies before a function runs and sends parser failures to
 * Express's default final handler, which answers with HTML. `installFrontDoor` replaces that final
 * handler with a JSON one and rejects oversized bodies by `Content-Length` before they are read.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as functions from '@google-cloud/functions-framework';
import {
  AppError,
  errorBody,
  invalidJson,
  methodNotAllowed,
  payloadTooLarge,
  toAppError,
  unprocessable,
  unsupportedMediaType,
} from './errors';
import { log, parseTrace, type HttpRequestInfo, type Logger } from './log';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpOptions {
  methods: readonly Method[];
  /** Largest accepted body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Media types accepted for a non-empty body (default: application/json). */
  accepts?: readonly string[];
}

export interface HttpRequestContext {
  req: functions.Request;
  method: Method;
  /** The path after the function's root, always starting with `/`. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** The exact bytes received (signatures are computed over these). */
  rawBody: Buffer;
  /** The media type without parameters, lower-cased (`application/json`), if a body was sent. */
  mediaType?: string;
  requestId: string;
  log: Logger;
}

export interface HttpResult {
  status: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is, instead of `body` (other media types: YAML, plain text). */
  raw?: { contentType: string; text: string };
  headers?: Record<string, string>;
}

export type HttpHandler = (ctx: HttpRequestContext) => Promise<HttpResult> | HttpResult;

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const limits = new Map<string, number>();

/** Registers an HTTP entry point with the Functions Framework, wrapped in the rules above. */
export function httpFunction(name: string, options: HttpOptions, handler: HttpHandler): void {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const accepts = options.accepts ?? ['application/json'];
  limits.set(name, maxBodyBytes);
  installFrontDoor();

  const serve = async (req: functions.Request, res: functions.Response): Promise<void> => {
    const requestId = requestIdOf(req);
    const reqLog = log.child({ function: name, requestId }, parseTrace(req.headers));
    try {
      const method = req.method as Method;
      if (method === 'GET' && (req.path ?? '').replace(/\/+$/, '') === '/openapi.json' && openApiPart(name)) {
        send(res, 200, openApiPart(name), { 'X-Request-Id': requestId });
        return;
      }
      if (!options.methods.includes(method)) throw methodNotAllowed(options.methods);
      const rawBody = bodyOf(req);
      if (rawBody.length > maxBodyBytes) throw payloadTooLarge(maxBodyBytes);
      // A body no parser took: it came without a Content-Type.
      if (!rawBody.length && hasBody(req)) throw unsupportedMediaType(undefined, accepts);
      const mediaType = rawBody.length ? mediaTypeOf(req.headers['content-type']) : undefined;
      if (rawBody.length && !accepts.includes(mediaType ?? '')) {
        throw unsupportedMediaType(req.headers['content-type'], accepts);
      }
      const url = new URL(req.originalUrl ?? req.url, 'http://function');
      const result = await handler({
        req,
        method,
        path: url.pathname.replace(/\/+$/, '') || '/',
        query: url.searchParams,
        headers: req.headers,
        rawBody,
        mediaType,
        requestId,
        log: reqLog,
      });
      if (result.raw) {
        send(res, result.status, undefined, { ...result.headers, 'X-Request-Id': requestId, 'Content-Type': result.raw.contentType }, result.raw.text);
      } else {
        send(res, result.status, result.body, { ...result.headers, 'X-Request-Id': requestId });
      }
    } catch (err) {
      const appError = toAppError(err);
      if (appError.status >= 500) {
        reqLog.error(appError.message, { error: err, status: appError.status, path: req.path, httpRequest: httpRequestInfo(req, appError.status) });
      } else {
        reqLog.info(`rejected: ${appError.message}`, { code: appError.code, status: appError.status });
      }
      sendError(res, appError, requestId);
    }
  };
  installDirectDispatch();
  functions.http(name, Object.assign(serve, { [DIRECT]: true }));
}

/** The request as Error Reporting shows it beside an error (shared/log.ts). */
function httpRequestInfo(req: functions.Request, responseStatusCode: number): HttpRequestInfo {
  return {
    method: req.method,
    url: req.originalUrl ?? req.url,
    responseStatusCode,
    ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
    ...(req.headers.referer ? { referrer: req.headers.referer } : {}),
    ...(req.ip ? { remoteIp: req.ip } : {}),
  };
}

/**
 * `GET /openapi.json` on a public function: its part of the OpenAPI document (shared/openapi/),
 * built on first request (not at cold start) and kept. Undefined for the other functions.
 */
const openApiParts = new Map<string, object | undefined>();
function openApiPart(name: string): object | undefined {
  if (!openApiParts.has(name)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { openApiDocument, servesOpenApi } = require('./openapi/document') as typeof import('./openapi/document');
    openApiParts.set(name, servesOpenApi(name) ? openApiDocument(name) : undefined);
  }
  return openApiParts.get(name);
}

export function mediaTypeOf(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0].trim().toLowerCase() || undefined;
}

function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

function bodyOf(req: functions.Request): Buffer {
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  return Buffer.alloc(0);
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, rawText?: string): void {
  if (res.headersSent) return;
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (rawText !== undefined) {
    res.end(rawText);
    return;
  }
  if (body === undefined || status === 204 || status === 304) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}

const DEFAULT_RETRY_AFTER_SECONDS = 5;

export function sendError(res: ServerResponse, err: AppError, requestId: string): void {
  const headers: Record<string, string> = { ...err.headers, 'X-Request-Id': requestId };
  // Retryable answers (429, 503) always say when to come back.
  const retryAfter = err.retryAfterSeconds ?? (err.retryable ? DEFAULT_RETRY_AFTER_SECONDS : undefined);
  if (retryAfter !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(retryAfter)));
  send(res, err.status, errorBody(err), headers);
}

/** Maps body-parser failures (raised before the function runs) to the taxonomy. */
export function frameworkError(err: unknown, limitBytes = frontDoorLimit()): AppError {
  const e = err as { type?: string; status?: number; body?: string; limit?: number; message?: string } | undefined;
  switch (e?.type) {
    case 'entity.parse.failed':
      if (Buffer.byteLength(e.body ?? '') > limitBytes) return payloadTooLarge(limitBytes);
      // body-parser's strict mode rejects valid JSON that is not an object or array.
      try {
        JSON.parse(e.body ?? '');
        return unprocessable('Request body must be a JSON object');
      } catch {
        return invalidJson('Request body is not valid JSON');
      }
    case 'entity.too.large':
      return payloadTooLarge(e.limit ?? limitBytes);
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new AppError('unsupported_media_type', e.message ?? 'Unsupported body encoding');
    case 'request.aborted':
    case 'request.size.invalid':
      return new AppError('bad_request', 'Request body was incomplete');
  }
  if (e?.status && e.status >= 400 && e.status < 500) return new AppError('bad_request', 'Bad request');
  return toAppError(err);
}

/**
 * The body limit before the function runs: the serving function's own (FUNCTION_TARGET is set by
 * the platform and by `npm start`; a process serving one function needs no hint), else the largest.
 */
function frontDoorLimit(): number {
  const target = process.env.FUNCTION_TARGET;
  const own = target ? limits.get(target) : limits.size === 1 ? [...limits.values()][0] : undefined;
  return own ?? Math.max(DEFAULT_MAX_BODY_BYTES, ...limits.values());
}

/** Paths the framework answers itself (an empty 404): answered as JSON here instead. */
const FRAMEWORK_ROUTES = new Set(['/favicon.ico', '/robots.txt']);

type ExpressApp = { handle(req: IncomingMessage, res: ServerResponse, done?: (err?: unknown) => void): void };
let frontDoorInstalled = false;

/**
 * Installs the JSON front door on the Functions Framework's own Express (resolved from the
 * framework's location, so the bundle patches the copy that serves requests).
 */
function installFrontDoor(): void {
  if (frontDoorInstalled) return;
  frontDoorInstalled = true;
  const express = createRequire(require.resolve('@google-cloud/functions-framework'))('express') as {
    application: ExpressApp;
  };
  const original = express.application.handle;
  express.application.handle = function (this: ExpressApp, req, res, done) {
    const early = (err: AppError) => {
      res.setHeader('Connection', 'close');
      sendError(res, err, requestIdOf(req));
      req.resume();
    };
    if (FRAMEWORK_ROUTES.has((req.url ?? '/').split('?')[0])) return early(new AppError('not_found', 'Not found'));
    // A compressed body could inflate far past the limit inside the framework's parser.
    const encoding = req.headers['content-encoding'];
    if (encoding && encoding.toLowerCase() !== 'identity') {
      return early(new AppError('unsupported_media_type', `Content-Encoding '${encoding}' is not supported; send the body uncompressed`));
    }
    const limit = frontDoorLimit();
    if (Number(req.headers['content-length'] ?? 0) > limit) return early(payloadTooLarge(limit));
    if (req.headers['transfer-encoding'] !== undefined) {
      // A streamed body has no length up front: count it, and stop reading once past the limit.
      let seen = 0;
      const count = (chunk: Buffer) => {
        seen += chunk.length;
        if (seen <= limit || res.headersSent) return;
        req.off('data', count);
        res.setHeader('Connection', 'close');
        res.once('finish', () => req.destroy());
        sendError(res, payloadTooLarge(limit), requestIdOf(req));
      };
      req.on('data', count);
    }
    return original.call(this, req, res, done ?? ((err?: unknown) => finalHandler(err, req, res)));
  };
}

function finalHandler(err: unknown, req: IncomingMessage, res: ServerResponse): void {
  const requestId = requestIdOf(req);
  const appError = err ? frameworkError(err) : new AppError('not_found', 'Not found');
  if (appError.status >= 500) log.error('request failed before the function ran', { error: err, requestId });
  sendError(res, appError, requestId);
}

/** Marks the handlers `httpFunction` registers, which the framework may call without its domain. */
const DIRECT = Symbol('httpFunction');

type Handler = ((req: functions.Request, res: functions.Response) => unknown) & { [DIRECT]?: true };
type Wrappers = { wrapUserFunction: (fn: Handler, signatureType: string) => (req: functions.Request, res: functions.Response) => void };
let directDispatchInstalled = false;

/**
 * Lets the Functions Framework call `httpFunction` handlers directly, without the `domain` it
 * creates for every request. The framework uses the domain only to turn an error the handler did
 * not catch into a crash response; `httpFunction` catches every error of its promise chain itself.
 * The domain is expensive: creating the first one enables a Node async hook with destroy tracking
 * for every promise of the process, and entering it binds every async resource made in a request.
 * `npm run bench` measured the webhook function's CPU per request at about 15-20 % less without it.
 * The framework looks `wrapUserFunction` up on its module each time it builds a server, so this
 * applies to `npm start`, the platform and the tests' servers alike. Other functions (CloudEvents)
 * keep the framework's wrapper.
 */
function installDirectDispatch(): void {
  if (directDispatchInstalled) return;
  directDispatchInstalled = true;
  const root = dirname(require.resolve('@google-cloud/functions-framework'));
  let wrappers: Wrappers;
  try {
    wrappers = createRequire(require.resolve('@google-cloud/functions-framework'))(join(root, 'function_wrappers.js')) as Wrappers;
  } catch {
    log.warn('Functions Framework internals changed: HTTP functions run in its per-request domain');
    return;
  }
  const original = wrappers.wrapUserFunction;
  if (typeof original !== 'function') return;
  wrappers.wrapUserFunction = (fn, signatureType) => {
    if (signatureType !== 'http' || !fn[DIRECT]) return original(fn, signatureType);
    return (req, res) => {
      void Promise.resolve(fn(req, res)).catch((err: unknown) => {
        // Not reached: the handler answers every error itself. Kept so nothing escapes unanswered.
        log.error('HTTP handler failed outside its error mapping', { error: err });
        sendError(res, toAppError(err), requestIdOf(req));
      });
    };
  };
}
