/**
 * Pub/Sub publishing. Every message body is the envelope
 * `{eventId, eventType, timestamp, data, metadata: {source, version}}`, validated with ajv before it
 * leaves. `publishEvent` resolves only when Pub/Sub has confirmed the message (its id is returned),
 * and any failure or a publish slower than PUBLISH_TIMEOUT_MS is `unavailable` (503): the caller's
 * sender retries, and nothing accepted is lost.
 */
import { randomUUID } from 'node:crypto';
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { getConfig } from './config';
import { withDeadline } from './deadline';
import { AppError, unavailable } from './errors';
import type { TopicName } from './infra';
import { describeErrors, schemas, validator } from './schemas';
import { traced, type SpanSpec } from './telemetry';
import { traceHeaders } from './trace';

export interface EventEnvelope<T extends object = Record<string, unknown>> {
  eventId: string;
  eventType: string;
  timestamp: string;
  data: T;
  metadata: { source: string; version: string; userId?: string; sessionId?: string };
}

export interface PublishOptions {
  source: string;
  eventId?: string;
  /** Message attributes (string values only; empty ones are dropped). `eventType` is always added. */
  attributes?: Record<string, string | undefined>;
  userId?: string;
}

export const ENVELOPE_VERSION = '1';

let client: PubSub | undefined;
const topicCache = new Map<string, Topic>();

export function pubsub(): PubSub {
  if (!client) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PubSub: PubSubClient } = require('@google-cloud/pubsub') as typeof import('@google-cloud/pubsub');
    client = new PubSubClient({ projectId: getConfig().projectId });
  }
  return client;
}

function topic(name: TopicName): Topic {
  let t = topicCache.get(name);
  if (!t) {
    const timeout = getConfig().publishTimeoutMs;
    // Small batches: concurrent publishes share one RPC; a lone publish waits at most 1 ms.
    t = pubsub().topic(name, { batching: { maxMessages: 100, maxMilliseconds: 1 }, gaxOpts: { timeout } });
    topicCache.set(name, t);
  }
  return t;
}

export function buildEnvelope<T extends object>(eventType: string, data: T, options: PublishOptions): EventEnvelope<T> {
  const envelope: EventEnvelope<T> = {
    eventId: options.eventId ?? randomUUID(),
    eventType,
    timestamp: new Date().toISOString(),
    data,
    metadata: { source: options.source, version: ENVELOPE_VERSION, ...(options.userId ? { userId: options.userId } : {}) },
  };
  const validate = validator<EventEnvelope>(schemas.eventEnvelope);
  if (!validate(envelope)) {
    throw new AppError('internal', 'Event envelope failed validation', { details: describeErrors(validate) });
  }
  return envelope;
}

/** Publishes an event and waits for Pub/Sub's confirmation. Returns the message id. */
export async function publishEvent<T extends object>(
  topicName: TopicName,
  eventType: string,
  data: T,
  options: PublishOptions,
): Promise<{ messageId: string; envelope: EventEnvelope<T> }> {
  const envelope = buildEnvelope(eventType, data, options);
  const timeoutMs = getConfig().publishTimeoutMs;
  return traced(() => publishSpan(topicName), async (span) => {
    // The trace goes on to the subscribers (shared/trace.ts; pubsub-trigger.ts picks it up), the publish span as parent.
    const attributes: Record<string, string> = { eventType, ...traceHeaders() };
    for (const [k, v] of Object.entries(options.attributes ?? {})) if (v) attributes[k] = v.slice(0, 1024);
    try {
      const messageId = await withDeadline(
        topic(topicName).publishMessage({ data: Buffer.from(JSON.stringify(envelope)), attributes }),
        timeoutMs,
        () => new Error(`publish not confirmed within ${timeoutMs} ms`),
      );
      span?.setAttribute('messaging.message.id', messageId);
      return { messageId, envelope };
    } catch (err) {
      throw unavailable(`Could not publish to ${topicName}`, 10, err);
    }
  });
}

/** The messaging semantic conventions' producer span of a publish. */
const publishSpan = (topicName: TopicName): SpanSpec => ({
  name: `send ${topicName}`,
  kind: 'producer',
  attributes: {
    'messaging.system': 'gcp_pubsub',
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'send',
    'messaging.destination.name': topicName,
  },
});

/** Whether a topic exists (health check). */
export async function topicExists(name: TopicName): Promise<boolean> {
  const [exists] = await pubsub().topic(name).exists();
  return exists;
}
