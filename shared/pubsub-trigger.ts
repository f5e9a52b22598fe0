/**
 * The wrapper for Pub/Sub-triggered entry points (a CloudEvent carrying a Pub/Sub message, as
 * Eventarc delivers it, and as the Functions Framework makes of a local push). It decodes the
 * message and maps errors once: retryable trouble is thrown (the framework answers 500, Pub/Sub
 * redelivers with the subscription's backoff); a permanent error is logged and the message
 * acknowledged, so nothing is redelivered forever.
 */
import * as functions from '@google-cloud/functions-framework';
import { toAppError } from './errors';
import { log, type Logger } from './log';
import { startTelemetry } from './telemetry';
import { continueTrace, runInTrace, TRACEPARENT } from './trace';

export interface PubsubMessage {
  messageId: string;
  /** The decoded body (UTF-8), parsed as JSON when it is JSON. */
  json: unknown;
  attributes: Record<string, string>;
  publishTime?: string;
  log: Logger;
}

interface MessagePublishedData {
  message?: { data?: string; attributes?: Record<string, string>; messageId?: string; message_id?: string; publishTime?: string };
  subscription?: string;
}

export function pubsubFunction(name: string, handler: (message: PubsubMessage) => Promise<unknown>): void {
  startTelemetry();
  functions.cloudEvent<MessagePublishedData>(name, async (event: functions.CloudEvent<MessagePublishedData>) => {
    const m = event.data?.message ?? {};
    const messageId = m.messageId ?? m.message_id ?? event.id;
    // The publisher's trace (shared/events.ts puts it in the `traceparent` attribute), else a new one.
    const trace = continueTrace({ [TRACEPARENT]: m.attributes?.[TRACEPARENT] });
    const msgLog = log.child({ function: name, messageId }, trace);
    const text = m.data ? Buffer.from(m.data, 'base64').toString('utf8') : '';
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    try {
      const result = await runInTrace(trace, () => handler({ messageId, json, attributes: m.attributes ?? {}, publishTime: m.publishTime, log: msgLog }));
      msgLog.debug('message handled', { result });
    } catch (err) {
      const e = toAppError(err);
      if (e.retryable) {
        msgLog.warn(`will be redelivered: ${e.message}`, { code: e.code });
        throw e;
      }
      msgLog.error(`dropped (permanent error): ${e.message}`, { error: err, code: e.code });
    }
  });
}
