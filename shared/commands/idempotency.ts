/**
 * `Idempotency-Key`: a repeat within 24 hours returns the original command and runs nothing twice.
 * `idempotency/{sha256(tenant|key)}` holds the command id and a hash of the request; the same key
 * with a different request is a 409. Documents expire through a TTL policy on `expiresAt`.
 */
import { hash } from 'node:crypto';
import type { Principal } from '../auth';
import { badRequest, conflict, dependencyError } from '../errors';
import { ALREADY_EXISTS, collections, db } from '../firestore';

export const IDEMPOTENCY_WINDOW_MS = 24 * 3600_000;
const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

export interface IdempotencyClaim {
  /** The command this key already stands for, when it is a repeat. */
  existingCommandId?: string;
}

const docId = (principal: Principal, key: string) => hash('sha256', `${principal.tenantId}|${key}`, 'hex');
export const requestHash = (body: unknown) => hash('sha256', JSON.stringify(body), 'hex');

export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const key = Array.isArray(header) ? header[0] : header;
  if (!KEY_SHAPE.test(key)) throw badRequest('Idempotency-Key must be 1–255 visible ASCII characters');
  return key;
}

/** Binds `key` to `commandId`, or reports the command it is already bound to. */
export async function claimIdempotencyKey(principal: Principal, key: string, body: unknown, commandId: string): Promise<IdempotencyClaim> {
  const ref = db().collection(collections.idempotency).doc(docId(principal, key));
  const hash = requestHash(body);
  const now = Date.now();
  try {
    await ref.create({ tenantId: principal.tenantId, commandId, requestHash: hash, createdAt: new Date(now), expiresAt: new Date(now + IDEMPOTENCY_WINDOW_MS) });
    return {};
  } catch (err) {
    if ((err as { code?: number }).code !== ALREADY_EXISTS) throw dependencyError('Firestore', err);
  }
  const snap = await ref.get().catch((err) => {
    throw dependencyError('Firestore', err);
  });
  const data = snap.data() as { commandId: string; requestHash: string; expiresAt: { toMillis(): number } } | undefined;
  if (!data || data.expiresAt.toMillis() <= now) {
    // Expired (the TTL policy deletes it later): the key is free again.
    await ref.set({ tenantId: principal.tenantId, commandId, requestHash: hash, createdAt: new Date(now), expiresAt: new Date(now + IDEMPOTENCY_WINDOW_MS) });
    return {};
  }
  if (data.requestHash !== hash) throw conflict('This Idempotency-Key was used with a different request', { idempotencyKey: key });
  return { existingCommandId: data.commandId };
}

/** Frees a key whose request could not be accepted (e.g. it could not be queued), so a retry runs. */
export async function releaseIdempotencyKey(principal: Principal, key: string): Promise<void> {
  await db().collection(collections.idempotency).doc(docId(principal, key)).delete();
}
