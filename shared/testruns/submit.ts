/**
 * Starting a test run from a parsed definition — shared by `POST /test-runs` and the commands that
 * start runs (`run-test`, `yaml run`): the run record (`queued`, its totals and deadline), the
 * definition stored beside it, the build task and the deadline task. A failure to queue removes what
 * was stored, so nothing stays behind that could block a retry. The dry-run view is here too.
 */
import type { Principal } from '../auth';
import type { TestDefinition } from './definition';
import { buildPlan, type Plan } from './plan';
import { createRun, deleteRun, newRunId, type TestRunRecord } from './store';
import { enqueueRunTask } from './worker';

export interface RunOptions {
  execute: boolean;
  variables: Record<string, string>;
  idempotencyKey?: string;
}

/** The record of a new run (not stored yet). */
export function newRunRecord(principal: Principal, def: TestDefinition, plan: Plan, options: RunOptions, now = new Date()): TestRunRecord {
  return {
    id: newRunId(), tenantId: principal.tenantId, userId: principal.userId, name: def.name, status: 'queued',
    createdAt: now.toISOString(), updatedAt: now.toISOString(), deadlineAt: new Date(now.getTime() + def.options.timeoutSeconds * 1000).toISOString(),
    variables: options.variables, execute: options.execute,
    totals: { ...plan.totals, criticalPathCalls: plan.criticalPathCalls }, progress: { operationsDone: 0, stepsCreated: 0 }, ids: {},
    ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
  };
}

/** Stores the run with its (native) definition and queues its build and its deadline; undone if queueing fails. */
export async function startRun(run: TestRunRecord, def: TestDefinition): Promise<void> {
  try {
    await createRun(run, def.document);
    await Promise.all([
      enqueueRunTask({ runId: run.id, kind: 'build' }),
      enqueueRunTask({ runId: run.id, kind: 'deadline' }, def.options.timeoutSeconds + 1),
    ]);
  } catch (err) {
    await deleteRun(run.id).catch(() => undefined);
    throw err;
  }
}

/** Parses nothing, stores everything: a definition already parsed becomes a queued run. */
export async function queueRun(principal: Principal, def: TestDefinition, options: RunOptions): Promise<TestRunRecord> {
  const run = newRunRecord(principal, def, buildPlan(def, { execute: options.execute }), options);
  await startRun(run, def);
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
