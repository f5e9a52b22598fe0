/**
 * Webhook deliveries: the dedupe store and the delivery log, one Firestore document per delivery
 * at `webhook_deliveries/{key}`. The key is a hash of the Standard Webhooks id, else of the raw body.
 *
 * A delivery is claimed (`publishing`, with a lease) before it is published and marked
 * `published` with the message id after Pub/Sub confirms. A repeat inside the dedupe window
 * (`dedupeUntil`) is a duplicate; a failed or abandoned publish (`failed`, or an expired lease) is
 * claimed again by the sender's retry, so a publish failure never marks a delivery as seen. Each
 * claim, publish, failure and replay is appended to the delivery's `history` (the inbox shows it).
 * Documents are kept for the longer of the dedupe window and WEBHOOK_RETENTION_HOURS, then expire
 * through a Firestore TTL policy on `expiresAt` (shared/infra.ts).
 */
import { createHash, hash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DocumentReference, Timestamp } from '@google-cloud/firestore';
import { getConfig } from '../config';
import { notFound, unavailable } from '../errors';
import { publishEvent } from '../events';
import { ALREADY_EXISTS, collections, db, documentId, FAILED_PRECONDITION, fieldValue, firestoreCall, firestoreCode, groupCommit } from '../firestore';
import { topics } from '../infra';
import { parseWebhookBody, type WebhookSummary } from './payload';
import type { SignatureScheme, VerifiedDelivery } from './signature';

export type DeliveryStatus = 'publishing' | 'published' | 'failed';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['publishing', 'published', 'failed'];

/** One step in a delivery's life, as the inbox shows it. */
export interface DeliveryAttempt {
  at: Date;
  outcome: 'claimed' | 'published' | 'failed' | 'replayed';
  messageId?: string;
  error?: string;
  /** For `replayed`: the replay's number. */
  replay?: number;
}

export interface DeliveryRecord {
  key: string;
  scheme: SignatureScheme;
  webhookId?: string;
  status: DeliveryStatus;
  receivedAt: Date;
  /** A repeat before this is a duplicate (absent on records from before it was kept apart: expiresAt). */
  dedupeUntil?: Date;
  /** When the TTL policy deletes the record. */
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
  history: DeliveryAttempt[];
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

const HOUR_MS = 3600_000;
/** The dedupe window, and how long the record is kept (at least as long: it is the dedupe marker). */
function windows(from: number): { dedupeUntil: Date; expiresAt: Date } {
  const { webhookDedupeHours, webhookRetentionHours } = getConfig();
  return {
    dedupeUntil: new Date(from + webhookDedupeHours * HOUR_MS),
    expiresAt: new Date(from + Math.max(webhookDedupeHours, webhookRetentionHours) * HOUR_MS),
  };
}

/** Appends to the delivery's history inside a write (undefined fields are dropped by the client). */
const logged = (entry: DeliveryAttempt) => fieldValue().arrayUnion(entry);

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
    ...windows(now),
    leaseUntil: new Date(now + leaseMs()),
    attempts: 1,
    duplicates: 0,
    replays: 0,
    summary: d.summary,
    contentType: d.contentType,
    rawBody: d.rawBody,
  };
  try {
    const written = await firestoreCall(
      groupCommit((batch) => batch.create(ref(d.key), { ...fresh, history: [{ at: fresh.receivedAt, outcome: 'claimed' }] }), d.rawBody.length + 1024),
    );
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
  const live = (record.dedupeUntil ?? record.expiresAt).getTime() > now;
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
  const claimed = logged({ at: new Date(now), outcome: 'claimed' });
  const update = live
    ? { ...fresh, receivedAt: record.receivedAt, dedupeUntil: record.dedupeUntil ?? record.expiresAt, expiresAt: record.expiresAt, attempts: record.attempts + 1, duplicates: record.duplicates, replays: record.replays, history: claimed }
    : {
        ...fresh,
        history: [{ at: new Date(now), outcome: 'claimed' }],
        ...Object.fromEntries(['messageId', 'eventId', 'publishedAt', 'lastError', 'replayRequests', 'lastReplayAt', 'lastReplayMessageId'].map((f) => [f, FieldValue.delete()])),
      };
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
            ...windows(now),
            leaseUntil: null,
            lastError: null,
            history: logged({ at: new Date(now), outcome: 'published', messageId }),
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
  const lastError = error.slice(0, 500);
  await firestoreCall(ref(key).update({ status: 'failed', leaseUntil: null, lastError, history: logged({ at: new Date(), outcome: 'failed', error: lastError }) }, { lastUpdateTime: version }), 2000);
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
  const snap = await firestoreCall(ref(key).get());
  return snap.exists ? fromDoc(snap.data()!) : undefined;
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  /** The payload's event (`summary.event`, e.g. EXECUTION). */
  event?: string;
  /** receivedAt ≥ since and < until. */
  since?: Date;
  until?: Date;
}

/** Where a listing goes on: after this delivery (newest first). */
export interface DeliveryCursor {
  receivedAt: Date;
  key: string;
}

/**
 * Deliveries newest first (receivedAt, then the key, both descending), filtered, at most `limit`,
 * after `after`. The indexes are in firestore.indexes.json: (status | summary.event | both,
 * receivedAt desc); a window alone needs only the single-field index.
 */
export async function listDeliveries(filter: DeliveryFilter = {}, limit = 50, after?: DeliveryCursor): Promise<DeliveryRecord[]> {
  let q = db().collection(collections.webhookDeliveries).orderBy('receivedAt', 'desc').orderBy(documentId(), 'desc');
  if (filter.status) q = q.where('status', '==', filter.status);
  if (filter.event) q = q.where('summary.event', '==', filter.event);
  if (filter.since) q = q.where('receivedAt', '>=', filter.since);
  if (filter.until) q = q.where('receivedAt', '<', filter.until);
  if (after) q = q.startAfter(after.receivedAt, after.key);
  const snap = await firestoreCall(q.limit(Math.min(Math.max(limit, 1), 500)).get());
  return snap.docs.map((d) => fromDoc(d.data()));
}

/** How long deliveries are kept, for messages that name it. */
export const retentionHours = () => Math.max(getConfig().webhookDedupeHours, getConfig().webhookRetentionHours);

export interface ReplayResult {
  deliveryId: string;
  /** The replay's number on this delivery (its event id is `<deliveryId>.replay-<n>`). */
  replay: number;
  messageId: string;
  eventId: string;
  /** True when this request had already replayed it: nothing was published again. */
  repeated: boolean;
}

/** A replay reserved by a request: its number, and the lease of the attempt publishing it. */
interface ReplayReservation {
  n: number;
  leaseUntil?: Date | Timestamp;
  messageId?: string;
}

/** How often a request waits for its concurrent twin's replay to be recorded. */
const TWIN_POLL_MS = 100;

/**
 * Publishes a recorded delivery again, as a new event (`<key>.replay-<n>`, attribute `replay`).
 * Exactly once per `requestId`: the replay number is reserved under the request's id, with a
 * lease, before the publish. The same request again gets the recorded replay (`repeated`); its
 * concurrent twin waits for the publish in flight to be recorded instead of publishing too; an
 * attempt that died after its reservation is taken over when its lease lapses, under the same
 * event id (so consumers, who dedupe on it, still see one event).
 */
export async function replayDelivery(key: string, requestId: string = randomUUID()): Promise<ReplayResult> {
  const requestKey = `replayRequests.${hash('sha256', requestId, 'hex').slice(0, 32)}`;
  for (;;) {
    const now = Date.now();
    const reserved = await firestoreCall(
      db().runTransaction(async (tx) => {
        const snap = await tx.get(ref(key));
        if (!snap.exists) return undefined;
        const record = fromDoc(snap.data()!);
        const prior = snap.get(requestKey) as ReplayReservation | undefined;
        if (prior?.messageId) return { record, n: prior.n, messageId: prior.messageId };
        if (prior && (toDate(prior.leaseUntil)?.getTime() ?? 0) > now) return { record, n: prior.n, inFlight: true };
        // A new replay, or one whose attempt lapsed: ours now.
        const n = prior?.n ?? ((snap.get('replays') as number | undefined) ?? 0) + 1;
        tx.update(ref(key), { ...(prior ? {} : { replays: n }), [requestKey]: { n, at: new Date(now), leaseUntil: new Date(now + leaseMs()) } });
        return { record, n };
      }),
    );
    if (!reserved) throw notFound(`No delivery ${key} (deliveries are kept ${retentionHours()} hours)`);
    const { record, n } = reserved;
    const eventId = `${key}.replay-${n}`;
    if (reserved.messageId) return { deliveryId: key, replay: n, messageId: reserved.messageId, eventId, repeated: true };
    if ('inFlight' in reserved) {
      await sleep(TWIN_POLL_MS);
      continue;
    }
    const published = await publishDelivery(record, parseWebhookBody(record.rawBody, record.contentType), n);
    const at = new Date();
    await firestoreCall(
      ref(key).update({
        [`${requestKey}.messageId`]: published.messageId,
        [`${requestKey}.leaseUntil`]: null,
        lastReplayAt: at,
        lastReplayMessageId: published.messageId,
        history: logged({ at, outcome: 'replayed', messageId: published.messageId, replay: n }),
      }),
    );
    return { deliveryId: key, replay: n, ...published, repeated: false };
  }
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
    dedupeUntil: toDate(data.dedupeUntil),
    expiresAt: toDate(data.expiresAt)!,
    leaseUntil: toDate(data.leaseUntil),
    publishedAt: toDate(data.publishedAt),
    lastReplayAt: toDate(data.lastReplayAt),
    messageId: (data.messageId as string | null) ?? undefined,
    lastError: (data.lastError as string | null) ?? undefined,
    rawBody: Buffer.from(data.rawBody as Uint8Array),
    history: ((data.history as Record<string, unknown>[] | undefined) ?? []).map((h) => ({ ...(h as unknown as DeliveryAttempt), at: toDate(h.at)! })),
  };
}
