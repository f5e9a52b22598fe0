/**
 * Firestore: one lazily created client per process, the collection names (from the seed), and
 * `firestoreCall`, through which every call made while answering goes: a deadline
 * (DEPENDENCY_DEADLINE_MS) and the error taxonomy. The client's own deadlines are 60 s for most
 * calls and none for a query, so a frozen or partitioned Firestore would otherwise hold a request
 * that long, or forever. Locally the client talks to the emulator through FIRESTORE_EMULATOR_HOST.
 */
import type { Firestore, WriteBatch, WriteResult } from '@google-cloud/firestore';
import { getConfig } from './config';
import { withDeadline } from './deadline';
import { dependencyError, unavailable } from './errors';

export { collections } from './infra';

let client: Firestore | undefined;

/**
 * The Firestore client, created on first use (the library is loaded then too: cold start). The
 * transport is gRPC unless FIRESTORE_PREFER_REST=true (read by the library itself; README,
 * "Benchmarks", compares the two). Over REST the emulator needs what gRPC gets from the library:
 * no credentials, plain HTTP.
 */
export function db(): Firestore {
  if (!client) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Firestore: FirestoreClient } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
    client = new FirestoreClient({ projectId: getConfig().projectId, ignoreUndefinedProperties: true, ...restOnEmulator() });
  }
  return client;
}

function restOnEmulator(): Record<string, unknown> {
  if (!process.env.FIRESTORE_EMULATOR_HOST || !/^(true|1)$/i.test(process.env.FIRESTORE_PREFER_REST ?? '')) return {};
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PassThroughClient } = require('google-auth-library') as typeof import('google-auth-library');
  return { authClient: new PassThroughClient(), protocol: 'http' };
}

/**
 * Awaits one Firestore call (a read, a write, a commit, a whole transaction) for at most
 * `deadlineMs`: past it, or on a transient failure, `unavailable` (503); on another failure
 * `internal`, its gRPC code kept in `cause` (`firestoreCode`). A call given up may still complete
 * later: every caller is idempotent, or checks its precondition, so a late write changes nothing.
 */
export function firestoreCall<T>(call: Promise<T>, deadlineMs = getConfig().dependencyDeadlineMs): Promise<T> {
  return withDeadline(call, deadlineMs, () => unavailable(`Firestore did not answer within ${deadlineMs} ms`, 5)).catch((err: unknown) => {
    throw dependencyError('Firestore', err);
  });
}

/** The gRPC status code of a Firestore error, also when `firestoreCall` wrapped it. */
export function firestoreCode(err: unknown): number | undefined {
  const own = (err as { code?: unknown } | null)?.code;
  if (typeof own === 'number') return own;
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof cause === 'number' ? cause : undefined;
}

/** gRPC ALREADY_EXISTS, as raised by `DocumentReference.create` on an existing document. */
export const ALREADY_EXISTS = 6;
/** gRPC NOT_FOUND, as raised by `DocumentReference.update` on a missing document. */
export const NOT_FOUND = 5;
/** gRPC FAILED_PRECONDITION, as raised by a write whose `lastUpdateTime` precondition no longer holds. */
export const FAILED_PRECONDITION = 9;

/** `FieldPath.documentId()` (to order or page by document id), without loading the library at import time. */
export function documentId(): import('@google-cloud/firestore').FieldPath {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('@google-cloud/firestore') as typeof import('@google-cloud/firestore')).FieldPath.documentId();
}

/** The FieldValue sentinels, without loading the library at import time. */
export function fieldValue(): typeof import('@google-cloud/firestore').FieldValue {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('@google-cloud/firestore') as typeof import('@google-cloud/firestore')).FieldValue;
}

/**
 * Group commit: writes issued by concurrent requests within GROUP_COMMIT_WINDOW_MS are sent as one
 * atomic batch (one RPC instead of one each), up to Firestore's 500 writes and well under its
 * 10 MiB request size. When a batch fails (e.g. one `create` hits an existing document), each of
 * its writes is retried alone, so only the write that caused the failure sees it. A lone write
 * waits at most the window. Every returned promise settles, whatever a write or commit throws.
 */
const GROUP_COMMIT_WINDOW_MS = 2;
const MAX_BATCH_WRITES = 500; // Firestore's limit for one commit
const MAX_BATCH_BYTES = 8 * 1024 * 1024; // Firestore's request limit is 10 MiB

/** One write added to a batch, for whoever commits it (groupCommit, or a caller's own batch). */
export type AddWrite = (batch: WriteBatch) => void;
interface PendingWrite {
  add: AddWrite;
  bytes: number;
  resolve: (result: WriteResult) => void;
  reject: (err: unknown) => void;
}

let pending: PendingWrite[] = [];
let pendingBytes = 0;
let flushTimer: NodeJS.Timeout | undefined;

/** Adds one write to the next group commit; resolves with its WriteResult (its `writeTime`). */
export function groupCommit(add: AddWrite, approxBytes = 1024): Promise<WriteResult> {
  return new Promise((resolve, reject) => {
    if (pending.length && pendingBytes + approxBytes > MAX_BATCH_BYTES) flush();
    pending.push({ add, bytes: approxBytes, resolve, reject });
    pendingBytes += approxBytes;
    if (pending.length >= MAX_BATCH_WRITES) flush();
    else flushTimer ??= setTimeout(flush, GROUP_COMMIT_WINDOW_MS);
  });
}

function flush(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  const writes = pending;
  pending = [];
  pendingBytes = 0;
  commit(writes).catch((err) => writes.forEach((w) => w.reject(err)));
}

async function commit(writes: PendingWrite[]): Promise<void> {
  const batch = db().batch();
  const included: PendingWrite[] = [];
  for (const w of writes) {
    try {
      w.add(batch);
      included.push(w);
    } catch (err) {
      w.reject(err); // an invalid write fails alone
    }
  }
  if (!included.length) return;
  try {
    const results = await batch.commit();
    included.forEach((w, i) => w.resolve(results[i]));
  } catch (err) {
    if (included.length === 1) included[0].reject(err);
    else await Promise.all(included.map((w) => commit([w])));
  }
}
