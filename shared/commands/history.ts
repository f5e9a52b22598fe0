/**
 * Command history: `command_history/{userId}/commands/{commandId}` (seed path), one document per
 * command with its input, status, result or error and timing. A key sees its own tenant's commands.
 *
 * A command's output is whatever Virtuoso answered (arrays of arrays, keys such as `__x__`), which
 * Firestore cannot always store as fields; it is kept as JSON text (`outputJson`), so recording a
 * result never fails after Virtuoso made the change.
 */
import { randomUUID } from 'node:crypto';
import type { DocumentReference } from '@google-cloud/firestore';
import type { Principal } from '../auth';
import { badRequest, notFound, type AppError } from '../errors';
import { collections, db, firestoreCall, type AddWrite } from '../firestore';

export type CommandStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface CommandRecord {
  id: string;
  tenantId: string;
  userId: string;
  command: string;
  input: unknown;
  status: CommandStatus;
  output?: unknown;
  /** What the command accepted without effect (flags that change nothing here, an ignored --config). */
  notes?: string[];
  error?: { code: string; message: string; status: number; details?: unknown };
  idempotencyKey?: string;
  /** When it was queued for commandWorker (absent: it ran in its request). */
  queuedAt?: string;
  createdAt: string;
  updatedAt: string;
  durationMs?: number;
}

const commandsOf = (userId: string) => db().collection(collections.commandHistory).doc(userId).collection('commands');
const ref = (userId: string, id: string) => commandsOf(userId).doc(id) as DocumentReference;

/** How a failure is kept in a command record (and in a batch's results). */
export function recordedError(e: AppError): NonNullable<CommandRecord['error']> {
  return { code: e.code, message: e.message, status: e.status, ...(e.details === undefined ? {} : { details: e.details }) };
}

export function newCommandRecord(principal: Principal, command: string, input: unknown, status: CommandStatus, idempotencyKey?: string): CommandRecord {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    tenantId: principal.tenantId,
    userId: principal.userId,
    command,
    input,
    status,
    ...(idempotencyKey ? { idempotencyKey } : {}),
    createdAt: now,
    updatedAt: now,
  };
}

/** The fields that store an output (for a whole record, or a partial update). */
export function storedOutput(output: unknown): { outputJson: string | null } {
  return { outputJson: output === undefined ? null : JSON.stringify(output) };
}

/** A stored command document as a record (its output parsed back). */
export function fromStored<T extends CommandRecord>(data: unknown): T {
  const { outputJson, ...rest } = data as T & { outputJson?: string | null };
  return (typeof outputJson === 'string' ? { ...rest, output: JSON.parse(outputJson) as unknown } : rest) as T;
}

/** Writes the whole record; with `alongside`, in one commit with the caller's other writes. */
export async function saveCommand(record: CommandRecord, alongside?: AddWrite): Promise<void> {
  const { output, ...rest } = record;
  const batch = db().batch();
  batch.set(ref(record.userId, record.id), { ...(JSON.parse(JSON.stringify(rest)) as object), ...storedOutput(output) });
  alongside?.(batch);
  await firestoreCall(batch.commit());
}

export async function deleteCommand(record: CommandRecord): Promise<void> {
  await firestoreCall(ref(record.userId, record.id).delete());
}

/** Command ids are UUIDs (`newCommandRecord`): anything else names no command, and never reaches Firestore. */
const COMMAND_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isCommandId = (id: string): boolean => COMMAND_ID.test(id);

/** A command by id, if the caller's tenant owns it (404 otherwise, whoever owns it). */
export async function getCommand(principal: Principal, id: string): Promise<CommandRecord> {
  if (!isCommandId(id)) throw notFound(`No command ${id.slice(0, 64)}`);
  const snap = await firestoreCall(db().collectionGroup('commands').where('id', '==', id).where('tenantId', '==', principal.tenantId).limit(1).get());
  if (snap.empty) throw notFound(`No command ${id}`);
  return fromStored(snap.docs[0].data());
}

/** A page token: the last item's `createdAt|id`, base64url. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
function pageAfter(pageToken: string): [string, string] {
  const [createdAt, id, extra] = /^[A-Za-z0-9_-]{1,200}$/.test(pageToken) ? Buffer.from(pageToken, 'base64url').toString('utf8').split('|') : [];
  if (extra !== undefined || !ISO_TIME.test(createdAt ?? '') || !isCommandId(id ?? '')) throw badRequest('pageToken is not one this list gave out');
  return [createdAt, id];
}

/** The caller's history, newest first; `pageToken` is the last item's createdAt|id. */
export async function listCommands(principal: Principal, limit: number, pageToken?: string): Promise<{ items: CommandRecord[]; nextPageToken?: string }> {
  let q = commandsOf(principal.userId).orderBy('createdAt', 'desc').orderBy('id', 'desc');
  if (pageToken !== undefined) q = q.startAfter(...pageAfter(pageToken));
  const snap = await firestoreCall(q.limit(limit + 1).get());
  const items = snap.docs.slice(0, limit).map((d) => fromStored<CommandRecord>(d.data()));
  const last = items.at(-1);
  return {
    items,
    ...(snap.docs.length > limit && last ? { nextPageToken: Buffer.from(`${last.createdAt}|${last.id}`).toString('base64url') } : {}),
  };
}
