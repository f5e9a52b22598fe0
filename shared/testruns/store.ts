/**
 * `test_runs/{runId}`: a run's record — its status, progress, every Virtuoso id it created (`ids`,
 * keyed by plan operation; `steps` per checkpoint), its jobs and its report. Status changes are
 * compare-and-set writes from the states they are allowed from, so a duplicate or late delivery
 * changes nothing:
 *
 *   queued → building → executing → passed | failed        (execute: true, the default)
 *                    ↘ built                                 (execute: false)
 *   any unfinished state → error (with a reason) | cancelled
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { DocumentReference } from '@google-cloud/firestore';
import type { Principal } from '../auth';
import { badRequest, notFound, unavailable } from '../errors';
import { collections, db, FAILED_PRECONDITION, fieldValue, firestoreCall, firestoreCode, NOT_FOUND } from '../firestore';
import { parseDefinition, type TestDefinition } from './definition';
import type { CallbackRecord } from './callback';
import type { Plan } from './plan';
import type { RunReport } from './report';

export type RunStatus = 'queued' | 'building' | 'executing' | 'built' | 'passed' | 'failed' | 'error' | 'cancelled';
export const FINAL: ReadonlySet<RunStatus> = new Set(['built', 'passed', 'failed', 'error', 'cancelled']);
export const RUN_STATUSES: readonly RunStatus[] = ['queued', 'building', 'executing', 'built', 'passed', 'failed', 'error', 'cancelled'];

export interface JobRecord {
  goal: number;
  status: string;
  outcome?: string;
}

export interface TestRunRecord {
  id: string;
  tenantId: string;
  userId: string;
  name: string;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** The run ends `error` if it is not finished by then. */
  deadlineAt: string;
  variables: Record<string, string>;
  execute: boolean;
  totals: Plan['totals'] & { criticalPathCalls: number };
  progress: { operationsDone: number; stepsCreated: number };
  /** Virtuoso ids by plan operation key (see plan.ts), steps excepted. */
  ids: Record<string, string>;
  /**
   * Step ids by checkpoint key, comma-separated in step order (empty for a step not created yet): a
   * few dozen string fields rather than thousands of indexed values, so progress writes stay cheap.
   */
  steps?: Record<string, string>;
  /** Steps Virtuoso refused while building with continueOnError, by operation key. */
  refused?: Record<string, string>;
  jobs?: Record<string, JobRecord>;
  /** For the FINISHED-webhook lookup (array-contains). */
  jobIds?: string[];
  /** When an execute request was sent but its job id not yet recorded, by goal. */
  executeSentAt?: Record<string, string>;
  error?: { code: string; message: string };
  report?: { outcome: RunReport['outcome']; counts: RunReport['counts']; objects: { json: string; junit: string } };
  /** Events still to publish (a crash between the transition and the publish is retried). */
  pendingEvents?: string[];
  attempts?: number;
  leaseUntil?: string | null;
  idempotencyKey?: string;
  /** The completion callback (callback.ts), when the run was submitted with a callbackUrl. */
  callback?: CallbackRecord;
}

const runs = () => db().collection(collections.testRuns);
export const runRef = (id: string) => runs().doc(id) as DocumentReference;

const RUN_ID = /^run_[a-f0-9]{20}$/;

export function newRunId(): string {
  return `run_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
}

/**
 * The definition lives beside the run (`test_runs/{id}/definition/source`): written once, it stays
 * out of the run's document, which the worker rewrites as it records ids (smaller writes). It holds
 * the definition twice: its source (`json`, the JSON of definition.ts's `document`) and the
 * definition as parsed (`parsed`, gzipped JSON), so a worker takes the parse the API made instead of
 * making it again: for 1,000 steps that was 10-20 ms of CPU and 5 MiB of garbage on every build,
 * against 3 ms to unpack (issue 14). A run stored with another `parsedFormat` (an older version's)
 * is parsed from its source.
 */
const sourceRef = (id: string) => runRef(id).collection('definition').doc('source') as DocumentReference;

/** The shape of `parsed`: change it when TestDefinition's shape changes (definition.ts). */
export const PARSED_FORMAT = 1;

export interface SourceDocument {
  json: string;
  parsed?: Uint8Array;
  parsedFormat?: number;
}

/**
 * Firestore takes at most 1 MiB a document: the parsed form goes in only while source and parsed
 * together stay under this (a large definition of varied text packs less well than a repetitive
 * one); without it the worker parses the source, as it did before there was a parsed form.
 */
export const SOURCE_DOCUMENT_BUDGET = 900 * 1024;

/** What `test_runs/{id}/definition/source` holds for `def`. */
export function sourceDocument(def: TestDefinition, budget = SOURCE_DOCUMENT_BUDGET): SourceDocument {
  const { document, ...parsed } = def;
  const json = JSON.stringify(document);
  // Level 1: 217 KiB of JSON for 1,000 steps packs into 6 KiB in under a millisecond (level 6: 3 KiB, twice the time).
  const packed = gzipSync(JSON.stringify(parsed), { level: 1 });
  return Buffer.byteLength(json) + packed.length <= budget ? { json, parsed: packed, parsedFormat: PARSED_FORMAT } : { json };
}

export async function createRun(record: TestRunRecord, def: TestDefinition): Promise<void> {
  const batch = db().batch();
  batch.create(runRef(record.id), record);
  batch.create(sourceRef(record.id), sourceDocument(def));
  await firestoreCall(batch.commit());
}

export async function deleteRun(id: string): Promise<void> {
  const batch = db().batch();
  batch.delete(sourceRef(id));
  batch.delete(runRef(id));
  await firestoreCall(batch.commit());
}

/** The run, if it exists at all (workers; no tenancy check). */
export async function loadRun(id: string): Promise<TestRunRecord | undefined> {
  return (await firestoreCall(runRef(id).get())).data() as TestRunRecord | undefined;
}

/**
 * Only what decides who holds a run (its status and attempt): the workers' ownership checks, which
 * need no ids (the document grows to a few dozen KiB with a thousand step ids).
 */
export async function loadRunOwner(id: string): Promise<Pick<TestRunRecord, 'status' | 'attempts'> | undefined> {
  const [snap] = await firestoreCall(db().getAll(runRef(id), { fieldMask: ['status', 'attempts'] }));
  return snap.data() as Pick<TestRunRecord, 'status' | 'attempts'> | undefined;
}

/**
 * Takes a published event off the run's list: one atomic write (an array removal), where a
 * compare-and-set would read the whole run first. A run deleted meanwhile has nothing to take off.
 */
export async function markPublished(id: string, type: string): Promise<void> {
  try {
    await firestoreCall(runRef(id).update({ pendingEvents: fieldValue().arrayRemove(type), updatedAt: new Date().toISOString() }));
  } catch (err) {
    if (firestoreCode(err) !== NOT_FOUND) throw err;
  }
}

/** The caller's tenant's run, else 404 (another tenant's run is not revealed). */
export async function getRun(principal: Principal, id: string): Promise<TestRunRecord> {
  const run = RUN_ID.test(id) ? await loadRun(id) : undefined;
  if (!run || run.tenantId !== principal.tenantId) throw notFound(`No test run '${id.slice(0, 64)}'`);
  return run;
}

/** The caller's runs, newest first, optionally of one status; the page token is the last id seen. */
export async function listRuns(principal: Principal, limit: number, status?: RunStatus, pageToken?: string): Promise<{ items: TestRunRecord[]; nextPageToken?: string }> {
  let q = runs().where('tenantId', '==', principal.tenantId).where('userId', '==', principal.userId);
  if (status) q = q.where('status', '==', status);
  q = q.orderBy('createdAt', 'desc').orderBy('id', 'desc');
  if (pageToken) {
    const after = RUN_ID.test(pageToken) ? await loadRun(pageToken) : undefined;
    if (!after || after.tenantId !== principal.tenantId || after.userId !== principal.userId) throw badRequest('pageToken is not one this list gave out');
    q = q.startAfter(after.createdAt, after.id);
  }
  const snap = await firestoreCall(q.limit(limit + 1).get());
  const items = snap.docs.map((d) => d.data() as TestRunRecord);
  const more = items.length > limit;
  return { items: items.slice(0, limit), ...(more ? { nextPageToken: items[limit - 1].id } : {}) };
}

/**
 * Compare-and-set on the run: reads it, applies `change` (the fields to update, or undefined to
 * leave it alone) and writes only if the run has not changed since it was read (Firestore's
 * `lastUpdateTime` precondition), else reads again. Optimistic rather than a transaction: the
 * webhook, the polls and the worker's progress writes hit one document at once, and lock-based
 * transactions there wait on each other (the emulator aborts them with "lock timeout").
 * Returns the run as it is after the change.
 */
export async function transition(
  id: string,
  change: (run: TestRunRecord) => Partial<TestRunRecord> | undefined,
): Promise<{ run: TestRunRecord | undefined; changed: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const snap = await firestoreCall(runRef(id).get());
    const run = snap.data() as TestRunRecord | undefined;
    if (!run || !snap.updateTime) return { run, changed: false };
    const update = change(run);
    if (!update) return { run, changed: false };
    const next = { ...update, updatedAt: new Date().toISOString() };
    try {
      await firestoreCall(runRef(id).update(next, { lastUpdateTime: snap.updateTime }));
      return { run: merged(run, next), changed: true };
    } catch (err) {
      if (firestoreCode(err) !== FAILED_PRECONDITION) throw err;
      if (attempt >= MAX_TRANSITION_ATTEMPTS) throw unavailable('The test run is changing too often to update; retry shortly', 1, err);
      // Another writer got in between: give it a moment (jittered) before reading again.
      await sleep(Math.min(TRANSITION_BACKOFF_MS * attempt, 250) * (0.5 + Math.random() / 2));
    }
  }
}

/** Enough for a burst of concurrent writers on one run (progress writes come at most every 250 ms). */
const MAX_TRANSITION_ATTEMPTS = 20;
/** The pause before the n-th retry of a contended transition: n × this, at most 250 ms, jittered. */
const TRANSITION_BACKOFF_MS = 10;

/** The run with an update applied, dotted field paths (`jobs.123`) included. */
function merged(run: TestRunRecord, update: Record<string, unknown>): TestRunRecord {
  const out = structuredClone(run) as unknown as Record<string, unknown>;
  for (const [path, value] of Object.entries(update)) {
    const parts = path.split('.');
    let at = out;
    for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
    at[parts.at(-1)!] = value;
  }
  return out as unknown as TestRunRecord;
}

/** Every recorded id by plan operation key, steps included (`g0j1c2s4`). */
export function recordedIds(run: Pick<TestRunRecord, 'ids' | 'steps'>): Record<string, string> {
  const ids = { ...run.ids };
  for (const [checkpointKey, stepIds] of Object.entries(run.steps ?? {})) {
    stepIds.split(',').forEach((id, s) => {
      if (id) ids[`${checkpointKey}s${s}`] = id;
    });
  }
  return ids;
}

/**
 * Parsed definitions kept by this instance, oldest first: a build reads its run's at once, the
 * completion and its callback again later. Bounded by steps, not runs: a parsed 1,000-step
 * definition holds about 650 KiB of heap, and twenty of them (the bound by count it had) were a
 * long-lived worker's largest retained memory. The newest is always kept, whatever its size.
 */
const parsed = new Map<string, TestDefinition>();
const PARSED_STEPS = 2_000;
let parsedSteps = 0;

/** The run's definition (validated when the run was accepted), read and parsed once per instance. */
export async function runDefinition(run: Pick<TestRunRecord, 'id' | 'variables'>): Promise<TestDefinition> {
  let def = parsed.get(run.id);
  if (!def) {
    const snap = await firestoreCall(sourceRef(run.id).get());
    const source = snap.data() as SourceDocument | undefined;
    if (!source?.json) throw notFound(`The definition of run '${run.id}' is missing`);
    const document = JSON.parse(source.json) as Record<string, unknown>;
    def =
      source.parsed && source.parsedFormat === PARSED_FORMAT
        ? { ...(JSON.parse(gunzipSync(source.parsed).toString('utf8')) as Omit<TestDefinition, 'document'>), document }
        : parseDefinition(document, { variables: run.variables });
    if (!parsed.has(run.id)) {
      for (const [id, old] of parsed) {
        if (parsedSteps + def.totalSteps <= PARSED_STEPS) break;
        parsed.delete(id);
        parsedSteps -= old.totalSteps;
      }
      parsed.set(run.id, def);
      parsedSteps += def.totalSteps;
    }
  }
  return def;
}

/** Unfinished runs whose deadline has passed (oldest first). */
export async function overdueRuns(limit: number): Promise<TestRunRecord[]> {
  const snap = await firestoreCall(
    runs().where('status', 'in', ['queued', 'building', 'executing']).where('deadlineAt', '<', new Date().toISOString()).orderBy('deadlineAt').limit(limit).get(),
  );
  return snap.docs.map((d) => d.data() as TestRunRecord);
}

/** The run a Virtuoso job belongs to. */
export async function runOfJob(jobId: string): Promise<TestRunRecord | undefined> {
  const snap = await firestoreCall(runs().where('jobIds', 'array-contains', jobId).limit(1).get());
  return snap.empty ? undefined : (snap.docs[0].data() as TestRunRecord);
}
