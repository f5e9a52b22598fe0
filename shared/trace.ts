/**
 * One trace across every hop. Each entry point continues the caller's trace (W3C `traceparent` or
 * `X-Cloud-Trace-Context` on a request; the `traceparent` attribute on a Pub/Sub message), or starts
 * one, and runs its handler inside it (AsyncLocalStorage). Everything it sends on — Cloud Tasks,
 * Pub/Sub messages, Virtuoso calls, completion callbacks — carries the trace as `traceparent`, with
 * the span recorded around the call as parent when tracing is on (shared/telemetry.ts), else a new
 * span id per outgoing call (the hop), so the worker, the Pub/Sub consumer and the logs of every
 * function the work passes through share one trace id (Cloud Logging groups them by it).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { parseTrace, type TraceContext } from './log';
import { randomHex } from './random-hex';
import { activeSpanId, inTraceContext } from './telemetry';

/** The header, and the Pub/Sub attribute, the trace travels in. */
export const TRACEPARENT = 'traceparent';

const current = new AsyncLocalStorage<TraceContext>();

/** The trace a carrier (request headers, message attributes) continues, or a new one. */
export function continueTrace(carrier: Record<string, string | string[] | undefined>): TraceContext {
  return parseTrace(carrier) ?? { traceId: randomHex(16), spanId: randomHex(8), sampled: false };
}

/** Runs `fn` inside `trace`: what it sends on carries it, and the spans it makes hang under the caller's (shared/telemetry.ts). */
export function runInTrace<T>(trace: TraceContext, fn: () => T): T {
  return current.run(trace, () => inTraceContext(trace, fn));
}

/** The trace the code runs in, if any. */
export const currentTrace = (): TraceContext | undefined => current.getStore();

/**
 * `traceparent` for one outgoing call: the current trace, and as parent the span recorded around
 * the call (shared/telemetry.ts), else a new span id for this hop; undefined outside a trace.
 */
export function outgoingTraceparent(): string | undefined {
  const trace = current.getStore();
  if (!trace) return undefined;
  return `00-${trace.traceId}-${activeSpanId() ?? randomHex(8)}-${trace.sampled ? '01' : '00'}`;
}

/** `{traceparent}` for an outgoing call's headers or attributes; empty outside a trace. */
export function traceHeaders(): Record<string, string> {
  const tp = outgoingTraceparent();
  return tp ? { [TRACEPARENT]: tp } : {};
}
