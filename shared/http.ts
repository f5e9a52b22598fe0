/**
 * The one HTTP wrapper. Every HTTP entry point is registered through `httpFunction`, which gives
 * it a request id, a request-scoped logger with the trace, a method check (405), a body size limit
 * (413), a content-type check (415), a nesting limit on JSON bodies (400), and maps every thrown
 * error once to the JSON body `{error: {code, message, details?}}` — never HTML, never a stack.
 *
 * The framework never parses these functions' bodies: the front door hands every body to its raw
 * reader (the function parses what it takes, once, after the checks above — a JSON body's nesting
 * before anything parses it).
 *
 * What happens before a function runs is answered the same way, through the framework hooks of
 * shared/framework.ts: the framework's parser failures and unknown routes, oversized or compressed
 * bodies (refused by `Content-Length` before they are read), a request that takes too long to
 * arrive (408: headers within HEADERS_TIMEOUT_MS, the whole request within the function's
 * `receiveTimeoutMs`), and what Node's own HTTP parser refuses (431 for oversized headers, 400 for
 * a malformed request).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
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
import { installDirectDispatch, installFrontDoor, installServerHook, whenServing } from './framework';
import { assertJsonBounds } from './json';
import { log, type HttpRequestInfo, type Logger } from './log';
import { startTelemetry } from './telemetry';
import { continueTrace, runInTrace } from './trace';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpOptions {
  methods: readonly Method[];
  /** Largest accepted body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Media types accepted for a non-empty body (default: application/json). */
  accepts?: readonly string[];
  /**
   * How long a whole request (headers and body) may take to arrive before it is answered 408.
   * Default: HEADERS_TIMEOUT_MS plus the body limit at MIN_RECEIVE_RATE (a slow but honest client).
   */
  receiveTimeoutMs?: number;
}

export interface HttpRequestContext {
  req: functions.Request;
  method: Method;
  /** The path after the function's root, always starting with `/`. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** The exact bytes received (signatures are computed over these); empty when no body was sent. */
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
/** Every request's headers must have arrived within this (slowloris). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** The slowest body upload the default receive timeout allows for (bytes per second). */
const MIN_RECEIVE_RATE = 64 * 1024;
/** How often Node checks requests against these timeouts (its default, 30 s, would let them run 30 s over). */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

export const receiveTimeoutOf = (options: Pick<HttpOptions, 'maxBodyBytes' | 'receiveTimeoutMs'>): number =>
  options.receiveTimeoutMs ?? HEADERS_TIMEOUT_MS + Math.ceil(((options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES) / MIN_RECEIVE_RATE) * 1000);

/** Marks the handlers `httpFunction` registers (called without the framework's domain) and carries their options. */
const OPTIONS = Symbol('httpFunction');
type Registered = ((req: functions.Request, res: functions.Response) => Promise<void>) & { [OPTIONS]?: Required<Pick<HttpOptions, 'maxBodyBytes' | 'receiveTimeoutMs'>> };
const limits = new Map<string, number>();
/** frontDoorLimit() of the functions registered so far; worked out again after each registration. */
let knownLimit: number | undefined;

/** Registers an HTTP entry point with the Functions Framework, wrapped in the rules above. */
export function httpFunction(name: string, options: HttpOptions, handler: HttpHandler): void {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const accepts = options.accepts ?? ['application/json'];
  limits.set(name, maxBodyBytes);
  knownLimit = undefined;
  installPatches();
  startTelemetry();

  const serve = async (req: functions.Request, res: functions.Response): Promise<void> => {
    const requestId = requestIdOf(req);
    const trace = continueTrace(req.headers);
    const reqLog = log.child({ function: name, requestId }, trace);
    try {
      const method = req.method as Method;
      if (method === 'GET' && (req.path ?? '').replace(/\/+$/, '') === '/openapi.json' && openApiPart(name)) {
        send(res, 200, openApiPart(name), { 'X-Request-Id': requestId });
        return;
      }
      if (!options.methods.includes(method)) throw methodNotAllowed(options.methods);
      restoreContentType(req);
      const rawBody = bodyOf(req);
      if (rawBody.length > maxBodyBytes) throw payloadTooLarge(maxBodyBytes);
      // A body no parser took: it came without a Content-Type (an empty one is no body at all).
      if (!rawBody.length && (await untakenBodyBytes(req)) > 0) throw unsupportedMediaType(undefined, accepts);
      const mediaType = rawBody.length ? mediaTypeOf(req.headers['content-type']) : undefined;
      if (rawBody.length && !accepts.includes(mediaType ?? '')) {
        throw unsupportedMediaType(req.headers['content-type'], accepts);
      }
      if (rawBody.length) assertUtf8Charset(req.headers['content-type']);
      if (mediaType && isJson(mediaType)) assertJsonBounds(rawBody);
      const url = new URL(req.originalUrl ?? req.url, 'http://function');
      const result = await runInTrace(trace, () => handler({
        req,
        method,
        path: url.pathname.replace(/\/+$/, '') || '/',
        query: url.searchParams,
        headers: req.headers,
        rawBody,
        mediaType,
        requestId,
        log: reqLog,
      }));
      if (result.raw) {
        send(res, result.status, undefined, { ...result.headers, 'X-Request-Id': requestId, 'Content-Type': result.raw.contentType }, result.raw.text);
      } else {
        send(res, result.status, result.body, { ...result.headers, 'X-Request-Id': requestId });
      }
      // One line per answer at debug level (the platform's request log has them in production).
      reqLog.debug('answered', { method, path: req.path, status: result.status });
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
  functions.http(name, Object.assign(serve, { [OPTIONS]: { maxBodyBytes, receiveTimeoutMs: receiveTimeoutOf(options) } }));
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

const isJson = (mediaType: string) => mediaType === 'application/json' || mediaType.endsWith('+json');

/** Bodies are read as UTF-8: another declared charset is refused rather than misread. */
function assertUtf8Charset(contentType: string | undefined): void {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) {
    throw new AppError('unsupported_media_type', `charset '${charset.slice(0, 40)}' is not supported; send UTF-8`, { details: { allowed: ['utf-8'] } });
  }
}

/**
 * The Content-Type each request of an httpFunction server declared: the front door shows the
 * framework `application/octet-stream` instead, so that its raw reader takes every body as bytes
 * (its JSON, text and form parsers would parse before any check, and for nothing: the function
 * parses what it takes itself), and the function sees the header as sent.
 */
const declaredContentType = new WeakMap<IncomingMessage, string>();
const directServers = new WeakSet<object>();

function takeBodyRaw(req: IncomingMessage): void {
  const declared = req.headers['content-type'];
  if (declared === undefined || !directServers.has((req.socket as Socket & { server?: object }).server ?? {})) return;
  declaredContentType.set(req, declared);
  req.headers['content-type'] = 'application/octet-stream';
}

function restoreContentType(req: IncomingMessage): void {
  const declared = declaredContentType.get(req);
  if (declared !== undefined) req.headers['content-type'] = declared;
}

function bodyOf(req: functions.Request): Buffer {
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  return Buffer.alloc(0);
}

/**
 * The bytes of a body the framework's parsers left alone (they take every body with a
 * Content-Type). A length-delimited one is known from its header; a chunked one is counted by the
 * front door, so it is waited for here (bounded by the receive timeout).
 */
async function untakenBodyBytes(req: IncomingMessage): Promise<number> {
  if (req.headers['content-type'] !== undefined) return 0;
  // (Called after restoreContentType: the header is the one sent.)
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > 0 || req.headers['transfer-encoding'] === undefined) return declared;
  if (!req.readableEnded) await new Promise<void>((resolve) => req.once('end', resolve).once('close', resolve));
  return streamedBytes.get(req) ?? 0;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, rawText?: string): void {
  if (res.headersSent || res.destroyed) return;
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

/** The headers every error answer carries (the request id; Retry-After on retryable ones). */
function errorHeaders(err: AppError, requestId: string): Record<string, string> {
  const headers: Record<string, string> = { ...err.headers, 'X-Request-Id': requestId };
  // Retryable answers (429, 503) always say when to come back.
  const retryAfter = err.retryAfterSeconds ?? (err.retryable ? DEFAULT_RETRY_AFTER_SECONDS : undefined);
  if (retryAfter !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(retryAfter)));
  return headers;
}

export function sendError(res: ServerResponse, err: AppError, requestId: string): void {
  send(res, err.status, errorBody(err), errorHeaders(err, requestId));
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
  // Worked out once per registration, not per request (process.env is read through a C++ getter).
  if (knownLimit === undefined) {
    const target = process.env.FUNCTION_TARGET;
    const own = target ? limits.get(target) : limits.size === 1 ? [...limits.values()][0] : undefined;
    knownLimit = own ?? Math.max(DEFAULT_MAX_BODY_BYTES, ...limits.values());
  }
  return knownLimit;
}

/** Paths the framework answers itself (an empty 404): answered as JSON here instead. */
const FRAMEWORK_ROUTES = new Set(['/favicon.ico', '/robots.txt']);
/** Bytes of each chunked body seen so far (they have no length up front). */
const streamedBytes = new WeakMap<IncomingMessage, number>();

/** What the front door refuses before the framework reads a body, and how the framework's own failures are answered. */
function before(req: IncomingMessage, res: ServerResponse): boolean {
  const early = (err: AppError) => {
    res.setHeader('Connection', 'close');
    sendError(res, err, requestIdOf(req));
    req.resume();
    return true;
  };
  if (FRAMEWORK_ROUTES.has((req.url ?? '/').split('?')[0])) return early(new AppError('not_found', 'Not found'));
  // A compressed body could inflate far past the limit inside the framework's parser.
  const encoding = req.headers['content-encoding'];
  if (encoding && encoding.toLowerCase() !== 'identity') {
    return early(new AppError('unsupported_media_type', `Content-Encoding '${encoding}' is not supported; send the body uncompressed`));
  }
  const limit = frontDoorLimit();
  if (Number(req.headers['content-length'] ?? 0) > limit) return early(payloadTooLarge(limit));
  takeBodyRaw(req);
  if (req.headers['transfer-encoding'] !== undefined) {
    // A streamed body has no length up front: count it, and stop reading once past the limit.
    streamedBytes.set(req, 0);
    const count = (chunk: Buffer) => {
      const seen = (streamedBytes.get(req) ?? 0) + chunk.length;
      streamedBytes.set(req, seen);
      if (seen <= limit || res.headersSent) return;
      req.off('data', count);
      res.setHeader('Connection', 'close');
      res.once('finish', () => req.destroy());
      sendError(res, payloadTooLarge(limit), requestIdOf(req));
    };
    req.on('data', count);
  }
  return false;
}

function finalHandler(err: unknown, req: IncomingMessage, res: ServerResponse): void {
  const requestId = requestIdOf(req);
  const appError = err ? frameworkError(err) : new AppError('not_found', 'Not found');
  if (appError.status >= 500) log.error('request failed before the function ran', { error: err, requestId });
  sendError(res, appError, requestId);
}

/** What Node's own HTTP parser and timeouts refuse, by its error code; everything else it refuses is a 400. */
const CLIENT_ERRORS: Record<string, () => AppError> = {
  HPE_HEADER_OVERFLOW: () => new AppError('request_header_fields_too_large', 'Request headers are too large'),
  ERR_HTTP_REQUEST_TIMEOUT: () => new AppError('request_timeout', 'The request did not arrive in time'),
  ERR_HTTP_HEADERS_TIMEOUT: () => new AppError('request_timeout', 'The request headers did not arrive in time'),
};
const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/**
 * Node's parser errors never reach Express: answered here, on the socket, as JSON (when nothing
 * was written on it yet), then the connection is closed.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const appError = CLIENT_ERRORS[err.code ?? '']?.() ?? new AppError('bad_request', 'Malformed HTTP request');
  const body = JSON.stringify(errorBody(appError));
  const headers = { ...errorHeaders(appError, randomUUID()), 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', 'Cache-Control': 'no-store' };
  const head = `HTTP/1.1 ${appError.status} ${REASONS[appError.status] ?? 'Error'}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
  socket.end(head + body);
}

/** Each server the framework creates: the serving function's timeouts, and JSON for Node's own refusals. */
function configureServer(server: Server, userFunction: unknown): void {
  const own = (userFunction as Registered)[OPTIONS];
  if (own) directServers.add(server);
  server.requestTimeout = own?.receiveTimeoutMs ?? receiveTimeoutOf({});
  server.headersTimeout = Math.min(HEADERS_TIMEOUT_MS, server.requestTimeout);
  // Read by Node when the server starts listening (not typed in @types/node).
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = TIMEOUT_CHECK_INTERVAL_MS;
  server.on('clientError', answerClientError);
}

let patched = false;
function installPatches(): void {
  if (patched) return;
  patched = true;
  whenServing(() => {
    installFrontDoor({ before, final: finalHandler });
    installDirectDispatch(
      (fn) => (fn as Registered)[OPTIONS] !== undefined,
      (err, req, res) => {
        // Not reached: the handler answers every error itself. Kept so nothing escapes unanswered.
        log.error('HTTP handler failed outside its error mapping', { error: err });
        sendError(res, toAppError(err), requestIdOf(req));
      },
    );
    installServerHook(configureServer);
  });
}
