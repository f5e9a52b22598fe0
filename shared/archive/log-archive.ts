/**
 * The log archive (DESIGN.md flow 4). Each run:
 *
 * 1. drains the archive subscriptions (one per topic, shared/infra.ts) into gzip NDJSON objects,
 *    one per source and publish hour, under `logs/{source}/{yyyy-mm-dd}/{hh}/`;
 * 2. ages out command history older than ARCHIVE_HISTORY_DAYS the same way (source
 *    `command-history`, by creation hour), then deletes those documents.
 *
 * Nothing is acknowledged or deleted before it is safe: every object's upload is verified
 * (shared/storage.ts: MD5, CRC32C and size), then a manifest listing the batch's objects is stored
 * (`logs/_manifests/{yyyy-mm-dd}/…`), and only then are the messages acknowledged or the documents
 * deleted. A failure releases the batch's messages at once, so the next run archives them.
 * A redelivered batch maps to the same object names (derived from the record ids), so archiving it
 * again rewrites the same objects; readers that meet a record twice across objects dedupe by its id.
 */
import { randomUUID } from 'node:crypto';
import type { QueryDocumentSnapshot } from '@google-cloud/firestore';
import { getConfig } from '../config';
import { db } from '../firestore';
import { archiveSubscriptions } from '../infra';
import type { Logger } from '../log';
import { putObject } from '../storage';
import { archiveObjectName, compactTime, encodeNdjsonGzip, manifestObjectName, NDJSON_GZIP, utcHour } from './ndjson';
import { acknowledge, pullMessages, release, type PulledMessage } from './pull';

/** The source name under which aged-out command history is archived. */
export const HISTORY_SOURCE = 'command-history';
/** Records per archive object at most (a batch of one source). */
export const RECORDS_PER_BATCH = 5000;
/** Command history documents read, archived and deleted at a time. */
const HISTORY_BATCH = 500;

export const archiveSources = (): string[] => [...archiveSubscriptions.map((s) => s.topic), HISTORY_SOURCE];

export interface ArchivedObject {
  name: string;
  source: string;
  records: number;
  bytes: number;
  md5?: string;
  /** The first and last record time (publish time, or creation time for history). */
  from: string;
  to: string;
}

export interface SourceReport {
  source: string;
  records: number;
  objects: ArchivedObject[];
  /** False when the run's time ran out before the source was empty. */
  drained: boolean;
}

export interface ArchiveReport {
  runId: string;
  startedAt: string;
  finishedAt: string;
  sources: SourceReport[];
  manifests: string[];
}

export interface ArchiveOptions {
  /** Only these sources (default: every one). */
  sources?: string[];
  /** Stop starting new batches after this long. */
  budgetMs: number;
  log: Logger;
}

interface Record_ {
  id: string;
  at: Date;
  value: Record<string, unknown>;
}

/**
 * Writes the records as objects (one per hour), then a manifest of them. putObject verifies each
 * upload (the service checks the MD5 sent with it, the library the CRC32C it answers, and the size).
 */
async function store(source: string, records: Record_[], runId: string, manifests: string[]): Promise<ArchivedObject[]> {
  const byHour = new Map<string, Record_[]>();
  for (const r of records) {
    const { day, hour } = utcHour(r.at);
    const key = `${day}/${hour}`;
    const group = byHour.get(key);
    if (group) group.push(r);
    else byHour.set(key, [r]);
  }
  const objects: ArchivedObject[] = [];
  for (const group of byHour.values()) {
    group.sort((a, b) => a.at.getTime() - b.at.getTime() || a.id.localeCompare(b.id));
    const ids = group.map((r) => r.id);
    const name = archiveObjectName(source, group[0].at, ids);
    const stored = await putObject(name, encodeNdjsonGzip(group.map((r) => r.value)), {
      contentType: NDJSON_GZIP.contentType,
      metadata: { source, records: String(group.length), format: 'ndjson' },
    });
    objects.push({ name, source, records: group.length, bytes: stored.size, ...(stored.md5 ? { md5: stored.md5 } : {}), from: group[0].at.toISOString(), to: group.at(-1)!.at.toISOString() });
  }
  const earliest = new Date(Math.min(...records.map((r) => r.at.getTime())));
  const manifest = manifestObjectName(source, earliest, objects.map((o) => o.name));
  await putObject(manifest, JSON.stringify({ runId, source, writtenAt: new Date().toISOString(), objects }, null, 2), { contentType: 'application/json' });
  manifests.push(manifest);
  return objects;
}

/** A message as an archive line: its data parsed when it is JSON, else kept as base64. */
function messageRecord(source: string, m: PulledMessage): Record_ {
  let data: unknown;
  try {
    data = JSON.parse(m.data.toString('utf8'));
  } catch {
    data = undefined;
  }
  const value = {
    id: m.messageId,
    source,
    publishTime: m.publishTime.toISOString(),
    attributes: m.attributes,
    ...(data === undefined ? { dataBase64: m.data.toString('base64') } : { data }),
  };
  return { id: m.messageId, at: m.publishTime, value };
}

async function drainSubscription(source: string, subscription: string, runId: string, deadline: number, manifests: string[]): Promise<SourceReport> {
  const report: SourceReport = { source, records: 0, objects: [], drained: false };
  while (Date.now() < deadline) {
    const batch = new Map<string, Record_>();
    const ackIds: string[] = [];
    let empty = false;
    while (batch.size < RECORDS_PER_BATCH && Date.now() < deadline) {
      const messages = await pullMessages(subscription, Math.min(1000, RECORDS_PER_BATCH - batch.size));
      if (!messages.length) {
        empty = true;
        break;
      }
      for (const m of messages) {
        ackIds.push(m.ackId);
        if (!batch.has(m.messageId)) batch.set(m.messageId, messageRecord(source, m));
      }
    }
    if (batch.size) {
      try {
        report.objects.push(...(await store(source, [...batch.values()], runId, manifests)));
      } catch (err) {
        await release(subscription, ackIds);
        throw err;
      }
      await acknowledge(subscription, ackIds);
      report.records += batch.size;
    }
    if (empty) {
      report.drained = true;
      break;
    }
  }
  return report;
}

/** Firestore values as JSON: timestamps as ISO strings, bytes as base64, the rest as it is. */
function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof (v as { toDate?: unknown }).toDate === 'function') return (v as { toDate(): Date }).toDate().toISOString();
  if (Array.isArray(v)) return v.map(plain);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
}

/** A stored history document as an archive line: its path as the id, the document as `data`. */
function historyRecord(doc: QueryDocumentSnapshot): Record_ {
  const data = doc.data();
  const value = { id: doc.ref.path, source: HISTORY_SOURCE, updateTime: doc.updateTime.toDate().toISOString(), data: plain(data) };
  const created = Date.parse(String(data.createdAt ?? ''));
  return { id: doc.ref.path, at: new Date(Number.isNaN(created) ? doc.createTime.toMillis() : created), value };
}

async function ageOutHistory(runId: string, cutoff: Date, deadline: number, manifests: string[]): Promise<SourceReport> {
  const report: SourceReport = { source: HISTORY_SOURCE, records: 0, objects: [], drained: false };
  while (Date.now() < deadline) {
    // Ordered by createdAt, then id: the collection-group composite index of firestore.indexes.json
    // (gcloud cannot create the collection-group single-field index createdAt alone would need).
    const snap = await db()
      .collectionGroup('commands')
      .where('createdAt', '<', cutoff.toISOString())
      .orderBy('createdAt')
      .orderBy('id')
      .limit(HISTORY_BATCH)
      .get();
    const docs = snap.docs;
    if (!docs.length) {
      report.drained = true;
      break;
    }
    report.objects.push(...(await store(HISTORY_SOURCE, docs.map(historyRecord), runId, manifests)));
    // Deleted only as archived: a document changed since it was read stays, for the next run.
    const writer = db().bulkWriter();
    writer.onWriteError(() => false);
    let deleted = 0;
    const deletes = docs.map((d) => writer.delete(d.ref, { lastUpdateTime: d.updateTime }).then(() => deleted++, () => undefined));
    await writer.close(); // sends them (BulkWriter holds writes until a batch fills or it is flushed)
    await Promise.all(deletes);
    report.records += deleted;
    if (deleted === 0) break; // every one changed meanwhile: leave them to the next run
  }
  return report;
}

export async function runLogArchive(options: ArchiveOptions): Promise<ArchiveReport> {
  const startedAt = new Date();
  const runId = `${compactTime(startedAt)}-${randomUUID().slice(0, 8)}`;
  const deadline = Date.now() + options.budgetMs;
  const wanted = new Set(options.sources ?? archiveSources());
  const manifests: string[] = [];
  const sources: SourceReport[] = [];
  for (const sub of archiveSubscriptions) {
    if (!wanted.has(sub.topic)) continue;
    const r = await drainSubscription(sub.topic, sub.name, runId, deadline, manifests);
    sources.push(r);
    if (r.records) options.log.info(`archived ${r.records} message(s) of ${sub.topic}`, { objects: r.objects.length, drained: r.drained });
  }
  if (wanted.has(HISTORY_SOURCE)) {
    const cutoff = new Date(startedAt.getTime() - getConfig().archiveHistoryDays * 24 * 3600_000);
    const r = await ageOutHistory(runId, cutoff, deadline, manifests);
    sources.push(r);
    if (r.records) options.log.info(`aged out ${r.records} command history document(s)`, { objects: r.objects.length, cutoff: cutoff.toISOString() });
  }
  return { runId, startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), sources, manifests };
}
