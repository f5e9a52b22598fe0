/**
 * Structured logging for Cloud Logging: one JSON object per line with `severity`, `message`,
 * the trace (`logging.googleapis.com/trace`, from `X-Cloud-Trace-Context` or `traceparent`) and
 * labels. Secrets, API keys, signatures and `Authorization` values are redacted before writing.
 *
 * An ERROR entry is also an Error Reporting event, in the format Google documents for structured
 * logs (cloud.google.com/error-reporting/docs/formatting-error-messages): the stack in
 * `stack_trace`, `serviceContext {service, version}`, `context.httpRequest` for a request; an error
 * without a stack is typed as a `ReportedErrorEvent` with the place it was logged from
 * (`context.reportLocation`), which that type requires.
 */
import { getConfig, type LogLevel } from './config';

type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const SEVERITY_RANK: Record<Severity, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };

/** Keys whose values never reach a log, whatever their nesting. */
const SECRET_KEY = /authorization|secret|signature|api[-_]?key|token|password|cookie|credential|private[-_]?key/i;
/** Values that look like credentials even under an innocent key. */
const SECRET_VALUE = /^(bearer|basic)\s+\S+|^whsec_|^sha1=[0-9a-f]{40}$|^v1a?,/i;
export const REDACTED = '[REDACTED]';

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[truncated]';
  if (typeof value === 'string') return SECRET_VALUE.test(value) ? REDACTED : value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return serializeError(value);
  if (value && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return redact((value as { toJSON: () => unknown }).toJSON(), depth + 1); // Dates, Timestamps, Buffers
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? REDACTED : redact(v, depth + 1);
    return out;
  }
  return value;
}

function serializeError(err: Error): Record<string, unknown> {
  const e = err as Error & { code?: unknown; cause?: unknown };
  return {
    name: e.name,
    message: e.message,
    ...(e.code === undefined ? {} : { code: e.code }),
    stack: e.stack,
    ...(e.cause instanceof Error ? { cause: serializeError(e.cause) } : {}),
  };
}

export interface TraceContext {
  traceId: string;
  spanId?: string;
  sampled?: boolean;
}

/** Reads the trace from `traceparent` (W3C) or `X-Cloud-Trace-Context` (`TRACE/SPAN;o=1`). */
export function parseTrace(headers: Record<string, string | string[] | undefined>): TraceContext | undefined {
  const tp = first(headers['traceparent']);
  const m = tp && /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})$/i.exec(tp.trim());
  if (m && !/^0+$/.test(m[1])) return { traceId: m[1], spanId: m[2], sampled: (parseInt(m[3], 16) & 1) === 1 };
  const xc = first(headers['x-cloud-trace-context']);
  const c = xc && /^([\da-f]{32})(?:\/(\d{1,20}))?(?:;o=([01]))?/i.exec(xc.trim());
  if (c) return { traceId: c[1], spanId: spanHex(c[2]), sampled: c[3] === undefined ? undefined : c[3] === '1' };
  return undefined;
}

/** X-Cloud-Trace-Context carries the span id in decimal; Cloud Logging wants 16 hex digits. */
function spanHex(decimal: string | undefined): string | undefined {
  if (!decimal) return undefined;
  const id = BigInt(decimal) & 0xffffffffffffffffn;
  return id === 0n ? undefined : id.toString(16).padStart(16, '0');
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export type Fields = Record<string, unknown>;

/** What Error Reporting shows of the request an error happened in (its `HttpRequestContext`). */
export interface HttpRequestInfo {
  method: string;
  url: string;
  responseStatusCode?: number;
  userAgent?: string;
  referrer?: string;
  remoteIp?: string;
}

/** The `@type` that makes Error Reporting take an entry without a stack trace. */
export const REPORTED_ERROR_EVENT = 'type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent';

/**
 * The Error Reporting fields of an ERROR entry. `fields.error` gives the stack, `fields.httpRequest`
 * (taken out of the fields) the request; the service is the Cloud Run service (K_SERVICE), else
 * the `function` label, else the function target.
 */
function errorReport(fields: Fields, labels: Record<string, string>, version: string, location: () => ReportLocation): Fields {
  const { httpRequest, ...rest } = fields;
  const error = rest.error as { stack?: unknown } | undefined;
  const stack = typeof error?.stack === 'string' ? error.stack : undefined;
  const service = process.env.K_SERVICE ?? labels.function ?? process.env.FUNCTION_TARGET ?? 'virtuoso-api-cli';
  const context: Record<string, unknown> = {};
  if (httpRequest && typeof httpRequest === 'object') context.httpRequest = httpRequest;
  const report: Fields = { ...rest, serviceContext: { service, version } };
  if (stack) {
    report.stack_trace = stack;
    // The stack is in stack_trace; the serialized error keeps name, message, code and cause.
    report.error = { ...(error as object), stack: undefined };
  } else {
    report['@type'] = REPORTED_ERROR_EVENT;
    context.reportLocation = location();
  }
  if (Object.keys(context).length) report.context = context;
  return report;
}

interface ReportLocation {
  filePath: string;
  lineNumber: number;
  functionName: string;
}

/** Where `below` was called from: the first stack frame above it. */
function callerOf(below: (...args: never[]) => unknown): ReportLocation {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, below);
  const frame = (holder.stack ?? '').split('\n')[1]?.trim() ?? '';
  const m = /^at (?:(.+?) \()?(.+?):(\d+):\d+\)?$/.exec(frame);
  return m ? { filePath: m[2], lineNumber: Number(m[3]), functionName: m[1] ?? '<anonymous>' } : { filePath: 'unknown', lineNumber: 0, functionName: 'unknown' };
}

export class Logger {
  constructor(
    private readonly labels: Record<string, string> = {},
    private readonly trace?: TraceContext,
  ) {}

  /** A logger whose entries carry more labels and/or a trace. */
  child(labels: Record<string, string | undefined>, trace: TraceContext | undefined = this.trace): Logger {
    const clean = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== undefined)) as Record<string, string>;
    return new Logger({ ...this.labels, ...clean }, trace);
  }

  debug(message: string, fields?: Fields): void {
    this.write('DEBUG', message, fields);
  }
  info(message: string, fields?: Fields): void {
    this.write('INFO', message, fields);
  }
  warn(message: string, fields?: Fields): void {
    this.write('WARNING', message, fields);
  }
  error(message: string, fields?: Fields): void {
    this.write('ERROR', message, fields, () => callerOf(this.error));
  }

  private write(severity: Severity, message: string, fields?: Fields, location = (): ReportLocation => callerOf(this.write)): void {
    const { logLevel, projectId, version } = safeConfig();
    if (SEVERITY_RANK[severity] < RANK[logLevel]) return;
    const redacted = fields ? (redact(fields) as Fields) : {};
    const entry: Record<string, unknown> = {
      severity,
      message,
      time: new Date().toISOString(),
      ...(severity === 'ERROR' ? errorReport(redacted, this.labels, version, location) : redacted),
    };
    if (Object.keys(this.labels).length) entry['logging.googleapis.com/labels'] = this.labels;
    if (this.trace) {
      entry['logging.googleapis.com/trace'] = `projects/${projectId}/traces/${this.trace.traceId}`;
      if (this.trace.spanId) entry['logging.googleapis.com/spanId'] = this.trace.spanId;
      if (this.trace.sampled !== undefined) entry['logging.googleapis.com/trace_sampled'] = this.trace.sampled;
    }
    const line = JSON.stringify(entry) + '\n';
    if (severity === 'ERROR') process.stderr.write(line);
    else process.stdout.write(line);
  }
}

/** Logging must work even while the configuration is being reported as broken. */
function safeConfig(): { logLevel: LogLevel; projectId: string; version: string } {
  try {
    const c = getConfig();
    return { logLevel: c.logLevel, projectId: c.projectId, version: c.version };
  } catch {
    return { logLevel: 'info', projectId: process.env.GOOGLE_CLOUD_PROJECT ?? 'unknown', version: process.env.APP_VERSION ?? 'unknown' };
  }
}

/** The process-wide logger; request handlers use `log.child(...)` with request labels and trace. */
export const log = new Logger();
