/**
 * Webhook deliveries: the dedupe store and the delivery log, one Firestore document per delivery
 * at `webhook_deliveries/{key}`. The key is a hash of the Standard Webhooks id, else of the raw body.
 *
 * A delivery is claimed (`publishing`, with a short lease) before it is published and marked
 * `published` with the message id after Pub/Sub confirms. A repeat inside the dedupe window is a
 * duplicate; a failed or abandoned publish (`failed`, or an expired lease) is claimed again by the
 * sender's retry, so a publish failure never marks a delivery as seen. Documents expire through a
 * Firestore TTL policy on `expiresAt` (shared/infra.ts).
 */
import { createHash } from 'node:crypto';
import type { DocumentReference, Timestamp } from '@google-cloud/firestore';
import { getConfig } from '../config';
import { dependencyError, notFound, unavailable } from '../errors';
import { publishEvent } from '../events';
import { ALREADY_EXISTS, collections, db, groupCommit } from '../firestore';
import { topics } from '../infra';
import { parseWebhookBody, type WebhookSummary } from './payload';
import type { SignatureScheme, VerifiedDelivery } from './signature';

export type DeliveryStatus = 'publishing' | 'published' | 'failed';

export interface DeliveryRecord {
  key: string;
  scheme: SignatureScheme;
  webhookId?: string;
  status: DeliveryStatus;
  receivedAt: Date;
  expiresAt: Date;
  leaseUntil?: Date;
  attempts: number;
  duplicates: number;
  summary: WebhookSummary;
  contentType: string;
  rawBody: Buffer;
  messageId?: string;
  eventId?: string;
  publishedAt?: Date;
  lastError?: string;
  replays: number;
  lastReplayAt?: Date;
  lastReplayMessageId?: string;
}

/** A claimed delivery is held this long; a crashed instance's claim is taken over after it. */
export const LEASE_MS = 30_000;
export const WEBHOOK_EVENT_TYPE = 'webhook.received';
const SOURCE = 'webhook';

export function dedupeKey(verified: VerifiedDelivery, rawBody: Buffer): string {
  const h = createHash('sha256');
  if (verified.webhookId) h.update(`id:${verified.webhookId}`);
  else h.update('body:').update(rawBody);
  return h.digest('hex');
}

const ref = (key: string) => db().collection(collections.webhookDeliveries).doc(key) as DocumentReference;

export type ClaimResult = { outcome: 'claimed'; receivedAt: Date } | { outcome: 'duplicate'; record: DeliveryRecord };

export interface NewDelivery {
  key: string;
  verified: VerifiedDelivery;
  summary: WebhookSummary;
  contentType: string;
  rawBody: Buffer;
}

/** Claims a delivery for publishing, or reports it as a duplicate of one already published. */
export async function claimDelivery(d: NewDelivery): Promise<ClaimResult> {
  const now = Date.now();
  const windowMs = getConfig().webhookDedupeHours * 3600_000;
  const fresh = {
    key: d.key,
    scheme: d.verified.scheme,
    webhookId: d.verified.webhookId,
    status: 'publishing' as DeliveryStatus,
    receivedAt: new Date(now),
    expiresAt: new Date(now + windowMs),
    leaseUntil: new Date(now + LEASE_MS),
    attempts: 1,
    duplicates: 0,
    replays: 0,
    summary: d.summary,
    contentType: d.contentType,
    rawBody: d.rawBody,
  };
  try {
    await groupCommit((batch) => batch.create(ref(d.key), fresh));
    return { outcome: 'claimed', receivedAt: fresh.receivedAt };
  } catch (err) {
    if ((err as { code?: number }).code !== ALREADY_EXISTS) throw dependencyError('Firestore', err);
  }
  try {
    return await db().runTransaction(async (tx) => {
      const snap = await tx.get(ref(d.key));
      if (!snap.exists) {
        tx.create(ref(d.key), fresh);
        return { outcome: 'claimed', receivedAt: fresh.receivedAt } as const;
      }
      const record = fromDoc(snap.data()!);
      const live = record.expiresAt.getTime() > now;
      if (record.status === 'published' && live) {
        tx.update(ref(d.key), { duplicates: record.duplicates + 1, lastDuplicateAt: new Date(now) });
        return { outcome: 'duplicate', record } as const;
      }
      if (record.status === 'publishing' && (record.leaseUntil?.getTime() ?? 0) > now) {
        const wait = Math.ceil(((record.leaseUntil?.getTime() ?? now) - now) / 1000);
        throw unavailable('This delivery is being processed; retry shortly', Math.max(1, wait));
      }
      tx.update(ref(d.key), {
        status: 'publishing',
        leaseUntil: new Date(now + LEASE_MS),
        attempts: record.attempts + 1,
        ...(live ? {} : { receivedAt: new Date(now), expiresAt: new Date(now + windowMs), duplicates: 0 }),
      });
      return { outcome: 'claimed', receivedAt: live ? record.receivedAt : new Date(now) } as const;
    });
  } catch (err) {
    throw dependencyError('Firestore', err);
  }
}

export async function markPublished(key: string, messageId: string, eventId: string): Promise<void> {
  try {
    await groupCommit((batch) =>
      batch.update(ref(key), { status: 'published', messageId, eventId, publishedAt: new Date(), leaseUntil: null, lastError: null }),
    );
  } catch (err) {
    // The message is out; the claim's lease will lapse and a retry would publish again.
    // Consumers dedupe on eventId (= the delivery key), so that retry stays harmless.
    throw dependencyError('Firestore', err);
  }
}

/** Releases a claim after a failed publish, so the sender's retry can claim it again. */
export async function markFailed(key: string, error: string): Promise<void> {
  await ref(key).update({ status: 'failed', leaseUntil: null, lastError: error.slice(0, 500) });
}

/** Publishes a delivery's payload on `webhook-events`. The event id is the delivery key. */
export async function publishDelivery(
  record: Pick<DeliveryRecord, 'key' | 'scheme' | 'webhookId' | 'summary' | 'rawBody' | 'contentType' | 'receivedAt'>,
  payload: Record<string, unknown>,
  replay?: number,
): Promise<{ messageId: string; eventId: string }> {
  const eventId = replay ? `${record.key}.replay-${replay}` : record.key;
  const { messageId } = await publishEvent(
    topics.webhookEvents,
    WEBHOOK_EVENT_TYPE,
    {
      deliveryId: record.key,
      scheme: record.scheme,
      ...(record.webhookId ? { webhookId: record.webhookId } : {}),
      ...record.summary,
      receivedAt: record.receivedAt.toISOString(),
      ...(replay ? { replay } : {}),
      payload,
    },
    {
      source: SOURCE,
      eventId,
      attributes: {
        source: record.scheme === 'virtuoso' ? 'virtuoso' : 'standard-webhooks',
        deliveryId: record.key,
        event: record.summary.event,
        status: record.summary.status,
        executionId: record.summary.executionId,
        projectId: record.summary.projectId,
        goalId: record.summary.goalId,
        replay: replay ? String(replay) : undefined,
      },
    },
  );
  return { messageId, eventId };
}

export async function getDelivery(key: string): Promise<DeliveryRecord | undefined> {
  const snap = await ref(key).get();
  return snap.exists ? fromDoc(snap.data()!) : undefined;
}

export interface ListOptions {
  limit?: number;
  status?: DeliveryStatus;
}

/** Newest first. Filtering by status uses the (status, receivedAt) index declared in infra.ts. */
export async function listDeliveries(options: ListOptions = {}): Promise<DeliveryRecord[]> {
  let q = db().collection(collections.webhookDeliveries).orderBy('receivedAt', 'desc');
  if (options.status) q = q.where('status', '==', options.status);
  const snap = await q.limit(Math.min(Math.max(options.limit ?? 50, 1), 500)).get();
  return snap.docs.map((d) => fromDoc(d.data()));
}

/** Publishes a recorded delivery again (a new event id, attribute `replay`), and records the replay. */
export async function replayDelivery(key: string): Promise<{ messageId: string; eventId: string }> {
  const record = await getDelivery(key);
  if (!record) throw notFound(`No delivery ${key} (deliveries are kept ${getConfig().webhookDedupeHours} hours)`);
  const payload = parseWebhookBody(record.rawBody, record.contentType);
  const replay = record.replays + 1;
  const published = await publishDelivery(record, payload, replay);
  await ref(key).update({ replays: replay, lastReplayAt: new Date(), lastReplayMessageId: published.messageId });
  return published;
}

function toDate(v: unknown): Date | undefined {
  if (v == null) return undefined;
  if (v instanceof Date) return v;
  return (v as Timestamp).toDate();
}

function fromDoc(data: Record<string, unknown>): DeliveryRecord {
  return {
    ...(data as unknown as DeliveryRecord),
    receivedAt: toDate(data.receivedAt)!,
    expiresAt: toDate(data.expiresAt)!,
    leaseUntil: toDate(data.leaseUntil),
    publishedAt: toDate(data.publishedAt),
    lastReplayAt: toDate(data.lastReplayAt),
    messageId: (data.messageId as string | null) ?? undefined,
    lastError: (data.lastError as string | null) ?? undefined,
    rawBody: Buffer.from(data.rawBody as Uint8Array),
  };
}
