/**
 * Builds a run's plan in Virtuoso: the operations run as a dependency graph, up to `concurrency`
 * Virtuoso calls at once, the ready operation with the longest chain still behind it first. Every
 * id is recorded as it is created (recorder.ts); a resumed attempt skips what is recorded and
 * adopts what an earlier attempt created but could not record (operations.ts), so nothing is
 * created twice.
 *
 * Outcomes: done; stopped (cancelled, past the deadline, or abandoned); or a thrown error — a
 * retryable one (Virtuoso unavailable) for the task to be retried, a permanent one naming the place
 * in the definition. With `continueOnError`, a step Virtuoso refuses is recorded and the build goes on.
 */
import { AppError, toAppError, unprocessable } from '../errors';
import type { Logger } from '../log';
import { VirtuosoApiError, type VirtuosoClient } from '../virtuoso/client';
import { virtuosoToAppError } from '../virtuoso/errors';
import type { TestDefinition } from './definition';
import { claimGoal } from './claims';
import * as v from './operations';
import { isNavigationCheckpoint, keys, remainingPath, type Operation, type Plan } from './plan';
import type { Recorder } from './recorder';

export interface BuildInput {
  runId: string;
  def: TestDefinition;
  plan: Plan;
  api: VirtuosoClient;
  orgId: number;
  /** What earlier attempts recorded. */
  ids: Record<string, string>;
  refused: Record<string, string>;
  executeSentAt: Record<string, string>;
  /** An earlier attempt may have created objects it could not record. */
  resume: boolean;
  recorder: Recorder;
  concurrency: number;
  /** Asked between operations (cheaply: the caller caches); a reason stops the build. */
  stopReason: () => string | undefined;
  /**
   * Asked (with a fresh read of the run) before each execution starts — the one step nothing can
   * take back: a reason (cancelled, another attempt took over) stops the build instead.
   */
  beforeExecute: () => Promise<string | undefined>;
  /** Aborting drops everything not yet written, as a crash would (tests). */
  signal?: AbortSignal;
  log: Logger;
}

export type BuildResult = { outcome: 'done'; ids: Record<string, string> } | { outcome: 'stopped'; reason: string };

export async function buildRun(input: BuildInput): Promise<BuildResult> {
  const { def, plan, recorder } = input;
  // After a crash (abort) no further Virtuoso call is made, as if the process had died.
  const api = input.signal ? guarded(input.api, input.signal) : input.api;
  const ids = { ...input.ids };
  const refused = { ...input.refused };
  const priority = remainingPath(plan.operations);
  const done = new Set<string>(plan.operations.filter((op) => isDone(op, ids, refused)).map((op) => op.key));
  const waiting = plan.operations.filter((op) => !done.has(op.key));
  const running = new Set<Promise<void>>();
  const resumeCache = new Map<string, Promise<unknown>>();
  let failure: unknown;
  let stopped: string | undefined;
  let started = 0;
  let stepsCreated = Object.keys(ids).filter((k) => STEP_KEY.test(k)).length;

  /** Reads shared by the operations of one resumed attempt (each done once). */
  const once = <T>(key: string, read: () => Promise<T>): Promise<T> => {
    let p = resumeCache.get(key) as Promise<T> | undefined;
    if (!p) resumeCache.set(key, (p = read()));
    return p;
  };
  // Step ids are written as one list per checkpoint (`steps.g0j1c2`), everything else by key (`ids.g0`).
  const stepArrays = new Map<string, (string | null)[]>();
  for (const [k, val] of Object.entries(ids)) {
    const m = STEP_KEY.exec(k);
    if (m) {
      const arr = stepArrays.get(m[1]) ?? stepArrays.set(m[1], []).get(m[1])!;
      arr[Number(m[2])] = val;
    }
  }
  const record = (fields: Record<string, string>, extra: Record<string, unknown> = {}) => {
    Object.assign(ids, fields);
    const update: Record<string, unknown> = { ...extra };
    for (const [k, val] of Object.entries(fields)) {
      const m = STEP_KEY.exec(k);
      if (!m) {
        update[`ids.${k}`] = val;
        continue;
      }
      const arr = stepArrays.get(m[1]) ?? stepArrays.set(m[1], []).get(m[1])!;
      arr[Number(m[2])] = val;
      update[`steps.${m[1]}`] = Array.from(arr, (x) => x ?? '').join(',');
    }
    recorder.set(update);
  };
  const taken = (prefix: RegExp) => new Set(Object.entries(ids).filter(([k]) => prefix.test(k)).map(([, val]) => val));

  async function run(op: Operation): Promise<void> {
    const goal = op.g >= 0 ? def.goals[op.g] : undefined;
    const g = op.g;
    switch (op.kind) {
      case 'project': {
        const r = await v.resolveProject(api, input.orgId, def.project, def.goals.map((x) => x.name));
        record({ [keys.project]: r.projectId, [keys.knownGoals]: r.knownGoals.join(',') });
        input.log.info(r.reused ? 'reusing the existing project' : 'created the project', { projectId: r.projectId });
        return recorder.flush();
      }
      case 'goal': {
        const projectId = ids[keys.project];
        let goalId: string | undefined;
        if (input.resume) {
          // A goal this run created but could not record — only one no other run has claimed.
          const exclude = new Set([...(ids[keys.knownGoals] ?? '').split(',').filter(Boolean), ...taken(/^g\d+$/)]);
          for (const candidate of await v.lostGoalCandidates(api, projectId, goal!.name, exclude)) {
            if (await claimGoal(candidate, input.runId)) {
              goalId = candidate;
              input.log.info('adopted a goal an earlier attempt created', { goalId });
              break;
            }
          }
        }
        // Claimed at once; if another run's resume claimed it first (a lost answer of theirs, at
        // the same moment), that goal is theirs now and this run makes another.
        for (let tries = 0; !goalId && tries < 3; tries++) {
          const created = await v.createGoal(api, projectId, goal!);
          if (await claimGoal(created, input.runId)) goalId = created;
          else input.log.warn('a goal this run created was claimed by another run; creating another', { goalId: created });
        }
        if (!goalId) throw new AppError('conflict', `${op.at}: could not create a goal this run owns`);
        record({ [op.key]: goalId });
        return recorder.flush();
      }
      case 'snapshot':
        record({ [op.key]: await v.snapshotOf(api, ids[keys.goal(g)]) });
        return;
      case 'suite': {
        const s = await v.firstSuite(api, ids[keys.goal(g)], ids[keys.snapshot(g)]);
        record({ [op.key]: s.journeyId, [keys.nav(g)]: s.navCheckpointId, [keys.navBase(g)]: String(s.navSteps), [keys.checkpoint(g, 0, 0)]: s.navCheckpointId });
        // The baseline must be durable before any step goes into the navigation checkpoint.
        return recorder.flush();
      }
      case 'renameJourney':
        await v.renameJourney(api, ids[keys.suite(g)], goal!.journeys[op.j!].name);
        record({ [op.key]: ids[keys.suite(g)] });
        return recorder.flush();
      case 'createJourney': {
        const name = goal!.journeys[op.j!].name;
        let journeyId: string | undefined;
        if (input.resume) {
          const all = await once(`journeys${g}`, () => v.journeysOf(api, ids[keys.goal(g)], ids[keys.snapshot(g)]));
          const mine = taken(new RegExp(`^g${g}j\\d+$`));
          journeyId = all.find((j) => (j.title ?? j.name) === name && !mine.has(String(j.id)) && String(j.id) !== ids[keys.suite(g)])?.id as string | undefined;
        }
        record({ [op.key]: journeyId ?? (await v.createJourney(api, ids[keys.goal(g)], ids[keys.snapshot(g)], name)) });
        return recorder.flush();
      }
      case 'createCheckpoint': {
        const title = goal!.journeys[op.j!].checkpoints[op.c!].name;
        let checkpointId: string | undefined;
        if (input.resume) {
          const all = await once(`checkpoints${g}`, () => v.checkpointsOfGoal(api, ids[keys.goal(g)]));
          const mine = taken(new RegExp(`^g${g}j\\d+c\\d+$|^g${g}nav$`));
          const lost = all?.find((c) => c.title === title && !mine.has(String(c.id)));
          checkpointId = lost ? String(lost.id) : undefined;
          if (!all) input.log.warn('cannot look for checkpoints lost by an earlier attempt (GET /goals/{id}/checkpoints is not available)');
        }
        record({ [op.key]: checkpointId ?? (await v.createCheckpoint(api, ids[keys.goal(g)], ids[keys.snapshot(g)], title)) });
        return recorder.flush();
      }
      case 'attach': {
        const journeyId = ids[keys.journey(g, op.j!)];
        const checkpointId = ids[keys.checkpoint(g, op.j!, op.c!)];
        const attached = input.resume ? await v.attachedTo(api, journeyId) : [];
        if (!attached.includes(checkpointId)) await v.attachCheckpoint(api, journeyId, checkpointId, op.j === 0 ? op.c! + 1 : op.c! + 2);
        record({ [op.key]: checkpointId });
        return;
      }
      case 'step': {
        const checkpointKey = keys.checkpoint(g, op.j!, op.c!);
        const checkpointId = ids[checkpointKey];
        if (input.resume) {
          const adopted = await once(`steps:${checkpointKey}`, () => adoptSteps(op, checkpointId));
          if (adopted.has(op.key)) return;
        }
        const step = goal!.journeys[op.j!].checkpoints[op.c!].steps[op.s!];
        try {
          const stepId = await v.createStep(api, checkpointId, step.parsedStep);
          record({ [op.key]: stepId }, { 'progress.stepsCreated': ++stepsCreated });
        } catch (err) {
          const e = err instanceof VirtuosoApiError ? virtuosoToAppError(err) : toAppError(err);
          if (!def.options.continueOnError || e.retryable || e.code !== 'unprocessable_entity') throw err;
          refused[op.key] = e.message;
          recorder.set({ [`refused.${op.key}`]: e.message });
          input.log.warn('Virtuoso refused a step; going on (continueOnError)', { at: op.at, error: e.message });
          // Durable before the next step goes in, so a resumed attempt maps the checkpoint's steps right.
          await recorder.flush();
        }
        return;
      }
      case 'execute': {
        const why = await input.beforeExecute();
        if (why) {
          stopped ??= why;
          return;
        }
        const journeyIds = goal!.journeys.map((_, j) => ids[keys.journey(g, j)]);
        let jobId: string | undefined;
        const sentAt = input.executeSentAt[String(g)];
        if (sentAt) {
          // An earlier attempt asked for this execution and may not have recorded its job.
          jobId = await v.findJobSince(api, ids[keys.goal(g)], ids[keys.snapshot(g)], journeyIds, sentAt);
          if (jobId) input.log.info('adopted the execution an earlier attempt started', { goal: g, jobId });
          else input.log.warn('an earlier attempt may have started this goal and no job was found; starting it', { goal: g });
        }
        if (!jobId) {
          recorder.set({ [`executeSentAt.${g}`]: new Date().toISOString() });
          await recorder.flush();
          jobId = await v.executeGoal(api, ids[keys.goal(g)], ids[keys.snapshot(g)], journeyIds);
        }
        record({ [op.key]: jobId }, { [`jobs.${jobId}`]: { goal: g, status: 'LAUNCHED' } });
        // The webhook is matched by job id: the run must be findable by it before FINISHED can come.
        recorder.set({ jobIds: Object.entries(ids).filter(([k]) => /^g\d+exec$/.test(k)).map(([, id]) => id) });
        return recorder.flush();
      }
    }
  }

  /**
   * Steps past the checkpoint's baseline are this run's, in plan order (refused ones were never
   * created): walk the plan and Virtuoso's list side by side, recording the unrecorded ones.
   */
  async function adoptSteps(op: Operation, checkpointId: string): Promise<Set<string>> {
    const base = isNavigationCheckpoint(op.j!, op.c!) ? Number(ids[keys.navBase(op.g)] ?? 0) : 0;
    const present = (await v.stepsOf(api, checkpointId)).slice(base);
    const steps = def.goals[op.g].journeys[op.j!].checkpoints[op.c!].steps;
    const adopted = new Set<string>();
    const fields: Record<string, string> = {};
    const changed = (why: string) => unprocessable(`Checkpoint ${checkpointId} was changed outside this run (${why})`);
    let p = 0;
    for (let s = 0; s < steps.length && p < present.length; s++) {
      const key = keys.step(op.g, op.j!, op.c!, s);
      if (refused[key] !== undefined) continue;
      const here = present[p];
      if (ids[key] !== undefined) {
        if (String(here.id) !== ids[key]) throw changed(`step ${base + p + 1} is ${here.id}, not the recorded ${ids[key]}`);
        p++;
      } else if (here.action === steps[s].parsedStep.action) {
        fields[key] = String(here.id);
        adopted.add(key);
        p++;
      } else {
        // Not created (refused before its refusal was recorded): it is sent again.
        continue;
      }
    }
    if (p < present.length) throw changed(`it has ${present.length - p} more step(s) than the plan accounts for`);
    if (adopted.size) {
      stepsCreated += adopted.size;
      record(fields, { 'progress.stepsCreated': stepsCreated });
      input.log.info('adopted steps an earlier attempt created', { checkpointId, steps: adopted.size });
    }
    for (const k of adopted) done.add(k);
    return adopted;
  }

  // Ready operations, the longest remaining chain first; an operation becomes ready when the last
  // of its dependencies is done.
  const dependents = new Map<string, Operation[]>();
  const missing = new Map<string, number>();
  for (const op of waiting) {
    const open = op.deps.filter((d) => !done.has(d));
    missing.set(op.key, open.length);
    for (const d of open) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(op);
  }
  const readyList = waiting.filter((op) => missing.get(op.key) === 0);
  let unsorted = true;
  const finished = (key: string) => {
    for (const op of dependents.get(key) ?? []) {
      const left = missing.get(op.key)! - 1;
      missing.set(op.key, left);
      if (left === 0) {
        readyList.push(op);
        unsorted = true;
      }
    }
  };
  const ready = () => {
    if (unsorted) readyList.sort((a, b) => (priority.get(b.key) ?? 0) - (priority.get(a.key) ?? 0));
    unsorted = false;
    return readyList;
  };

  // The scheduler: start ready operations while there is room; when one ends, look again.
  await new Promise<void>((resolve) => {
    // A crash: nothing more is written or started, and nothing in flight is waited for.
    input.signal?.addEventListener('abort', () => {
      recorder.abandon();
      resolve();
    }, { once: true });
    const pump = () => {
      if (failure === undefined && stopped === undefined) {
        stopped = input.signal?.aborted ? 'abandoned' : input.stopReason();
      }
      const halt = failure !== undefined || stopped !== undefined;
      if (!halt) {
        const candidates = ready();
        while (candidates.length && running.size < input.concurrency) {
          const op = candidates.shift()!;
          started++;
          const p: Promise<void> = run(op)
            .then(() => {
              done.add(op.key);
              finished(op.key);
              recorder.set({ 'progress.operationsDone': done.size });
            })
            .catch((err) => {
              failure ??= describe(err, op);
            })
            .finally(() => {
              running.delete(p);
              pump();
            });
          running.add(p);
        }
      }
      if (running.size === 0) resolve();
    };
    pump();
  });

  if (input.signal?.aborted) return { outcome: 'stopped', reason: 'abandoned' };
  await recorder.flush().catch((err) => {
    failure ??= err;
  });
  if (failure !== undefined) throw failure;
  if (stopped) return { outcome: 'stopped', reason: stopped };
  if (started < waiting.length) throw new AppError('internal', `The plan could not finish: ${waiting.length - started} operations are waiting on each other`);
  return { outcome: 'done', ids };
}

function guarded(api: VirtuosoClient, signal: AbortSignal): VirtuosoClient {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (signal.aborted) return Promise.reject(new Error('abandoned'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

const STEP_KEY = /^(g\d+j\d+c\d+)s(\d+)$/;

function isDone(op: Operation, ids: Record<string, string>, refused: Record<string, string>): boolean {
  return ids[op.key] !== undefined || refused[op.key] !== undefined;
}

/** The error, in the taxonomy, with the place in the definition it happened at. */
function describe(err: unknown, op: Operation): AppError {
  const e = err instanceof VirtuosoApiError ? virtuosoToAppError(err) : toAppError(err);
  return new AppError(e.code, `${op.at}: ${e.message}`, { details: { at: op.at, operation: op.describe, ...(isObject(e.details) ? e.details : {}) }, retryAfterSeconds: e.retryAfterSeconds, cause: err });
}

const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
