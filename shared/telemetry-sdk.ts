/**
 * The OpenTelemetry SDK, set up for shared/telemetry.ts — required only when TRACE_EXPORTER turns
 * tracing on, so none of this is evaluated otherwise (esbuild bundles it; a `require` inside a
 * function is evaluated when called).
 *
 * - Provider: registered globally, so Firestore's own spans use it; the AsyncLocalStorage context
 *   manager carries the active span across awaits.
 * - Sampling: the caller's decision (the `traceparent` flag; Cloud Run's front end sets it for the
 *   requests it samples, and our hops pass it on). A span with no parent — work outside any
 *   invocation — is not recorded.
 * - Export: OTLP/HTTP (JSON) to Google's Telemetry API (https://telemetry.googleapis.com/v1/traces)
 *   with an access token of the function's service account (roles/telemetry.tracesWriter), asked
 *   for at each export, so it is refreshed when it expires; another endpoint (a local receiver,
 *   a collector) gets no token. `console` prints the spans (local use).
 * - Batching: BatchSpanProcessor, 1 s delay; shared/telemetry.ts flushes when the instance goes idle.
 * - Export failures are logged as warnings, at most one a minute.
 */
import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ConsoleSpanExporter, ParentBasedSampler, TracerProvider, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { log } from './log';
import { subscribeRedisCommands } from './telemetry-redis';
import type { RunningTelemetry, TraceExporterKind } from './telemetry';

export interface SdkOptions {
  kind: Exclude<TraceExporterKind, 'none'>;
  /** OTLP/HTTP traces URL. */
  endpoint: string;
  projectId: string;
  region: string;
  service: string;
  version: string;
}

/** The tracer our own spans come from (instrumentation scope). */
export const TRACER_NAME = 'virtuoso-api-cli-functions';
const SCHEDULED_DELAY_MS = 1000;
const EXPORT_TIMEOUT_MS = 10_000;
const TRACE_APPEND_SCOPE = 'https://www.googleapis.com/auth/trace.append';

/** Whether `endpoint` is one of Google's APIs, which want the service account's token. */
export const isGoogleEndpoint = (endpoint: string): boolean => /(^|\.)googleapis\.com$/i.test(new URL(endpoint).hostname);

/** `Authorization` with a fresh access token for each export (google-auth-library caches and refreshes it). */
function googleAuthHeaders(): () => Promise<Record<string, string>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { GoogleAuth } = require('google-auth-library') as typeof import('google-auth-library');
  const auth = new GoogleAuth({ scopes: [TRACE_APPEND_SCOPE] });
  // The exporter's header factory must not throw: without a token the export fails (401) and is reported.
  return async (): Promise<Record<string, string>> => {
    try {
      const token = await auth.getAccessToken();
      return token ? { Authorization: `Bearer ${token}` } : {};
    } catch (err) {
      reportFailure(`no access token for the trace export: ${(err as Error).message}`);
      return {};
    }
  };
}

function exporterFor(options: SdkOptions): SpanExporter {
  if (options.kind === 'console') return new ConsoleSpanExporter();
  return new OTLPTraceExporter({
    url: options.endpoint,
    timeoutMillis: EXPORT_TIMEOUT_MS,
    ...(isGoogleEndpoint(options.endpoint) ? { headers: googleAuthHeaders() } : {}),
  });
}

/**
 * Firestore's own spans (scope `@google-cloud/firestore`) name the system the way the database
 * semantic conventions do, so a query by `db.system.name` finds them beside Redis's.
 */
const firestoreSystem: SpanProcessor = {
  onStart(span) {
    if (span.instrumentationScope.name === '@google-cloud/firestore') span.setAttribute('db.system.name', 'gcp.firestore');
  },
  onEnd() {},
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

let lastFailure = 0;
const FAILURE_INTERVAL_MS = 60_000;
function reportFailure(message: string): void {
  const now = Date.now();
  if (now - lastFailure < FAILURE_INTERVAL_MS) return;
  lastFailure = now;
  log.warn(`tracing: ${message}`);
}

export function startSdk(options: SdkOptions): RunningTelemetry {
  api.diag.setLogger(
    { error: reportFailure, warn: reportFailure, info: () => {}, debug: () => {}, verbose: () => {} },
    api.DiagLogLevel.WARN,
  );
  const batch = new BatchSpanProcessor({ exporter: exporterFor(options), scheduledDelayMillis: SCHEDULED_DELAY_MS, exportTimeoutMillis: EXPORT_TIMEOUT_MS });
  const provider = new TracerProvider({
    sampler: new ParentBasedSampler({ root: new AlwaysOffSampler(), remoteParentSampled: new AlwaysOnSampler() }),
    resource: resourceFromAttributes({
      'service.name': options.service,
      'service.version': options.version,
      'cloud.provider': 'gcp',
      'cloud.region': options.region,
      'cloud.account.id': options.projectId,
      'gcp.project_id': options.projectId,
    }),
    spanProcessors: [firestoreSystem, batch],
  });
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.trace.setGlobalTracerProvider(provider);
  const tracer = provider.getTracer(TRACER_NAME, options.version);
  const unsubscribeRedis = subscribeRedisCommands(api, tracer);
  return {
    api,
    tracer,
    flush: () => provider.forceFlush().catch((err: Error) => reportFailure(`export failed: ${err.message}`)),
    shutdown: async () => {
      unsubscribeRedis();
      await provider.shutdown().catch((err: Error) => reportFailure(`export failed: ${err.message}`));
      api.trace.disable();
      api.context.disable();
    },
  };
}
