/**
 * Synchronous pull from a Pub/Sub subscription (the archive subscriptions of shared/infra.ts):
 * messages are leased for the subscription's ack deadline, and acknowledged only once what was made
 * of them is safe. Anything not acknowledged is released at once (deadline 0), so the next run gets it.
 * The generated v1 client is used (not the streaming `subscription.on('message')`), because a drain
 * needs "the next N messages, or none": pull with returnImmediately answers at once.
 */
import type { v1 } from '@google-cloud/pubsub';
import { dependencyError } from '../errors';
import { pubsub } from '../events';
import { getConfig } from '../config';

export interface PulledMessage {
  ackId: string;
  messageId: string;
  publishTime: Date;
  attributes: Record<string, string>;
  data: Buffer;
  deliveryAttempt?: number;
}

/** Pub/Sub takes at most this many ack ids per acknowledge / modifyAckDeadline request. */
const ACK_CHUNK = 1000;
const PULL_TIMEOUT_MS = 10_000;

let client: v1.SubscriberClient | undefined;

async function subscriber(): Promise<v1.SubscriberClient> {
  if (!client) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { v1: generated } = require('@google-cloud/pubsub') as typeof import('@google-cloud/pubsub');
    // The handwritten client's options carry the emulator endpoint (PUBSUB_EMULATOR_HOST) when set.
    const options = await pubsub().getClientConfig();
    client = new generated.SubscriberClient({ ...options, port: options.port === undefined ? undefined : Number(options.port) });
  }
  return client;
}

const path = (subscription: string) => `projects/${getConfig().projectId}/subscriptions/${subscription}`;

const toDate = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): Date =>
  new Date(Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6));

/** Up to `max` (≤ 1000) waiting messages; none when the subscription is empty. */
export async function pullMessages(subscription: string, max: number): Promise<PulledMessage[]> {
  const c = await subscriber();
  try {
    // returnImmediately: a drain wants what is waiting now, not to wait for more. Pub/Sub may then
    // answer with fewer messages than wait, or none; the rest go to the next run.
    const [res] = await c.pull({ subscription: path(subscription), maxMessages: max, returnImmediately: true }, { timeout: PULL_TIMEOUT_MS });
    return (res.receivedMessages ?? []).map((r) => ({
      ackId: r.ackId ?? '',
      messageId: r.message?.messageId ?? '',
      publishTime: toDate(r.message?.publishTime),
      attributes: { ...(r.message?.attributes ?? {}) },
      data: Buffer.from(r.message?.data ?? ''),
      ...(r.deliveryAttempt ? { deliveryAttempt: r.deliveryAttempt } : {}),
    }));
  } catch (err) {
    // An empty subscription can answer DEADLINE_EXCEEDED rather than an empty list.
    if ((err as { code?: number }).code === 4) return [];
    throw dependencyError('Pub/Sub', err);
  }
}

async function inChunks(ackIds: readonly string[], send: (chunk: string[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < ackIds.length; i += ACK_CHUNK) await send(ackIds.slice(i, i + ACK_CHUNK));
}

export async function acknowledge(subscription: string, ackIds: readonly string[]): Promise<void> {
  const c = await subscriber();
  try {
    await inChunks(ackIds, (chunk) => c.acknowledge({ subscription: path(subscription), ackIds: chunk }));
  } catch (err) {
    throw dependencyError('Pub/Sub', err);
  }
}

/** Gives the messages back now (ack deadline 0) instead of when their lease ends. Best effort. */
export async function release(subscription: string, ackIds: readonly string[]): Promise<void> {
  if (!ackIds.length) return;
  const c = await subscriber();
  await inChunks(ackIds, (chunk) => c.modifyAckDeadline({ subscription: path(subscription), ackIds: chunk, ackDeadlineSeconds: 0 })).catch(() => undefined);
}
