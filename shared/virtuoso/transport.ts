/**
 * The Virtuoso client's HTTP transport: `node:http(s)` with keep-alive agents. Node's `fetch`
 * (undici) cost about 0.9 ms of CPU per request here, measured while building 1,000 steps; this
 * costs a fraction of it, and a test-run build is bound by exactly that CPU.
 *
 * Each exchange is a client span when tracing is on (shared/telemetry.ts) and carries the trace
 * as `traceparent`.
 *
 * Failures look like fetch's, so the client reads them one way: a timeout is an Error named
 * `TimeoutError`; a network failure carries the socket error's `code` in `cause`.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { markFailed, telemetryOn, traced, type SpanSpec } from '../telemetry';
import { outgoingTraceparent, TRACEPARENT } from '../trace';

export interface RawResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface RawRequest {
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 256 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

/**
 * One HTTP exchange, inside a client span (shared/telemetry.ts) whose id the `traceparent` header
 * names as the callee's parent (shared/trace.ts).
 */
export function send(url: string, init: RawRequest): Promise<RawResponse> {
  // A test-run build's hot path: without tracing, not even the span's wrapper (nor a URL object).
  if (!telemetryOn()) return exchange(url, init);
  const u = new URL(url);
  return traced(
    () => httpSpan(init.method, u),
    async (span) => {
      const res = await exchange(url, init);
      span?.setAttribute('http.response.status_code', res.status);
      if (span && res.status >= 400) markFailed(span, { code: String(res.status), message: `HTTP ${res.status}` });
      return res;
    },
  );
}

/** `/projects/1234/goals` → `/projects/{id}/goals`: a name with few values (ids vary, the route does not). */
export const urlTemplate = (path: string): string => path.replace(/\/(?:\d+|[0-9a-f]{8}-[0-9a-f-]{27,})(?=\/|$)/gi, '/{id}');

/** The HTTP client span, per the semantic conventions; no query string (it is not needed to find a call). */
function httpSpan(method: string, u: URL): SpanSpec {
  const template = urlTemplate(u.pathname);
  return {
    name: `${method} ${template}`,
    kind: 'client',
    attributes: {
      'http.request.method': method,
      'server.address': u.hostname,
      'server.port': Number(u.port) || (u.protocol === 'https:' ? 443 : 80),
      'url.full': `${u.origin}${u.pathname}`,
      'url.template': template,
    },
  };
}

/** Where requests to one origin go: parsed once per origin (a URL object per call cost CPU). */
interface Origin {
  lib: typeof http | typeof https;
  agent: http.Agent;
  protocol: string;
  hostname: string;
  port: string;
  /** The `Host` header: host and port as the URL gave them (an IPv6 host in brackets). */
  host: string;
}
const origins = new Map<string, Origin | undefined>();

/** The origin of `url` and the rest of it (path and query); undefined for a protocol not served. */
function target(url: string): { origin: Origin | undefined; protocol: string; path: string } {
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  const key = slash < 0 ? url : url.slice(0, slash);
  let origin = origins.get(key);
  if (!origins.has(key)) {
    const u = new URL(key);
    const agent = agents[u.protocol as keyof typeof agents];
    // An IPv6 host is given to node:http without its brackets.
    origin = agent ? { lib: u.protocol === 'https:' ? https : http, agent, protocol: u.protocol, hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port, host: u.host } : undefined;
    if (origins.size < 16) origins.set(key, origin);
  }
  return { origin, protocol: key.slice(0, key.indexOf(':') + 1), path: slash < 0 ? '/' : url.slice(slash) };
}

function exchange(url: string, init: RawRequest): Promise<RawResponse> {
  const { origin, protocol, path } = target(url);
  if (!origin) return Promise.reject(Object.assign(new Error(`unsupported protocol ${protocol}`), { cause: { code: 'ERR_INVALID_PROTOCOL' } }));
  return new Promise((resolve, reject) => {
    const req = origin.lib.request({
      protocol: origin.protocol,
      hostname: origin.hostname,
      port: origin.port,
      path,
      method: init.method,
      agent: origin.agent,
      headers: rawHeaders(origin, init),
    });
    // One timer for the whole exchange, up to the answer's last byte. (An AbortSignal per request
    // cost several times more CPU: a weakly held timer and abort listeners on the request and socket.)
    const timer = setTimeout(() => {
      reject(timeoutError());
      req.destroy();
    }, init.timeoutMs);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, text });
      });
      res.on('error', (err) => failed(err, timer, reject));
    });
    req.on('error', (err) => failed(err, timer, reject));
    req.end(init.body);
  });
}

/**
 * A network failure: the exchange's timer stopped, its promise rejected. Not a named closure in
 * `exchange`: bundles keep function names for stack traces (scripts/build.ts), which costs an
 * `Object.defineProperty` each time a named closure is made, on every call.
 */
function failed(err: Error, timer: NodeJS.Timeout, reject: (err: Error) => void): void {
  clearTimeout(timer);
  reject(networkError(err));
}

/** Methods whose request has a body in HTTP's terms: without one, Node would send it chunked. */
const BODY_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);

/**
 * The request's headers as Node's raw list (`[name, value, …]`), written as given: an object costs
 * a `setHeader` per header (a lower-cased copy of each name, a map of them), and a build makes a
 * thousand calls. Node adds `Host` and `Content-Length` only to an object, so they are here; the
 * trace goes on to Virtuoso (shared/trace.ts).
 */
function rawHeaders(origin: Origin, init: RawRequest): string[] {
  const headers = ['Host', origin.host];
  for (const name in init.headers) headers.push(name, init.headers[name]);
  const traceparent = outgoingTraceparent();
  if (traceparent) headers.push(TRACEPARENT, traceparent);
  if (init.body !== undefined) headers.push('Content-Length', String(Buffer.byteLength(init.body)));
  else if (BODY_METHODS.has(init.method)) headers.push('Content-Length', '0');
  return headers;
}

const timeoutError = () => Object.assign(new Error('timeout'), { name: 'TimeoutError' });

function networkError(err: Error & { code?: string; cause?: unknown }): Error {
  if (err.name === 'TimeoutError') return timeoutError();
  return Object.assign(new Error(err.message), { cause: { code: err.code ?? err.name } });
}
