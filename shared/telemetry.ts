/**
 * OpenTelemetry spans around the calls to our dependencies, in the trace shared/trace.ts carries:
 * same trace id as the logs' `logging.googleapis.com/trace`, the caller's span (the incoming
 * `traceparent`) as parent, so Cloud Trace and the logs agree.
 *
 * Who makes the spans: `traced` here, around our narrow call sites (Pub/Sub publish, Cloud Tasks
 * createTask, Cloud Storage, the Virtuoso transport); Firestore's own instrumentation (the client
 * traces every operation with the global tracer provider); node-redis's own diagnostics channel
 * (shared/telemetry-redis.ts turns its commands into spans).
 *
 * Cost when off: TRACE_EXPORTER=none (the default off Cloud Run) loads nothing — neither the SDK
 * (shared/telemetry-sdk.ts, required only by `startTelemetry`) nor `@opentelemetry/api` — and
 * `traced`, `inTraceContext` and `activeSpanId` return at their first line.
 *
 * When on, the spans are batched and exported when the instance goes idle (no invocation left in
 * flight), just after the answer: Cloud Run throttles the CPU of an idle instance, so waiting for
 * a timer could leave spans unsent until the next request. Under load the batch's own timer
 * (1 s) exports them. The answer never waits for an export.
 */
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import { getConfig, type Config } from './config';
import { log, type TraceContext } from './log';
import { randomHex } from './random-hex';

/** Where spans go, once TRACE_EXPORTER=auto is resolved. */
export type TraceExporterKind = 'none' | 'console' | 'otlp';

/** Google's Telemetry (OTLP) API, traces. */
export const GOOGLE_OTLP_TRACES = 'https://telemetry.googleapis.com/v1/traces';

/** `auto` is `otlp` on Cloud Run (the platform sets K_SERVICE) and `none` elsewhere. */
export function exporterKind(config: Pick<Config, 'traceExporter'>, env: NodeJS.ProcessEnv = process.env): TraceExporterKind {
  if (config.traceExporter !== 'auto') return config.traceExporter;
  return env.K_SERVICE ? 'otlp' : 'none';
}

/** What the SDK module hands back once it runs (shared/telemetry-sdk.ts). */
export interface RunningTelemetry {
  api: typeof import('@opentelemetry/api');
  tracer: Tracer;
  /** Exports every ended span now. */
  flush(): Promise<void>;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

let running: RunningTelemetry | undefined;
let started = false;

/**
 * Turns tracing on if TRACE_EXPORTER asks for it; once per process. Called where an entry point is
 * registered (shared/http.ts, shared/pubsub-trigger.ts), so the SDK is up before the first call.
 */
export function startTelemetry(): void {
  if (started) return;
  started = true;
  const config = getConfig();
  const kind = exporterKind(config);
  if (kind === 'none') return;
  const endpoint = config.traceOtlpEndpoint ?? GOOGLE_OTLP_TRACES;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startSdk } = require('./telemetry-sdk') as typeof import('./telemetry-sdk');
  running = startSdk({
    kind,
    endpoint,
    projectId: config.projectId,
    region: config.region,
    service: process.env.K_SERVICE ?? process.env.FUNCTION_TARGET ?? 'virtuoso-api-cli',
    version: config.version,
  });
  log.debug('tracing on', { exporter: kind, ...(kind === 'otlp' ? { endpoint } : {}) });
}

/** Whether spans are being made (TRACE_EXPORTER resolved to console or otlp). */
export const telemetryOn = (): boolean => running !== undefined;

/** Flushes and stops the SDK (tests; a process that ends on its own). */
export async function stopTelemetry(): Promise<void> {
  const r = running;
  running = undefined;
  started = false;
  await r?.shutdown();
}

let inFlight = 0;

function invocationEnded(): void {
  if (--inFlight > 0 || !running) return;
  const r = running;
  // After the answer has gone (the caller sends it in the continuation of this promise).
  setImmediate(() => void r.flush());
}

/**
 * Runs an invocation's handler with the caller's span as the OpenTelemetry parent (what the
 * spans it makes hang under), and counts it in flight; when the last one ends, the spans go out.
 */
export function inTraceContext<T>(trace: TraceContext, fn: () => T): T {
  if (!running) return fn();
  const { api } = running;
  const parent = api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: trace.traceId,
    // A trace continued from X-Cloud-Trace-Context may carry no span: the spans still share its trace id.
    spanId: trace.spanId ?? randomSpanId(),
    traceFlags: trace.sampled ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE,
    isRemote: true,
  });
  inFlight++;
  let result: T;
  try {
    result = api.context.with(parent, fn);
  } catch (err) {
    invocationEnded();
    throw err;
  }
  if (result instanceof Promise) return result.finally(invocationEnded) as T;
  invocationEnded();
  return result;
}

function randomSpanId(): string {
  return randomHex(8);
}

/** The id of the span being recorded around the current call, if any (the parent an outgoing `traceparent` names). */
export function activeSpanId(): string | undefined {
  if (!running) return undefined;
  const span = running.api.trace.getActiveSpan();
  return span?.isRecording() ? span.spanContext().spanId : undefined;
}

export interface SpanSpec {
  /** Low-cardinality, per the semantic conventions (`send webhook-events`, `GET /projects/{id}`). */
  name: string;
  /** `client` for a call answered now; `producer` for work handed on (a message, a task). */
  kind: 'client' | 'producer';
  /** Never a secret, a key or a token. */
  attributes: Attributes;
}

/**
 * Runs `fn` inside a span (`spec`, or a function making it only when tracing is on): ended when its promise settles, with error status (and `error.type`)
 * when it rejects. `fn` gets the span to add what it learns (a status code, a message id), or
 * undefined when tracing is off — then `fn` is simply called.
 */
export function traced<T>(spec: SpanSpec | (() => SpanSpec), fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!running) return fn(undefined);
  const { api, tracer } = running;
  if (typeof spec === 'function') spec = spec();
  const kind = spec.kind === 'producer' ? api.SpanKind.PRODUCER : api.SpanKind.CLIENT;
  return tracer.startActiveSpan(spec.name, { kind, attributes: spec.attributes }, async (span) => {
    try {
      const result = await fn(span);
      span.end();
      return result;
    } catch (err) {
      markFailed(span, err);
      span.end();
      throw err;
    }
  });
}

/** Error status and `error.type` (the error's code or name); the message, not the stack. */
export function markFailed(span: Span, err: unknown): void {
  if (!running) return;
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  const type = typeof e?.code === 'string' || typeof e?.code === 'number' ? String(e.code) : typeof e?.name === 'string' ? e.name : 'Error';
  span.setAttribute('error.type', type);
  span.setStatus({ code: running.api.SpanStatusCode.ERROR, message: typeof e?.message === 'string' ? e.message.slice(0, 200) : undefined });
}
