/**
 * `Idempotency-Key`: a repeat within 24 hours returns the original command and runs nothing twice.
 * `idempotency/{sha256(tenant|key)}` holds the command id and a hash of the request; the same key
 * with a different request is a 409. Documents expire through a TTL policy on `expiresAt`.
 */
import { hash } from 'node:crypto';
import type { Principal } from '../auth';
import { badRequest, conflict } from '../errors';
import { ALREADY_EXISTS, collections, db, firestoreCall, firestoreCode } from '../firestore';

export const IDEMPOTENCY_WINDOW_MS = 24 * 3600_000;
const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

export interface IdempotencyClaim {
  /** The command this key already stands for, when it is a repeat. */
  existingCommandId?: string;
  /** When the key was bound to it. */
  claimedAt?: number;
}

const docId = (principal: Principal, key: string) => hash('sha256', `${principal.tenantId}|${key}`, 'hex');
const keyRef = (principal: Principal, key: string) => db().collection(collections.idempotency).doc(docId(principal, key));
export const requestHash = (body: unknown) => hash('sha256', JSON.stringify(body), 'hex');

export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const key = Array.isArray(header) ? header[0] : header;
  if (!KEY_SHAPE.test(key)) throw badRequest('Idempotency-Key must be 1–255 visible ASCII characters');
  return key;
}

interface Stored {
  commandId: string;
  requestHash: string;
  createdAt: { toMillis(): number };
  expiresAt: { toMillis(): number };
}

/** Binds `key` to `commandId`, or reports the command it is already bound to. */
export async function claimIdempotencyKey(principal: Principal, key: string, body: unknown, commandId: string): Promise<IdempotencyClaim> {
  const ref = keyRef(principal, key);
  const hash = requestHash(body);
  const now = Date.now();
  const fresh = { tenantId: principal.tenantId, commandId, requestHash: hash, createdAt: new Date(now), expiresAt: new Date(now + IDEMPOTENCY_WINDOW_MS) };
  try {
    await firestoreCall(ref.create(fresh));
    return {};
  } catch (err) {
    if (firestoreCode(err) !== ALREADY_EXISTS) throw err;
  }
  const snap = await firestoreCall(ref.get());
  const data = snap.data() as Stored | undefined;
  if (!data || data.expiresAt.toMillis() <= now) {
    // Expired (the TTL policy deletes it later): the key is free again.
    await firestoreCall(ref.set(fresh));
    return {};
  }
  if (data.requestHash !== hash) throw conflict('This Idempotency-Key was used with a different request', { idempotencyKey: key });
  return { existingCommandId: data.commandId, claimedAt: data.createdAt.toMillis() };
}

/**
 * Rebinds a key whose command left no trace (no record, no outcome) long after any attempt at it
 * could still be running — typically a claim written late, after its request had already answered
 * 503 — to a new command. False when someone else rebound it first.
 */
export async function takeOverIdempotencyKey(principal: Principal, key: string, from: string, to: string): Promise<boolean> {
  const ref = keyRef(principal, key);
  return firestoreCall(
    db().runTransaction(async (tx) => {
      const data = (await tx.get(ref)).data() as Stored | undefined;
      if (data?.commandId !== from) return false;
      tx.update(ref, { commandId: to, createdAt: new Date() });
      return true;
    }),
  );
}

/** Frees a key whose request could not be accepted (e.g. it could not be queued), so a retry runs. */
export async function releaseIdempotencyKey(principal: Principal, key: string): Promise<void> {
  await firestoreCall(keyRef(principal, key).delete());
}
