/**
 * Webhook deliveries: the dedupe store and the delivery log, one Firestore document per delivery
 * at `webhook_deliveries/{key}`. The key is a hash of the Standard Webhooks id, else of the raw body.
 *
 * A delivery is claimed (`publishing`, with a lease) before it is published and marked
 * `published` with the message id after Pub/Sub confirms. A repeat inside the dedupe window is a
 * duplicate; a failed or abandoned publish (`failed`, or an expired lease) is claimed again by the
 * sender's retry, so a publish failure never marks a delivery as seen. Documents expire through a
 * Firestore TTL policy on `expiresAt` (shared/infra.ts).
 */
import { createHash } from 'node:crypto';
import type { DocumentReference, Timestamp } from '@google-cloud/firestore';
import { getConfig } from '../config';
import { notFound, unavailable } from '../errors';
import { publishEvent } from '../events';
import { ALREADY_EXISTS, collections, db, FAILED_PRECONDITION, fieldValue, firestoreCall, firestoreCode, groupCommit } from '../firestore';
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

/**
 * A claimed delivery is held this long: longer than the claim, the publish and the mark can take
 * together (each Firestore call has DEPENDENCY_DEADLINE_MS), so a live claim is never taken over.
 * A crashed instance's claim lapses after it.
 */
export const leaseMs = () => getConfig().publishTimeoutMs + 2 * getConfig().dependencyDeadlineMs + 5000;
export const WEBHOOK_EVENT_TYPE = 'webhook.received';
const SOURCE = 'webhook';

export function dedupeKey(verified: VerifiedDelivery, rawBody: Buffer): string {
  const h = createHash('sha256');
  if (verified.webhookId) h.update(`id:${verified.webhookId}`);
  else h.update('body:').update(rawBody);
  return h.digest('hex');
}

const ref = (key: string) => db().collection(collections.webhookDeliveries).doc(key) as DocumentReference;

/**
 * A claim: the delivery is ours to publish. `version` is the update time of our claim write; the
 * marks that follow are preconditioned on it, so an instance whose claim was taken over can never
 * overwrite the newer owner's record.
 */
export type ClaimResult =
  | { outcome: 'claimed'; receivedAt: Date; version: Timestamp }
  | { outcome: 'duplicate'; record: DeliveryRecord };

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
  const fresh = {
    key: d.key,
    scheme: d.verified.scheme,
    webhookId: d.verified.webhookId ?? null,
    status: 'publishing' as DeliveryStatus,
    receivedAt: new Date(now),
    expiresAt: new Date(now + getConfig().webhookDedupeHours * 3600_000),
    leaseUntil: new Date(now + leaseMs()),
    attempts: 1,
    duplicates: 0,
    replays: 0,
    summary: d.summary,
    contentType: d.contentType,
    rawBody: d.rawBody,
  };
  try {
    const written = await firestoreCall(groupCommit((batch) => batch.create(ref(d.key), fresh), d.rawBody.length + 1024));
    return { outcome: 'claimed', receivedAt: fresh.receivedAt, version: written.writeTime };
  } catch (err) {
    if (firestoreCode(err) !== ALREADY_EXISTS) throw err;
  }
  return reclaim(d, fresh, now);
}

/** The delivery has a record: a duplicate, one in flight, or one whose publish failed or lapsed. */
async function reclaim(d: NewDelivery, fresh: Record<string, unknown> & { receivedAt: Date }, now: number): Promise<ClaimResult> {
  const snap = await firestoreCall(ref(d.key).get());
  if (!snap.exists) throw unavailable('Delivery record changed; retry', 1);
  const record = fromDoc(snap.data()!);
  const live = record.expiresAt.getTime() > now;
  if (record.status === 'published' && live) {
    // Counting duplicates is bookkeeping: a failure here must not fail the acknowledgement.
    await firestoreCall(ref(d.key).update({ duplicates: fieldValue().increment(1), lastDuplicateAt: new Date(now) })).catch(() => undefined);
    return { outcome: 'duplicate', record };
  }
  if (record.status === 'publishing' && (record.leaseUntil?.getTime() ?? 0) > now) {
    throw unavailable('This delivery is being processed; retry shortly', Math.max(1, Math.ceil(((record.leaseUntil?.getTime() ?? now) - now) / 1000)));
  }
  // A failed or abandoned publish is retried under a new claim; outside the window it starts afresh.
  const FieldValue = fieldValue();
  const update = live
    ? { ...fresh, receivedAt: record.receivedAt, expiresAt: record.expiresAt, attempts: record.attempts + 1, duplicates: record.duplicates, replays: record.replays }
    : { ...fresh, messageId: FieldValue.delete(), eventId: FieldValue.delete(), publishedAt: FieldValue.delete(), lastError: FieldValue.delete() };
  try {
    const written = await firestoreCall(ref(d.key).update(update, { lastUpdateTime: snap.updateTime! }));
    return { outcome: 'claimed', receivedAt: live ? record.receivedAt : fresh.receivedAt, version: written.writeTime };
  } catch (err) {
    if (firestoreCode(err) === FAILED_PRECONDITION) {
      throw unavailable('This delivery is being processed; retry shortly', 2);
    }
    throw err;
  }
}

/**
 * Records the publish. Returns false when our claim was taken over meanwhile (the message is out
 * either way; its event id is the delivery key, so consumers see one event).
 */
export async function markPublished(key: string, version: Timestamp, messageId: string, eventId: string): Promise<boolean> {
  const now = Date.now();
  try {
    await firestoreCall(
      groupCommit((batch) =>
        batch.update(
          ref(key),
          {
            status: 'published',
            messageId,
            eventId,
            publishedAt: new Date(now),
            // The dedupe window runs from the publish, however long the sender took to get it through.
            expiresAt: new Date(now + getConfig().webhookDedupeHours * 3600_000),
            leaseUntil: null,
            lastError: null,
          },
          { lastUpdateTime: version },
        ),
      ),
    );
    return true;
  } catch (err) {
    if (firestoreCode(err) === FAILED_PRECONDITION) return false;
    throw err;
  }
}

/** Releases a claim after a failed publish, so the sender's retry can claim it again at once. */
export async function markFailed(key: string, version: Timestamp, error: string): Promise<void> {
  await firestoreCall(ref(key).update({ status: 'failed', leaseUntil: null, lastError: error.slice(0, 500) }, { lastUpdateTime: version }), 2000);
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

/** Newest first. Filtering by status uses the (status, receivedAt) index in firestore.indexes.json. */
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
  // Reserve the replay number first, so concurrent replays never share an event id.
  const replay = await db().runTransaction(async (tx) => {
    const n = (((await tx.get(ref(key))).get('replays') as number | undefined) ?? 0) + 1;
    tx.update(ref(key), { replays: n });
    return n;
  });
  const published = await publishDelivery(record, payload, replay);
  await ref(key).update({ lastReplayAt: new Date(), lastReplayMessageId: published.messageId });
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
