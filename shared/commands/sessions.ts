/**
 * Sessions: `sessions/{id}` holds a user's current checkpoint and the next step position. Step
 * commands without a checkpoint use it, and take their position from it atomically (a Firestore
 * transaction), so two concurrent commands never get the same position. Replaces the CLI's mutable
 * config file, which was unsafe under concurrency (VIRTUOSO_API.md §2.2).
 *
 * One instance takes one session's positions one at a time. Concurrent transactions on one document
 * contend: Firestore aborts all but one, and the client retries the others with a backoff that grows
 * from 1 s, so six concurrent steps could wait past the dependency deadline (seen in CI: a 503).
 * Queued in the instance, they never contend with each other; only instances contend, and rarely.
 */
import { randomBytes } from 'node:crypto';
import type { Principal } from '../auth';
import { notFound, unprocessable } from '../errors';
import { collections, db, firestoreCall } from '../firestore';

export const SESSION_TTL_MS = 24 * 3600_000;

export interface Session {
  id: string;
  tenantId: string;
  userId: string;
  name?: string;
  checkpointId: string;
  /** 1-based position the next step without one takes. */
  nextPosition: number;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
}

const ref = (id: string) => db().collection(collections.sessions).doc(id);
/** Session ids as `createSession` makes them: anything else names no session, and never reaches Firestore. */
const SESSION_ID = /^sess_[A-Za-z0-9_-]{12}$/;

/** Stored with `expiresAt` as a Timestamp (the TTL policy of infra.ts deletes expired sessions). */
function fromDoc(data: FirebaseFirestore.DocumentData | undefined): Session | undefined {
  if (!data) return undefined;
  const expires = data.expiresAt as { toDate?: () => Date } | string;
  return { ...(data as Session), expiresAt: typeof expires === 'string' ? expires : expires.toDate!().toISOString() };
}

export async function createSession(principal: Principal, checkpointId: string, name?: string, nextPosition = 1): Promise<Session> {
  if (!/^\d+$/.test(checkpointId)) throw unprocessable(`'${checkpointId}' is not a checkpoint id`);
  const now = Date.now();
  const session: Session = {
    id: `sess_${randomBytes(9).toString('base64url')}`,
    tenantId: principal.tenantId,
    userId: principal.userId,
    ...(name ? { name } : {}),
    checkpointId,
    nextPosition,
    createdAt: new Date(now).toISOString(),
    updatedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + SESSION_TTL_MS).toISOString(),
  };
  await firestoreCall(ref(session.id).create({ ...session, expiresAt: new Date(now + SESSION_TTL_MS) }));
  return session;
}

/** The session, if the caller's tenant owns it and it has not expired (404 otherwise). */
export async function getSession(principal: Principal, id: string): Promise<Session> {
  if (!SESSION_ID.test(id)) throw notFound(`No session ${id.slice(0, 64)}`);
  const snap = await firestoreCall(ref(id).get());
  const s = fromDoc(snap.data());
  if (!s || s.tenantId !== principal.tenantId || Date.parse(s.expiresAt) <= Date.now()) throw notFound(`No session ${id}`);
  return s;
}

export async function listSessions(principal: Principal): Promise<Session[]> {
  const snap = await firestoreCall(db().collection(collections.sessions).where('userId', '==', principal.userId).get());
  return snap.docs
    .map((d) => fromDoc(d.data())!)
    .filter((s) => s.tenantId === principal.tenantId && Date.parse(s.expiresAt) > Date.now())
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
}

export async function deleteSession(principal: Principal, id: string): Promise<void> {
  await getSession(principal, id);
  await firestoreCall(ref(id).delete());
}

/** Takes the session's next position atomically and advances it. */
export async function takePosition(principal: Principal, id: string): Promise<{ checkpointId: string; position: number }> {
  if (!SESSION_ID.test(id)) throw notFound(`No session ${id.slice(0, 64)}`);
  return oneAtATime(id, () => advance(principal, id));
}

function advance(principal: Principal, id: string): Promise<{ checkpointId: string; position: number }> {
  return firestoreCall(
    db().runTransaction(async (tx) => {
      const snap = await tx.get(ref(id));
      const s = fromDoc(snap.data());
      if (!s || s.tenantId !== principal.tenantId || Date.parse(s.expiresAt) <= Date.now()) throw notFound(`No session ${id}`);
      tx.update(ref(id), { nextPosition: s.nextPosition + 1, updatedAt: new Date().toISOString() });
      return { checkpointId: s.checkpointId, position: s.nextPosition };
    }),
  );
}

/** The last position taken, or being taken, per session in this instance. */
const tails = new Map<string, Promise<unknown>>();

/** Runs `work` after every earlier call for `key` in this instance has settled, whatever their outcome. */
function oneAtATime<T>(key: string, work: () => Promise<T>): Promise<T> {
  const mine = (tails.get(key) ?? Promise.resolve()).then(work, work);
  const tail = mine.catch(() => undefined);
  tails.set(key, tail);
  void tail.then(() => {
    if (tails.get(key) === tail) tails.delete(key);
  });
  return mine;
}
