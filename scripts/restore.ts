/**
 * `npm run restore -- list`                          the backups, newest first (from `backups/{id}`)
 * `npm run restore -- <manifest | backupId | latest> [--dry-run] [--groups a,b]`
 *                                                     restore a portable backup (with its chain)
 * `npm run restore -- managed <backupId>`            print the `gcloud firestore import` for its managed export
 *
 * Restores into the Firestore this process points at: locally prefix with the variables `npm start`
 * prints (FIRESTORE_EMULATOR_HOST, STORAGE_ENDPOINT, GOOGLE_CLOUD_PROJECT); against a project, run
 * with credentials that may read the bucket and write Firestore. See shared/backup/restore.ts.
 */
import { parseArgs } from 'node:util';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { 'dry-run': { type: 'boolean', default: false }, groups: { type: 'string' } },
  });
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const { collections, db } = await import('../shared/firestore');
  const { restoreBackup } = await import('../shared/backup/restore');
  const { latestCompleted } = await import('../shared/backup/portable');
  type Record_ = import('../shared/backup/portable').BackupRecord & { managedExport?: { status: string; outputUriPrefix?: string } };
  const recordOf = async (id: string) => (await db().collection(collections.backups).doc(id).get()).data() as Record_ | undefined;
  const [what, arg] = positionals;
  const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
  if (!what) {
    process.stderr.write('usage: npm run restore -- list | <manifest | backupId | latest> [--dry-run] [--groups a,b] | managed <backupId>\n');
    process.exit(2);
  }
  if (what === 'list') {
    const snap = await db().collection(collections.backups).orderBy('startedAt', 'desc').limit(50).get();
    out(snap.docs.map((d) => d.data()));
  } else if (what === 'managed') {
    const record = arg ? await recordOf(arg) : undefined;
    const prefix = record?.managedExport?.outputUriPrefix;
    if (!prefix) throw new Error(`backup ${arg ?? '(none given)'} has no managed export`);
    process.stdout.write(`gcloud firestore import ${prefix} --project=${process.env.GOOGLE_CLOUD_PROJECT ?? '<project>'}\n`);
  } else {
    let manifest = what;
    if (what === 'latest') {
      const latest = await latestCompleted();
      if (!latest) throw new Error('no completed backup');
      manifest = latest.manifest;
    } else if (!what.endsWith('.json')) {
      const record = await recordOf(what);
      if (!record) throw new Error(`no backup ${what}`);
      if (record.status !== 'completed') throw new Error(`backup ${what} is ${record.status}, not completed`);
      manifest = record.manifest;
    }
    const groups = values.groups?.split(',').map((g) => g.trim()).filter(Boolean);
    out(await restoreBackup(manifest, { dryRun: values['dry-run'], groups }));
  }
  process.exit(0);
}

main().catch((err: Error) => {
  process.stderr.write(`restore failed: ${err.message}\n`);
  process.exit(1);
});
