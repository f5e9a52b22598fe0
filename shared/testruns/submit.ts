/**
 * Starting a test run from a parsed definition — shared by `POST /test-runs` and the commands that
 * start runs (`run-test`, `yaml run`): the run record (`queued`, its totals and deadline), the
 * definition stored beside it, the build task and the deadline task. A failure to queue removes what
 * was stored, so nothing stays behind that could block a retry. The dry-run view is here too.
 */
import { hash } from 'node:crypto';
import type { Principal } from '../auth';
import type { AppError } from '../errors';
import { ALREADY_EXISTS } from '../firestore';
import type { TestDefinition } from './definition';
import { buildPlan, type Plan } from './plan';
import { createRun, deleteRun, loadRun, newRunId, type TestRunRecord } from './store';
import { enqueueRunTask } from './worker';

export interface RunOptions {
  execute: boolean;
  variables: Record<string, string>;
  idempotencyKey?: string;
}

/** The record of a new run (not stored yet); `id` when the caller names it (a retried command). */
export function newRunRecord(principal: Principal, def: TestDefinition, plan: Plan, options: RunOptions, now = new Date(), id = newRunId()): TestRunRecord {
  return {
    id, tenantId: principal.tenantId, userId: principal.userId, name: def.name, status: 'queued',
    createdAt: now.toISOString(), updatedAt: now.toISOString(), deadlineAt: new Date(now.getTime() + def.options.timeoutSeconds * 1000).toISOString(),
    variables: options.variables, execute: options.execute,
    totals: { ...plan.totals, criticalPathCalls: plan.criticalPathCalls }, progress: { operationsDone: 0, stepsCreated: 0 }, ids: {},
    ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
  };
}

/** Stores the run with its definition (source and parsed) and queues its build and its deadline; undone if queueing fails. */
export async function startRun(run: TestRunRecord, def: TestDefinition): Promise<void> {
  await createRun(run, def);
  try {
    await Promise.all([
      enqueueRunTask({ runId: run.id, kind: 'build' }),
      enqueueRunTask({ runId: run.id, kind: 'deadline' }, def.options.timeoutSeconds + 1),
    ]);
  } catch (err) {
    await deleteRun(run.id).catch(() => undefined);
    throw err;
  }
}

/** A run id that a command's every attempt computes alike (`run_` and 20 hex digits, as newRunId). */
export const runIdFor = (tenantId: string, owner: string): string => `run_${hash('sha256', `${tenantId}\n${owner}`, 'hex').slice(0, 20)}`;

/**
 * A definition already parsed becomes a queued run. With `id` (a command's, so that a retried attempt
 * names the same run), a run that already exists — stored and queued by an attempt that then died —
 * is the answer: nothing is created twice.
 */
export async function queueRun(principal: Principal, def: TestDefinition, options: RunOptions & { id?: string }): Promise<TestRunRecord> {
  const run = newRunRecord(principal, def, buildPlan(def, { execute: options.execute }), options, new Date(), options.id);
  try {
    await startRun(run, def);
  } catch (err) {
    const code = ((err as AppError).cause as { code?: number } | undefined)?.code;
    if (!options.id || code !== ALREADY_EXISTS) throw err;
    const existing = await loadRun(options.id);
    if (!existing || existing.tenantId !== principal.tenantId) throw err;
    return existing;
  }
  return run;
}

/** What `?dryRun=true` answers: the plan of Virtuoso operations, and the definition it was made from when it was converted. */
export function dryRunBody(def: TestDefinition, plan: Plan) {
  return {
    dryRun: true, name: def.name, format: def.format, totals: plan.totals, criticalPathCalls: plan.criticalPathCalls,
    operations: plan.operations.map((op) => ({ key: op.key, at: op.at, operation: op.describe, after: op.deps })),
    // A definition written in another format shows what it was converted into, beside the plan.
    ...(def.format === 'native' ? {} : { definition: def.document, notes: def.notes }),
  };
}
