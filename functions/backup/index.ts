/**
 * `backup` — private; Cloud Scheduler calls it with an OIDC token: a full backup daily (job
 * `backup-full`) and an incremental one every 6 hours (`backup-incremental`), shared/infra.ts.
 *
 *   POST /   {incremental?} → 200 {id, kind, manifest, since?, documents, stored, groups, managedExport}
 *
 * A portable typed NDJSON backup of every collection into Cloud Storage (shared/backup/portable.ts),
 * restorable anywhere with `npm run restore`; a full one also starts Firestore's managed export
 * (shared/backup/managed-export.ts; a failure to start it is recorded and logged as an error). Trouble
 * with Firestore or Storage answers 503; the backup is then recorded as failed, and a retry takes a
 * new one.
 */
import { getConfig } from '../../shared/config';
import { httpFunction } from '../../shared/http';
import { parseJsonObject } from '../../shared/json';
import { startManagedExport } from '../../shared/backup/managed-export';
import { backupDay, runBackup } from '../../shared/backup/portable';
import { collections, db } from '../../shared/firestore';
import { schemas, validateBody } from '../../shared/schemas';

getConfig();

httpFunction('backup', { methods: ['POST'] }, async ({ rawBody, log }) => {
  const body = validateBody<{ incremental?: boolean }>(schemas.backupRequest, rawBody.length ? parseJsonObject(rawBody) : {}, 'backup request');
  const backup = await runBackup({ incremental: body.incremental, log });
  const managedExport = backup.kind === 'full' ? await startManagedExport(backup.id, backupDay(backup.id)) : undefined;
  if (managedExport) {
    if (managedExport.status === 'failed') log.error('the managed Firestore export did not start', { backupId: backup.id, error: managedExport.error });
    await db().collection(collections.backups).doc(backup.id).update({ managedExport });
  }
  const groups = Object.fromEntries(Object.entries(backup.groups).map(([g, m]) => [g, { documents: m.documents, stored: m.stored }]));
  return {
    status: 200,
    body: {
      id: backup.id,
      kind: backup.kind,
      manifest: backup.manifestName,
      ...(backup.since ? { since: backup.since, previous: backup.previous?.id } : {}),
      documents: Object.values(groups).reduce((n, g) => n + g.documents, 0),
      stored: Object.values(groups).reduce((n, g) => n + g.stored, 0),
      groups,
      ...(managedExport ? { managedExport } : {}),
    },
  };
});
