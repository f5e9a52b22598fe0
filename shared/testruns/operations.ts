/**
 * The Virtuoso calls behind each plan operation (plan.ts), one handler per operation kind
 * (`handlers`, run by build.ts's scheduler), and how a resumed run finds what an earlier attempt
 * created but could not record (its answer was lost to a crash or a timeout).
 *
 * What makes adoption safe: the worker records a structural object (goal, journey, checkpoint)
 * before anything is built inside it, so an unrecorded object is still empty and unattached, and
 * any unrecorded one with the right name is as good as another. A checkpoint's steps are appended
 * one after another, so the steps past its recorded baseline are the run's own, in plan order.
 */
import { AppError, toAppError, unprocessable } from '../errors';
import type { Logger } from '../log';
import { idOf, VirtuosoApiError, type VirtuosoClient } from '../virtuoso/client';
import { GOAL_META, latestSnapshot } from '../virtuoso/commands';
import { virtuosoToAppError } from '../virtuoso/errors';
import { APPEND, createStepBody, type ParsedStep } from '../virtuoso/steps';
import type { TestDefinition } from './definition';
import { isNavigationCheckpoint, keys, type Operation, type OperationOf, type OpKind } from './plan';

type Id = string | number;

interface Named {
  id: Id;
  name?: string;
  title?: string;
}
interface StepLite {
  id: Id;
  action?: string;
}
interface CaseLite extends Named {
  steps?: StepLite[];
}
interface JourneyLite extends Named {
  cases?: CaseLite[];
}

/** Finds the project by name (pages through the organization) or checks the given id. */
export async function resolveProject(api: VirtuosoClient, orgId: number, project: TestDefinition['project'], goalNames: string[]) {
  const sameNamedGoals = async (projectId: string) => {
    const goals = await api.list<Named>('GET', `/projects/${projectId}/goals`, { query: { archived: false } });
    return goals.filter((g) => goalNames.includes(g.value.name ?? '')).map((g) => g.id);
  };
  if (project.id) {
    // 1403 "Project not found" for a wrong id (mapped to 404 by the caller).
    return { projectId: project.id, reused: true, knownGoals: await sameNamedGoals(project.id) };
  }
  const name = project.name!;
  const existing = await findProject(api, orgId, name);
  if (existing) return { projectId: existing, reused: true, knownGoals: await sameNamedGoals(existing) };
  try {
    const created = await api.item<Named>('POST', '/projects', { body: { name, organizationId: orgId, ...(project.description ? { description: project.description } : {}) } });
    return { projectId: idOf(created.id), reused: false, knownGoals: [] };
  } catch (err) {
    // 1501: created meanwhile (another run, or this POST's lost answer): reuse it.
    if ((err as { code?: string }).code !== '1501') throw err;
    const again = await findProject(api, orgId, name);
    if (!again) throw err;
    return { projectId: again, reused: true, knownGoals: await sameNamedGoals(again) };
  }
}

const PAGE = 100;
async function findProject(api: VirtuosoClient, orgId: number, name: string): Promise<string | undefined> {
  for (let offset = 0; ; offset += PAGE) {
    const page = await api.list<Named>('GET', '/projects', { query: { organizationId: orgId, limit: PAGE, offset } });
    const hit = page.find((p) => p.value.name === name);
    if (hit) return hit.id;
    if (page.length < PAGE) return undefined;
  }
}

export async function createGoal(api: VirtuosoClient, projectId: string, goal: { name: string; url: string }): Promise<string> {
  const created = await api.item<Named>('POST', '/goals', {
    body: { projectId: Number(projectId), name: goal.name, url: goal.url, environmentId: null, deviceSize: { width: 1280, height: 800 }, meta: GOAL_META, createFirstJourney: true },
  });
  return idOf(created.id);
}

/** Unrecorded goals of this name in the project that were not there before the run, oldest first. */
export async function lostGoalCandidates(api: VirtuosoClient, projectId: string, name: string, exclude: Set<string>): Promise<string[]> {
  const goals = await api.list<Named>('GET', `/projects/${projectId}/goals`, { query: { archived: false } });
  return goals.filter((g) => g.value.name === name && !exclude.has(g.id)).map((g) => g.id);
}

export const snapshotOf = (api: VirtuosoClient, goalId: string) => latestSnapshot(api, Number(goalId));

/** The goal's journeys with their checkpoints and steps, lowest id (the auto-created one) first. */
export async function journeysOf(api: VirtuosoClient, goalId: string, snapshotId: string): Promise<JourneyLite[]> {
  const list = await api.list<{ journey?: JourneyLite }>('GET', '/testsuites/latest_status', { query: { goalId, snapshotId, includeSequencesDetails: true } });
  return list.map((e) => ({ ...e.value.journey, id: idOf(e.value.journey?.id ?? e.id) }));
}

/** "Suite 1", its navigation checkpoint, and how many steps that checkpoint already has. */
export async function firstSuite(api: VirtuosoClient, goalId: string, snapshotId: string) {
  const [first] = await journeysOf(api, goalId, snapshotId);
  if (!first) throw unprocessable(`Goal ${goalId} has no journey (it should have been created with 'Suite 1')`);
  const cases = first.cases ?? (await api.item<JourneyLite>('GET', `/testsuites/${first.id}`)).cases ?? [];
  const nav = cases[0];
  if (!nav) throw unprocessable(`Journey ${first.id} of goal ${goalId} has no navigation checkpoint`);
  // The baseline must be right (it tells the run's steps from Virtuoso's own): read it if not listed.
  const navSteps = nav.steps ?? (await stepsOf(api, idOf(nav.id)));
  return { journeyId: idOf(first.id), navCheckpointId: idOf(nav.id), navSteps: navSteps.length };
}

export async function renameJourney(api: VirtuosoClient, journeyId: string, title: string): Promise<void> {
  await api.item('PUT', `/testsuites/${journeyId}`, { body: { title } });
}

export async function createJourney(api: VirtuosoClient, goalId: string, snapshotId: string, name: string): Promise<string> {
  const j = await api.item<Named>('POST', '/testsuites', {
    query: { envelope: false },
    body: { goalId: Number(goalId), snapshotId: Number(snapshotId), name, title: name, archived: false, draft: true },
  });
  return idOf(j.id);
}

export async function createCheckpoint(api: VirtuosoClient, goalId: string, snapshotId: string, title: string): Promise<string> {
  const c = await api.item<Named>('POST', '/testcases', { body: { goalId: Number(goalId), snapshotId: Number(snapshotId), title } });
  return idOf(c.id);
}

/**
 * The goal's checkpoints, attached or not: `GET /goals/{id}/checkpoints` is in Virtuoso's catalogue
 * but was never exercised against the live API [C]. Without it, a checkpoint whose creation answer
 * was lost cannot be found (it is not attached yet) and is created again; the lost one stays empty
 * and invisible. Returns undefined when the endpoint is not there.
 */
export async function checkpointsOfGoal(api: VirtuosoClient, goalId: string): Promise<Named[] | undefined> {
  try {
    return (await api.list<Named>('GET', `/goals/${goalId}/checkpoints`)).map((e) => ({ ...e.value, id: e.id }));
  } catch (err) {
    const e = err as { status?: number; retryable?: boolean };
    if (e.status === 404 || e.status === 405) return undefined;
    throw err;
  }
}

export async function attachCheckpoint(api: VirtuosoClient, journeyId: string, checkpointId: string, position: number): Promise<void> {
  await api.item('POST', `/testsuites/${journeyId}/checkpoints/attach`, { body: { checkpointId: Number(checkpointId), position } });
}

/** The checkpoint ids attached to a journey, in order. */
export async function attachedTo(api: VirtuosoClient, journeyId: string): Promise<string[]> {
  const j = await api.item<JourneyLite>('GET', `/testsuites/${journeyId}`);
  return (j.cases ?? []).map((c) => idOf(c.id));
}

export async function createStep(api: VirtuosoClient, checkpointId: string, step: ParsedStep): Promise<string> {
  const r = await api.item<{ testStep?: { id: Id } }>('POST', '/teststeps', { body: createStepBody(checkpointId, step, APPEND) });
  if (r.testStep?.id === undefined) throw unprocessable('Virtuoso created a step but returned no testStep.id');
  return idOf(r.testStep.id);
}

/** The steps of a checkpoint, in order. */
export async function stepsOf(api: VirtuosoClient, checkpointId: string): Promise<StepLite[]> {
  const c = await api.item<CaseLite>('GET', `/testcases/${checkpointId}`);
  return c.steps ?? [];
}

/**
 * The job an earlier attempt started for these journeys at or after `since`, if Virtuoso lists one:
 * the goal's `latest_status` entries carry each journey's latest execution (`jobId`, `createdAt` or
 * `startDate`). This field layout is inferred from the endpoint's name and the sandbox follows it;
 * when it is absent nothing is found and the goal is executed again.
 */
export async function findJobSince(api: VirtuosoClient, goalId: string, snapshotId: string, journeyIds: string[], since: string): Promise<string | undefined> {
  const list = await api.list<{ jobId?: Id; lastExecution?: { jobId?: Id; createdAt?: string; startDate?: string }; createdAt?: string }>('GET', '/testsuites/latest_status', {
    query: { goalId, snapshotId },
  });
  const from = Date.parse(since) - 5000; // clocks differ a little
  for (const e of list) {
    if (!journeyIds.includes(e.id)) continue;
    const last = e.value.lastExecution;
    const jobId = last?.jobId ?? e.value.jobId;
    const at = Date.parse(last?.createdAt ?? last?.startDate ?? e.value.createdAt ?? '');
    if (jobId !== undefined && Number.isFinite(at) && at >= from) return idOf(jobId);
  }
  return undefined;
}

export async function executeGoal(api: VirtuosoClient, goalId: string, snapshotId: string, journeyIds: string[]): Promise<string> {
  const job = await api.item<{ id: Id }>('POST', `/goals/${goalId}/snapshots/${snapshotId}/execute`, { body: { tags: [], suiteIds: journeyIds.map(Number) } });
  if (job?.id === undefined) throw unprocessable('Virtuoso started an execution but returned no job id');
  return idOf(job.id);
}

// --- one handler per operation kind ------------------------------------------------------------------

/** What the handlers read and change of the run being built; build.ts keeps it. */
export interface BuildState {
  api: VirtuosoClient;
  def: TestDefinition;
  runId: string;
  orgId: number;
  /** An earlier attempt may have created objects it could not record. */
  resume: boolean;
  log: Logger;
  /** Ids recorded so far, by operation key (`g0`, `g0j1c2s4`, …). */
  ids: Readonly<Record<string, string>>;
  /** Steps Virtuoso refused (continueOnError), by operation key. */
  refused: Readonly<Record<string, string>>;
  /** Goal index → when an earlier attempt asked Virtuoso to execute it. */
  executeSentAt: Readonly<Record<string, string>>;
  /** Records created ids (and more fields of the run's document) in `ids` and for the recorder. */
  record(fields: Record<string, string>, extra?: Record<string, unknown>): void;
  /** Records a step the build created (the hot path of `record`: a thousand of them in a build). */
  recordStep(op: OperationOf<'step'>, stepId: string): void;
  /** Records a step Virtuoso refused. */
  refuse(key: string, message: string): void;
  /** Counts created (or adopted) steps; returns the total so far. */
  countSteps(n: number): number;
  /** Fields for the run's document that are not ids (written with the next batch). */
  set(fields: Record<string, unknown>): void;
  /** Resolves when everything recorded so far is durable. */
  flush(): Promise<void>;
  /** A read that the operations of one resumed attempt share (done once). */
  once<T>(key: string, read: () => Promise<T>): Promise<T>;
  /** True when this run owns the goal now (claims.ts). */
  claimGoal(goalId: string, runId: string): Promise<boolean>;
  /** Asked before an execution starts: a reason stops the build instead. */
  beforeExecute(): Promise<string | undefined>;
  stop(reason: string): void;
}

type Handler<K extends OpKind> = (op: OperationOf<K>, run: BuildState) => Promise<void>;

/** The recorded ids whose keys match `pattern`: objects this run already owns. */
const taken = (run: BuildState, pattern: RegExp) => new Set(Object.entries(run.ids).filter(([k]) => pattern.test(k)).map(([, id]) => id));
const journeyOf = (run: BuildState, op: OperationOf<'renameJourney' | 'createJourney'>) => run.def.goals[op.g].journeys[op.j];
const checkpointOf = (run: BuildState, op: { g: number; j: number; c: number }) => run.def.goals[op.g].journeys[op.j].checkpoints[op.c];

export const handlers: { [K in OpKind]: Handler<K> } = {
  async project(_op, run) {
    const r = await resolveProject(run.api, run.orgId, run.def.project, run.def.goals.map((x) => x.name));
    run.record({ [keys.project]: r.projectId, [keys.knownGoals]: r.knownGoals.join(',') });
    run.log.info(r.reused ? 'reusing the existing project' : 'created the project', { projectId: r.projectId });
    return run.flush();
  },

  async goal(op, run) {
    const goal = run.def.goals[op.g];
    const projectId = run.ids[keys.project];
    let goalId: string | undefined;
    if (run.resume) {
      // A goal this run created but could not record — only one no other run has claimed.
      const exclude = new Set([...(run.ids[keys.knownGoals] ?? '').split(','), ...taken(run, /^g\d+$/)]); // '' is no goal's id
      for (const candidate of await lostGoalCandidates(run.api, projectId, goal.name, exclude)) {
        if (await run.claimGoal(candidate, run.runId)) {
          goalId = candidate;
          run.log.info('adopted a goal an earlier attempt created', { goalId });
          break;
        }
      }
    }
    // Claimed at once; if another run's resume claimed it first (a lost answer of theirs, at
    // the same moment), that goal is theirs now and this run makes another.
    for (let tries = 0; !goalId && tries < 3; tries++) {
      const created = await createGoal(run.api, projectId, goal);
      if (await run.claimGoal(created, run.runId)) goalId = created;
      else run.log.warn('a goal this run created was claimed by another run; creating another', { goalId: created });
    }
    if (!goalId) throw new AppError('conflict', `${op.at}: could not create a goal this run owns`);
    run.record({ [op.key]: goalId });
    return run.flush();
  },

  async snapshot(op, run) {
    run.record({ [op.key]: await snapshotOf(run.api, run.ids[keys.goal(op.g)]) });
  },

  async suite(op, run) {
    const g = op.g;
    const s = await firstSuite(run.api, run.ids[keys.goal(g)], run.ids[keys.snapshot(g)]);
    run.record({ [op.key]: s.journeyId, [keys.nav(g)]: s.navCheckpointId, [keys.navBase(g)]: String(s.navSteps), [keys.checkpoint(g, 0, 0)]: s.navCheckpointId });
    // The baseline must be durable before any step goes into the navigation checkpoint.
    return run.flush();
  },

  async renameJourney(op, run) {
    const suiteId = run.ids[keys.suite(op.g)];
    await renameJourney(run.api, suiteId, journeyOf(run, op).name);
    run.record({ [op.key]: suiteId });
    return run.flush();
  },

  async createJourney(op, run) {
    const g = op.g;
    const name = journeyOf(run, op).name;
    let journeyId: string | undefined;
    if (run.resume) {
      const all = await run.once(`journeys${g}`, () => journeysOf(run.api, run.ids[keys.goal(g)], run.ids[keys.snapshot(g)]));
      const mine = taken(run, new RegExp(`^g${g}j\\d+$`));
      journeyId = all.find((j) => (j.title ?? j.name) === name && !mine.has(String(j.id)) && String(j.id) !== run.ids[keys.suite(g)])?.id as string | undefined;
    }
    run.record({ [op.key]: journeyId ?? (await createJourney(run.api, run.ids[keys.goal(g)], run.ids[keys.snapshot(g)], name)) });
    return run.flush();
  },

  async createCheckpoint(op, run) {
    const g = op.g;
    const title = checkpointOf(run, op).name;
    let checkpointId: string | undefined;
    if (run.resume) {
      const all = await run.once(`checkpoints${g}`, () => checkpointsOfGoal(run.api, run.ids[keys.goal(g)]));
      const mine = taken(run, new RegExp(`^g${g}j\\d+c\\d+$|^g${g}nav$`));
      const lost = all?.find((c) => c.title === title && !mine.has(String(c.id)));
      checkpointId = lost ? String(lost.id) : undefined;
      if (!all) run.log.warn('cannot look for checkpoints lost by an earlier attempt (GET /goals/{id}/checkpoints is not available)');
    }
    run.record({ [op.key]: checkpointId ?? (await createCheckpoint(run.api, run.ids[keys.goal(g)], run.ids[keys.snapshot(g)], title)) });
    return run.flush();
  },

  async attach(op, run) {
    const journeyId = run.ids[keys.journey(op.g, op.j)];
    const checkpointId = run.ids[keys.checkpoint(op.g, op.j, op.c)];
    // A resumed attempt may have attached it already (the answer lost).
    const attached = run.resume && (await attachedTo(run.api, journeyId)).includes(checkpointId);
    // The first journey starts with the navigation checkpoint; others with it and their own first one.
    if (!attached) await attachCheckpoint(run.api, journeyId, checkpointId, op.j === 0 ? op.c + 1 : op.c + 2);
    run.record({ [op.key]: checkpointId });
  },

  async step(op, run) {
    const checkpointKey = keys.checkpoint(op.g, op.j, op.c);
    const checkpointId = run.ids[checkpointKey];
    if (run.resume) {
      const adopted = await run.once(`steps:${checkpointKey}`, () => adoptSteps(op, checkpointId, run));
      if (adopted.has(op.key)) return;
    }
    const step = checkpointOf(run, op).steps[op.s];
    try {
      const stepId = await createStep(run.api, checkpointId, step.parsedStep);
      run.recordStep(op, stepId);
    } catch (err) {
      const e = err instanceof VirtuosoApiError ? virtuosoToAppError(err) : toAppError(err);
      if (!run.def.options.continueOnError || e.retryable || e.code !== 'unprocessable_entity') throw err;
      run.refuse(op.key, e.message);
      run.log.warn('Virtuoso refused a step; going on (continueOnError)', { at: op.at, error: e.message });
      // Durable before the next step goes in, so a resumed attempt maps the checkpoint's steps right.
      await run.flush();
    }
  },

  async execute(op, run) {
    const why = await run.beforeExecute();
    if (why) return run.stop(why);
    const g = op.g;
    const goalId = run.ids[keys.goal(g)];
    const snapshotId = run.ids[keys.snapshot(g)];
    const journeyIds = run.def.goals[g].journeys.map((_, j) => run.ids[keys.journey(g, j)]);
    let jobId: string | undefined;
    const sentAt = run.executeSentAt[String(g)];
    if (sentAt) {
      // An earlier attempt asked for this execution and may not have recorded its job.
      jobId = await findJobSince(run.api, goalId, snapshotId, journeyIds, sentAt);
      if (jobId) run.log.info('adopted the execution an earlier attempt started', { goal: g, jobId });
      else run.log.warn('an earlier attempt may have started this goal and no job was found; starting it', { goal: g });
    }
    if (!jobId) {
      run.set({ [`executeSentAt.${g}`]: new Date().toISOString() });
      await run.flush();
      jobId = await executeGoal(run.api, goalId, snapshotId, journeyIds);
    }
    run.record({ [op.key]: jobId }, { [`jobs.${jobId}`]: { goal: g, status: 'LAUNCHED' } });
    // The webhook is matched by job id: the run must be findable by it before FINISHED can come.
    run.set({ jobIds: run.def.goals.map((_, i) => run.ids[keys.execute(i)]).filter((id) => id !== undefined) });
    return run.flush();
  },
};

/** Runs one operation with the handler of its kind. */
export function runOperation(op: Operation, run: BuildState): Promise<void> {
  // TypeScript cannot tie `handlers[op.kind]` to `op`'s own kind: the table's type guarantees it.
  return (handlers[op.kind] as Handler<OpKind>)(op, run);
}

/**
 * Steps past the checkpoint's baseline are this run's, in plan order (refused ones were never
 * created): walk the plan and Virtuoso's list side by side, recording the unrecorded ones.
 */
async function adoptSteps(op: OperationOf<'step'>, checkpointId: string, run: BuildState): Promise<Set<string>> {
  const base = isNavigationCheckpoint(op.j, op.c) ? Number(run.ids[keys.navBase(op.g)] ?? 0) : 0;
  const present = (await stepsOf(run.api, checkpointId)).slice(base);
  const steps = checkpointOf(run, op).steps;
  const adopted = new Set<string>();
  const fields: Record<string, string> = {};
  const changed = (why: string) => unprocessable(`Checkpoint ${checkpointId} was changed outside this run (${why})`);
  let p = 0;
  for (let s = 0; s < steps.length && p < present.length; s++) {
    const key = keys.step(op.g, op.j, op.c, s);
    if (run.refused[key] !== undefined) continue;
    const here = present[p];
    if (run.ids[key] !== undefined) {
      if (String(here.id) !== run.ids[key]) throw changed(`step ${base + p + 1} is ${here.id}, not the recorded ${run.ids[key]}`);
      p++;
    } else if (here.action === steps[s].parsedStep.action) {
      fields[key] = String(here.id);
      adopted.add(key);
      p++;
    }
    // else: not created (refused before its refusal was recorded): it is sent again.
  }
  if (p < present.length) throw changed(`it has ${present.length - p} more step(s) than the plan accounts for`);
  if (adopted.size) {
    run.record(fields, { 'progress.stepsCreated': run.countSteps(adopted.size) });
    run.log.info('adopted steps an earlier attempt created', { checkpointId, steps: adopted.size });
  }
  return adopted;
}
