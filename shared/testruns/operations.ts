/**
 * The Virtuoso calls behind each plan operation (plan.ts), and how a resumed run finds what an
 * earlier attempt created but could not record (its answer was lost to a crash or a timeout).
 *
 * What makes adoption safe: the worker records a structural object (goal, journey, checkpoint)
 * before anything is built inside it, so an unrecorded object is still empty and unattached, and
 * any unrecorded one with the right name is as good as another. A checkpoint's steps are appended
 * one after another, so the steps past its recorded baseline are the run's own, in plan order.
 */
import { unprocessable } from '../errors';
import { idOf, type VirtuosoClient } from '../virtuoso/client';
import { GOAL_META, latestSnapshot } from '../virtuoso/commands';
import { APPEND, createStepBody, type ParsedStep } from '../virtuoso/steps';
import type { TestDefinition } from './definition';

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
  return list.map((e) => ({ ...(e.value.journey ?? { id: e.id }), id: idOf(e.value.journey?.id ?? e.id) }));
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
