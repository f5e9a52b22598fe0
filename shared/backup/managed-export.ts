/**
 * The managed Firestore export (Firestore's own `exportDocuments`, restorable with
 * `gcloud firestore import`), started beside each portable backup in production. It runs as a
 * long-running operation on Google's side; the backup records the operation's name and where the
 * export goes, `gs://<bucket>/backups/firestore/{yyyy-mm-dd}/{backupId}-managed/`.
 *
 * The emulator has no managed export, so it is skipped there (and with BACKUP_MANAGED_EXPORT=off).
 * Not yet run against a real project: the request follows the Admin API reference.
 */
import { getConfig } from '../config';
import { bucketName, objectPrefixes } from '../infra';

export type ManagedExport =
  | { status: 'started'; operation: string; outputUriPrefix: string }
  | { status: 'skipped'; reason: string }
  | { status: 'failed'; error: string; outputUriPrefix: string };

export function managedExportRequest(projectId: string, backupId: string, day: string) {
  return {
    name: `projects/${projectId}/databases/(default)`,
    outputUriPrefix: `gs://${bucketName(projectId)}/${objectPrefixes.firestoreBackups(day)}${backupId}-managed`,
  };
}

export async function startManagedExport(backupId: string, day: string): Promise<ManagedExport> {
  const { backupManagedExport, projectId } = getConfig();
  if (backupManagedExport === 'off') return { status: 'skipped', reason: 'BACKUP_MANAGED_EXPORT=off' };
  if (process.env.FIRESTORE_EMULATOR_HOST) return { status: 'skipped', reason: 'the Firestore emulator has no managed export' };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { v1 } = require('@google-cloud/firestore') as typeof import('@google-cloud/firestore');
  const admin = new v1.FirestoreAdminClient();
  const request = managedExportRequest(projectId, backupId, day);
  try {
    const [operation] = await admin.exportDocuments(request);
    return { status: 'started', operation: operation.name ?? '', outputUriPrefix: request.outputUriPrefix };
  } catch (err) {
    // The portable backup is complete either way; the failure is recorded and logged, not retried.
    return { status: 'failed', error: String((err as Error)?.message ?? err).slice(0, 500), outputUriPrefix: request.outputUriPrefix };
  } finally {
    await admin.close().catch(() => undefined);
  }
}
