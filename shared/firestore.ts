/**
 * Firestore: one lazily created client per process, and the collection names (from the seed).
 * Locally the client talks to the emulator through FIRESTORE_EMULATOR_HOST.
 */
import type { Firestore } from '@google-cloud/firestore';
import { getConfig } from './config';

export const collections = {
  sessions: 'sessions',
  testRuns: 'test_runs',
  userPreferences: 'user_preferences',
  /** `command_history/{userId}/commands/{commandId}` */
  commandHistory: 'command_history',
  apiKeys: 'api_keys',
  webhookDeliveries: 'webhook_deliveries',
  idempotency: 'idempotency',
  backups: 'backups',
  /** Health-check round trips write here (one document per instance). */
  health: '_health',
} as const;

let client: Firestore | undefined;

/** The Firestore client, created on first use (the library is loaded then too: cold start). */
export function db(): Firestore {
  if (!client) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Firestore: FirestoreClient } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
    client = new FirestoreClient({ projectId: getConfig().projectId, ignoreUndefinedProperties: true });
  }
  return client;
}

/** gRPC ALREADY_EXISTS, as raised by `DocumentReference.create` on an existing document. */
export const ALREADY_EXISTS = 6;

/**
 * Group commit: writes issued by concurrent requests within GROUP_COMMIT_WINDOW_MS are sent as one
 * atomic batch (one RPC instead of one each), up to Firestore's 500 writes per batch. When a
 * batch fails (e.g. one `create` hits an existing document), each of its writes is retried alone,
 * so only the write that caused the failure sees it. A lone write waits at most the window.
 */
const GROUP_COMMIT_WINDOW_MS = 2;
const MAX_BATCH_WRITES = 500; // Firestore's limit for one commit

type AddWrite = (batch: import('@google-cloud/firestore').WriteBatch) => void;
interface PendingWrite {
  add: AddWrite;
  resolve: () => void;
  reject: (err: unknown) => void;
}

let pending: PendingWrite[] = [];
let flushTimer: NodeJS.Timeout | undefined;

export function groupCommit(add: AddWrite): Promise<void> {
  return new Promise((resolve, reject) => {
    pending.push({ add, resolve, reject });
    if (pending.length >= MAX_BATCH_WRITES) flush();
    else flushTimer ??= setTimeout(flush, GROUP_COMMIT_WINDOW_MS);
  });
}

function flush(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  const writes = pending;
  pending = [];
  void commit(writes);
}

async function commit(writes: PendingWrite[]): Promise<void> {
  const batch = db().batch();
  for (const w of writes) w.add(batch);
  try {
    await batch.commit();
    for (const w of writes) w.resolve();
  } catch (err) {
    if (writes.length === 1) writes[0].reject(err);
    else await Promise.all(writes.map((w) => commit([w])));
  }
}
