/**
 * Restores a portable backup (shared/backup/portable.ts) into the Firestore this process points at
 * (the emulator with FIRESTORE_EMULATOR_HOST). An incremental backup is restored with its chain: the
 * full backup it builds on and every incremental one up to it; each document comes back in its
 * newest version, and only if it still existed at the backup restored (its paths index).
 *
 * Documents are written with `set` at their paths, so restoring twice is harmless. Documents the
 * database holds that the backup does not are left alone. Create and update times are the
 * restore's own (Firestore assigns them).
 *
 * Memory: an object's compressed bytes, its records decompressed and parsed one at a time, and at
 * most WRITES_IN_FLIGHT writes waiting; what grows with the database is only the set of a group's
 * document paths still to restore (strings). The chain is read newest backup first, so each path is
 * written once, in its newest version, and taken out of that set.
 */
import type { BulkWriter } from '@google-cloud/firestore';
import { notFound, unavailable } from '../errors';
import { db } from '../firestore';
import { listStoredBackups, objectLines, objectRecords, readManifest, type BackupLine, type BackupManifest } from './portable';
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

export interface RestoreOptions {
  dryRun?: boolean;
  groups?: string[];
  /**
   * BulkWriter's ramp-up (500 writes/s, +50 % every 5 minutes: Firestore's 500/50/5 rule for new
   * key ranges). On by default; the emulator has no key ranges to protect, so `auto` turns it off there.
   */
  throttle?: boolean | 'auto';
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

function bulkWriter(throttle: RestoreOptions['throttle'], failures: string[]): BulkWriter {
  const on = throttle === 'auto' || throttle === undefined ? !process.env.FIRESTORE_EMULATOR_HOST : throttle;
  const writer = db().bulkWriter({ throttling: on });
  writer.onWriteError((e) => {
    if (e.failedAttempts < 5) return true;
    failures.push(`${e.documentRef.path}: ${e.message}`);
    return false;
  });
  return writer;
}

/**
 * Writes in flight at most: enough to keep BulkWriter's batches (20 writes) going in parallel, few
 * enough that memory does not grow with the database.
 */
const WRITES_IN_FLIGHT = 500;
/**
 * Bytes of documents (their backup lines) written since the last flush at most. BulkWriter batches
 * 20 writes whatever their size, and a commit has a size limit (10 MiB on Firestore; the emulator's
 * gRPC server takes 4 MiB): 20 large documents in one batch failed every attempt, and the restore
 * hung in retries. A flush at this many bytes keeps each batch under 2 MiB plus one document.
 */
const BYTES_IN_FLIGHT = 2 * 1024 * 1024;

/** Restores one collection group; returns the documents written (or that would be). */
async function restoreGroup(group: string, chain: readonly BackupManifest[], writer: BulkWriter | undefined, missing: string[]): Promise<number> {
  const last = chain.at(-1)!;
  // The paths still to restore: those that existed at the backup restored.
  const pending = new Set<string>();
  for await (const path of objectRecords<string>(last.groups[group].paths)) pending.add(path);
  let written = 0;
  let bytes = 0;
  for (const manifest of [...chain].reverse()) {
    for (const o of manifest.groups[group]?.objects ?? []) {
      if (!pending.size) break;
      for await (const text of objectLines(o)) {
        const line = JSON.parse(text) as BackupLine;
        if (!pending.delete(line.path)) continue; // deleted since, or a newer version was written
        written++;
        bytes += text.length;
        void writer?.set(db().doc(line.path), decodeValue(line.data, db()) as Record<string, unknown>).catch(() => undefined);
        if (written % WRITES_IN_FLIGHT === 0 || bytes >= BYTES_IN_FLIGHT) {
          await writer?.flush();
          bytes = 0;
        }
      }
    }
  }
  await writer?.flush();
  missing.push(...pending);
  return written;
}

export async function restoreBackup(manifestName: string, options: RestoreOptions = {}): Promise<RestoreReport> {
  const chain = await chainOf(manifestName);
  const manifests = chain.map((c) => c.manifest);
  const last = manifests.at(-1)!;
  const groups = Object.keys(last.groups).filter((g) => !options.groups || options.groups.includes(g));
  const report: RestoreReport = { manifest: manifestName, chain: chain.map((c) => c.name), groups: {}, documents: 0, missing: [], dryRun: Boolean(options.dryRun) };
  const failures: string[] = [];
  const writer = options.dryRun ? undefined : bulkWriter(options.throttle, failures);
  try {
    for (const group of groups) {
      report.groups[group] = await restoreGroup(group, manifests, writer, report.missing);
      report.documents += report.groups[group];
    }
  } finally {
    await writer?.close();
  }
  if (failures.length) throw unavailable(`${failures.length} document(s) could not be restored; first: ${failures[0]}`);
  return report;
}
