/**
 * Portable Firestore backups (DESIGN.md flow 5): typed NDJSON (shared/backup/typed-json.ts) in
 * Cloud Storage, which works against the emulator as against Firestore, and can be incremental.
 *
 * A backup is a folder `backups/firestore/{yyyy-mm-dd}/{backupId}/` holding, per collection group
 * of `backupCollectionGroups` (shared/infra.ts):
 *   `{group}-{n}.ndjson.gz`   documents, one line each: {path, createTime, updateTime, data}
 *                             (a full backup: every document; an incremental one: those updated
 *                             since the previous backup started);
 *   `{group}-paths.ndjson.gz` every document path that existed, so a restore knows what was deleted;
 * and `manifest.json` (written last: a backup without one is incomplete), listing every object with
 * its records, bytes and MD5. `backups/{backupId}` in Firestore records each backup and its status.
 *
 * Not a point-in-time snapshot: a document written while the backup runs may or may not be in it;
 * the next incremental backup (whose `since` is this one's start) has it.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import type { Timestamp } from '@google-cloud/firestore';
import { compactTime, encodeNdjsonGzip, gzipNdjsonLines } from '../archive/ndjson';
import { dependencyError, notFound, unavailable } from '../errors';
import { collections, db } from '../firestore';
import { backupCollectionGroups, objectPrefixes } from '../infra';
import type { Logger } from '../log';
import { getObject, listObjects, putObject, type StoredObject } from '../storage';
import { encodeValue, type Json } from './typed-json';

/**
 * An object holds at most this many documents, or a few more than this many bytes of NDJSON
 * (before compression), whichever comes first: what a backup holds at once. With 5,000 documents
 * an object and no byte bound, the backup function's peak memory grew with the database until its
 * groups filled their objects (160 MiB at 10,000 documents, 228 MiB at 100,000: README, "Recovery").
 */
export const DOCUMENTS_PER_OBJECT = 1000;
export const OBJECT_BYTES = 4 * 1024 * 1024;

export type BackupKind = 'full' | 'incremental';

export interface BackupObject {
  name: string;
  records: number;
  bytes: number;
  md5?: string;
}

export interface GroupManifest {
  /** Documents that existed. */
  documents: number;
  /** Documents in this backup's objects (all of them in a full backup). */
  stored: number;
  objects: BackupObject[];
  paths: BackupObject;
}

export interface BackupManifest {
  id: string;
  kind: BackupKind;
  /** Incremental: the backup it builds on, and the time from which it holds changes. */
  previous?: { id: string; manifest: string };
  since?: string;
  startedAt: string;
  finishedAt: string;
  groups: Record<string, GroupManifest>;
}

export interface BackupRecord {
  id: string;
  kind: BackupKind;
  status: 'running' | 'completed' | 'failed';
  startedAt: string;
  finishedAt?: string;
  manifest: string;
  previousId?: string;
  since?: string;
  documents?: number;
  stored?: number;
  error?: string;
}

/** One line of a documents object. */
export interface BackupLine {
  path: string;
  createTime: string;
  updateTime: string;
  data: Json;
}

const records = () => db().collection(collections.backups);

const iso = (t: Timestamp) => t.toDate().toISOString();

function stored(o: StoredObject, count: number): BackupObject {
  return { name: o.name, records: count, bytes: o.size, ...(o.md5 ? { md5: o.md5 } : {}) };
}

/** The UTC day of a backup, from its id (which starts with its start time, 20261126T…). */
export const backupDay = (id: string): string => `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}`;

/** The newest completed backup, if any. */
export async function latestCompleted(): Promise<BackupRecord | undefined> {
  try {
    const snap = await records().where('status', '==', 'completed').orderBy('startedAt', 'desc').limit(1).get();
    return snap.empty ? undefined : (snap.docs[0].data() as BackupRecord);
  } catch (err) {
    throw dependencyError('Firestore', err);
  }
}

export interface BackupOptions {
  /** Only the documents changed since the newest completed backup (a full one when there is none). */
  incremental?: boolean;
  log: Logger;
}

async function backupGroup(group: string, folder: string, since: number | undefined): Promise<GroupManifest> {
  const paths: string[] = [];
  const objects: BackupObject[] = [];
  let lines: string[] = [];
  let bytes = 0;
  const flush = async () => {
    if (!lines.length) return;
    const name = `${folder}${group}-${String(objects.length + 1).padStart(5, '0')}.ndjson.gz`;
    objects.push(stored(await putObject(name, gzipNdjsonLines(lines), { contentType: 'application/gzip', metadata: { group, format: 'ndjson' } }), lines.length));
    lines = [];
    bytes = 0;
  };
  let storedCount = 0;
  for await (const doc of db().collectionGroup(group).stream() as AsyncIterable<import('@google-cloud/firestore').QueryDocumentSnapshot>) {
    paths.push(doc.ref.path);
    if (since !== undefined && doc.updateTime.toMillis() <= since) continue;
    const line: BackupLine = { path: doc.ref.path, createTime: iso(doc.createTime), updateTime: iso(doc.updateTime), data: encodeValue(doc.data()) };
    const text = JSON.stringify(line);
    lines.push(text);
    bytes += text.length;
    storedCount++;
    if (lines.length >= DOCUMENTS_PER_OBJECT || bytes >= OBJECT_BYTES) await flush();
  }
  await flush();
  const index = await putObject(`${folder}${group}-paths.ndjson.gz`, encodeNdjsonGzip(paths), { contentType: 'application/gzip', metadata: { group, format: 'ndjson' } });
  return { documents: paths.length, stored: storedCount, objects, paths: stored(index, paths.length) };
}

/** Takes a backup; its manifest is written last, then its record says `completed`. */
export async function runBackup(options: BackupOptions): Promise<BackupManifest & { manifestName: string }> {
  const started = new Date();
  const id = `${compactTime(started)}-${randomUUID().slice(0, 8)}`;
  const folder = `${objectPrefixes.firestoreBackups(backupDay(id))}${id}/`;
  const manifestName = `${folder}manifest.json`;
  const previous = options.incremental ? await latestCompleted() : undefined;
  const kind: BackupKind = previous ? 'incremental' : 'full';
  const since = previous ? Date.parse(previous.startedAt) : undefined;
  const record: BackupRecord = {
    id, kind, status: 'running', startedAt: started.toISOString(), manifest: manifestName,
    ...(previous ? { previousId: previous.id, since: previous.startedAt } : {}),
  };
  const ref = records().doc(id);
  await ref.create(record).catch((err) => {
    throw dependencyError('Firestore', err);
  });
  try {
    const groups: Record<string, GroupManifest> = {};
    for (const group of backupCollectionGroups) groups[group] = await backupGroup(group, folder, since);
    const manifest: BackupManifest = {
      id, kind, ...(previous ? { previous: { id: previous.id, manifest: previous.manifest }, since: previous.startedAt } : {}),
      startedAt: record.startedAt, finishedAt: new Date().toISOString(), groups,
    };
    await putObject(manifestName, JSON.stringify(manifest, null, 2), { contentType: 'application/json' });
    const documents = Object.values(groups).reduce((n, g) => n + g.documents, 0);
    const storedDocs = Object.values(groups).reduce((n, g) => n + g.stored, 0);
    await ref.update({ status: 'completed', finishedAt: manifest.finishedAt, documents, stored: storedDocs });
    // backupStatus is what the missing-backup alert counts (shared/infra.ts logMetrics.backupsCompleted).
    options.log.info(`${kind} backup ${id}: ${storedDocs} of ${documents} document(s) stored`, { backupStatus: 'completed', kind, backupId: id, manifest: manifestName });
    return { ...manifest, manifestName };
  } catch (err) {
    await ref.update({ status: 'failed', finishedAt: new Date().toISOString(), error: (err as Error).message.slice(0, 500) }).catch(() => undefined);
    throw err;
  }
}

export interface StoredBackup {
  id: string;
  manifest: string;
}

/**
 * Every complete backup in Cloud Storage (those with a manifest), newest first. Storage, not the
 * `backups/{id}` records, is what a restore relies on: after losing the database, those are gone too.
 */
export async function listStoredBackups(): Promise<StoredBackup[]> {
  const manifests = (await listObjects(objectPrefixes.firestoreBackups())).map((o) => o.name).filter((n) => n.endsWith('/manifest.json'));
  return manifests
    .map((manifest) => ({ id: manifest.split('/').at(-2)!, manifest }))
    .sort((a, b) => b.id.localeCompare(a.id)); // ids start with their start time
}

/** A backup's manifest, by its object name. */
export async function readManifest(name: string): Promise<BackupManifest> {
  const m = JSON.parse((await getObject(name)).toString('utf8')) as BackupManifest;
  if (!m.id || !m.groups) throw notFound(`${name} is not a backup manifest`);
  return m;
}

/**
 * A backup object's records one at a time, decompressed as they are read (only the compressed bytes
 * are held whole), after its record count was checked against the manifest: a truncated or replaced
 * object is refused before any of its records is used.
 */
export async function* objectRecords<T>(o: BackupObject): AsyncGenerator<T> {
  for await (const line of objectLines(o)) yield JSON.parse(line) as T;
}

/** The same as lines of JSON text, for a reader that needs their size. */
export async function* objectLines(o: BackupObject): AsyncGenerator<string> {
  const data = await getObject(o.name);
  let count = 0;
  for await (const line of gunzipLines(data)) count += line ? 1 : 0;
  if (count !== o.records) throw unavailable(`${o.name} holds ${count} records, its manifest says ${o.records}`);
  yield* gunzipLines(data);
}

/** The non-empty lines of gzip-compressed text, decompressed chunk by chunk. */
async function* gunzipLines(data: Buffer): AsyncGenerator<string> {
  const text = new StringDecoder('utf8'); // a character split between two chunks stays whole
  let rest = '';
  for await (const chunk of Readable.from([data]).pipe(createGunzip()) as AsyncIterable<Buffer>) {
    const lines = (rest + text.write(chunk)).split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line) yield line;
  }
  rest += text.end();
  if (rest) yield rest;
}
