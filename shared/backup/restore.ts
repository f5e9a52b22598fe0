/**
 * Restores a portable backup (shared/backup/portable.ts) into the Firestore this process points at
 * (the emulator with FIRESTORE_EMULATOR_HOST). An incremental backup is restored with its chain: the
 * full backup it builds on and every incremental one up to it; each document comes back in its
 * newest version, and only if it still existed at the backup restored (its paths index).
 *
 * Documents are written with `set` at their paths, so restoring twice is harmless. Documents the
 * database holds that the backup does not are left alone. Create and update times are the
 * restore's own (Firestore assigns them).
 */
import { notFound, unavailable } from '../errors';
import { db } from '../firestore';
import { listStoredBackups, readManifest, readObject, type BackupLine, type BackupManifest, type BackupObject } from './portable';
import { decodeValue } from './typed-json';

export interface RestoreReport {
  manifest: string;
  chain: string[];
  /** Documents restored per collection group. */
  groups: Record<string, number>;
  documents: number;
  /** Paths the backup lists as existing whose data no backup of the chain holds (should be none). */
  missing: string[];
  dryRun: boolean;
}

/**
 * The manifest a restore starts from: `latest` (the newest complete backup in Storage), a backup id,
 * or a manifest's object name.
 */
export async function resolveManifest(ref: string): Promise<string> {
  if (ref.endsWith('.json')) return ref;
  const stored = await listStoredBackups();
  const found = ref === 'latest' ? stored[0] : stored.find((b) => b.id === ref);
  if (!found) throw notFound(ref === 'latest' ? 'No complete backup in Cloud Storage' : `No complete backup ${ref} in Cloud Storage`);
  return found.manifest;
}

/** The manifests from the full backup to `name`, oldest first. */
async function chainOf(name: string): Promise<{ name: string; manifest: BackupManifest }[]> {
  const chain = [{ name, manifest: await readManifest(name) }];
  while (chain[0].manifest.kind === 'incremental') {
    const prev = chain[0].manifest.previous;
    if (!prev) throw unavailable(`Backup ${chain[0].manifest.id} is incremental but names no previous backup`);
    chain.unshift({ name: prev.manifest, manifest: await readManifest(prev.manifest) });
  }
  return chain;
}

async function linesOf<T>(o: BackupObject): Promise<T[]> {
  const lines = await readObject<T>(o);
  if (lines.length !== o.records) throw unavailable(`${o.name} holds ${lines.length} records, its manifest says ${o.records}`);
  return lines;
}

export async function restoreBackup(manifestName: string, options: { dryRun?: boolean; groups?: string[] } = {}): Promise<RestoreReport> {
  const chain = await chainOf(manifestName);
  const last = chain.at(-1)!.manifest;
  const groups = Object.keys(last.groups).filter((g) => !options.groups || options.groups.includes(g));
  const report: RestoreReport = { manifest: manifestName, chain: chain.map((c) => c.name), groups: {}, documents: 0, missing: [], dryRun: Boolean(options.dryRun) };
  const writer = options.dryRun ? undefined : db().bulkWriter();
  const failures: string[] = [];
  writer?.onWriteError((e) => {
    if (e.failedAttempts < 5) return true;
    failures.push(`${e.documentRef.path}: ${e.message}`);
    return false;
  });
  for (const group of groups) {
    const live = new Set(await linesOf<string>(last.groups[group].paths));
    const newest = new Map<string, BackupLine>();
    for (const { manifest } of chain) {
      for (const o of manifest.groups[group]?.objects ?? []) {
        for (const line of await linesOf<BackupLine>(o)) if (live.has(line.path)) newest.set(line.path, line);
      }
    }
    for (const line of newest.values()) void writer?.set(db().doc(line.path), decodeValue(line.data, db()) as Record<string, unknown>).catch(() => undefined);
    report.groups[group] = newest.size;
    for (const path of live) if (!newest.has(path)) report.missing.push(path);
    report.documents += newest.size;
  }
  await writer?.close();
  if (failures.length) throw unavailable(`${failures.length} document(s) could not be restored; first: ${failures[0]}`);
  return report;
}
