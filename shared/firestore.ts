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
