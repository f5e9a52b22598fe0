/**
 * `npm run restore -- list`                          the complete backups in Cloud Storage, newest first
 * `npm run restore -- <manifest | backupId | latest> [--dry-run] [--groups a,b]`
 *                                                     restore a portable backup (with its chain)
 * `npm run restore -- managed <backupId>`            print the `gcloud firestore import` for its managed export
 *
 * Restores into the Firestore this process points at: locally prefix with the variables `npm start`
 * prints (FIRESTORE_EMULATOR_HOST, STORAGE_ENDPOINT, GOOGLE_CLOUD_PROJECT); against a project, run
 * with credentials that may read the bucket and write Firestore. See shared/backup/restore.ts.
 *
 * `npm run restore` starts Node with --max-semi-space-size=2 --optimize-for-size: a restore streams
 * (its live memory is a few tens of MiB), and with V8's default young generation and heap growth its
 * garbage alone raised the peak resident memory to 300 MiB at 10,000 documents and 410 MiB at
 * 100,000; with them 133 and 151 MiB, in the same time (npm run drill:restore).
 */
import { parseArgs } from 'node:util';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { 'dry-run': { type: 'boolean', default: false }, groups: { type: 'string' } },
  });
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const { resolveManifest, restoreBackup } = await import('../shared/backup/restore');
  const { backupDay, listStoredBackups, readManifest } = await import('../shared/backup/portable');
  const [what, arg] = positionals;
  const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
  if (!what) {
    process.stderr.write('usage: npm run restore -- list | <manifest | backupId | latest> [--dry-run] [--groups a,b] | managed <backupId>\n');
    process.exit(2);
  }
  if (what === 'list') {
    // From Storage: after losing the database, the backups' Firestore records are gone too.
    const backups = (await listStoredBackups()).slice(0, 50);
    out(
      await Promise.all(
        backups.map(async (b) => {
          const m = await readManifest(b.manifest);
          const count = (k: 'documents' | 'stored') => Object.values(m.groups).reduce((n, g) => n + g[k], 0);
          return { id: m.id, kind: m.kind, startedAt: m.startedAt, documents: count('documents'), stored: count('stored'), manifest: b.manifest, ...(m.previous ? { previous: m.previous.id } : {}) };
        }),
      ),
    );
  } else if (what === 'managed') {
    // The export's place follows from the backup id (it starts with its UTC start time).
    const { managedExportRequest } = await import('../shared/backup/managed-export');
    const { getConfig } = await import('../shared/config');
    if (!arg || !/^\d{8}T/.test(arg)) throw new Error('managed needs a backup id (npm run restore -- list)');
    const { projectId } = getConfig();
    process.stdout.write(`gcloud firestore import ${managedExportRequest(projectId, arg, backupDay(arg)).outputUriPrefix} --project=${projectId}\n`);
  } else {
    const groups = values.groups?.split(',').map((g) => g.trim()).filter(Boolean);
    out(await restoreBackup(await resolveManifest(what), { dryRun: values['dry-run'], groups }));
  }
  process.exit(0);
}

main().catch((err: Error) => {
  process.stderr.write(`restore failed: ${err.message}\n`);
  process.exit(1);
});
