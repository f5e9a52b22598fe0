/**
 * The Virtuoso REST API subset of VIRTUOSO_API.md §1.4, as a route table. Paths are relative to the
 * base URL (which ends in /api). Creates answer 201 (project, goal, checkpoint), attach and step
 * creation 200 (§1.2); lists are `{success, map}` keyed by id. Environments and test data tables
 * are [C]: catalogue paths with guessed bodies, answered here as the commands expect (see there).
 */
import { badRequest, isObject, numericId, projectNotFound, SandboxError } from './http';
import type { Executions } from './executions';
import type { SandboxState } from './model';
import { validateParsedStep } from './steps';

export interface RouteContext {
  params: string[];
  query: URLSearchParams;
  body: unknown;
  state: SandboxState;
  executions: Executions;
  /** The only organization accepted, when the sandbox is given one. */
  organizationId?: number;
}

export interface RouteAnswer {
  status: number;
  body?: unknown;
}

type Handler = (ctx: RouteContext) => RouteAnswer;
interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

const routes: Route[] = [];
function route(method: string, path: string, handler: Handler): void {
  const pattern = new RegExp(`^${path.replace(/:[a-z]+/gi, '([^/]+)')}$`);
  routes.push({ method, pattern, handler });
}

/** The handler for a request, or undefined (404). */
export function findRoute(method: string, path: string): { handler: Handler; params: string[] } | undefined {
  for (const r of routes) {
    if (r.method !== method) continue;
    const m = r.pattern.exec(path);
    if (m) return { handler: r.handler, params: m.slice(1).map(decodeURIComponent) };
  }
  return undefined;
}

const item = (value: unknown, status = 200): RouteAnswer => ({ status, body: { success: true, item: value } });
/** `?envelope=false` answers the bare object (§1.1). */
const maybeBare = (ctx: RouteContext, value: unknown, status = 200): RouteAnswer =>
  ctx.query.get('envelope') === 'false' ? { status, body: value } : item(value, status);
const map = (entries: Iterable<[number, unknown]>, extra: Record<string, unknown> = {}): RouteAnswer => {
  const m: Record<string, unknown> = {};
  for (const [id, v] of entries) m[String(id)] = v;
  return { status: 200, body: { success: true, map: m, ...extra } };
};

function body(ctx: RouteContext): Record<string, unknown> {
  if (ctx.body === undefined) return {};
  if (!isObject(ctx.body)) throw badRequest('Request body must be a JSON object');
  return ctx.body;
}
function text(v: unknown, what: string, required = true): string {
  if (v === undefined || v === null) {
    if (required) throw badRequest(`${what} is required`);
    return '';
  }
  if (typeof v !== 'string' || (required && !v.trim())) throw badRequest(`${what} must be a non-empty string`);
  return v;
}
function idParam(v: unknown, what: string): number {
  const id = numericId(v);
  if (id === undefined) throw badRequest(`${what} must be a numeric id`);
  return id;
}
function checkOrg(ctx: RouteContext, org: number): void {
  if (ctx.organizationId !== undefined && org !== ctx.organizationId) throw new SandboxError(403, '403', 'Access to the organization is denied');
}

// --- projects ---------------------------------------------------------------------------------------
route('POST', '/projects', (ctx) => {
  const b = body(ctx);
  const name = text(b.name, 'name').trim();
  if (typeof b.organizationId !== 'number' || !Number.isInteger(b.organizationId)) throw badRequest('organizationId (a number) is required');
  checkOrg(ctx, b.organizationId);
  return item(ctx.state.createProject(name, b.organizationId, text(b.description, 'description', false)), 201);
});

route('GET', '/projects', (ctx) => {
  const org = numericId(ctx.query.get('organizationId') ?? undefined);
  if (org === undefined) throw badRequest('OrganizationId(s) should be provided');
  checkOrg(ctx, org);
  const limit = Math.max(0, Number(ctx.query.get('limit') ?? 50) || 0);
  const offset = Math.max(0, Number(ctx.query.get('offset') ?? 0) || 0);
  const all = [...ctx.state.projects.values()].filter((p) => p.organizationId === org).sort((a, b) => a.id - b.id);
  return map(all.slice(offset, offset + limit).map((p) => [p.id, p]), { total: all.length });
});

route('GET', '/projects/:id/goals', (ctx) => {
  const project = ctx.state.project(numericId(ctx.params[0]));
  const archived = ctx.query.get('archived');
  const goals = [...ctx.state.goals.values()].filter((g) => g.projectId === project.id && (archived === null || String(g.archived) === archived));
  return map(goals.map((g) => [g.id, ctx.state.goalView(g)]));
});

// --- goals and snapshots ------------------------------------------------------------------------------
route('POST', '/goals', (ctx) => {
  const b = body(ctx);
  const project = ctx.state.project(numericId(b.projectId));
  const url = text(b.url, 'url').trim();
  if (!/^https?:\/\/[^\s]+$/i.test(url)) throw badRequest('url must be an http(s) URL');
  const size = isObject(b.deviceSize) ? b.deviceSize : {};
  const goal = ctx.state.createGoal(
    {
      projectId: project.id, name: text(b.name, 'name').trim(), url,
      environmentId: numericId(b.environmentId) ?? null,
      deviceSize: { width: Number(size.width) || 1280, height: Number(size.height) || 800 },
      meta: isObject(b.meta) ? b.meta : {},
    },
    b.createFirstJourney === true,
  );
  return item(ctx.state.goalView(goal), 201);
});

route('GET', '/goals/:id', (ctx) => item(ctx.state.goalView(ctx.state.goal(numericId(ctx.params[0])))));

/** A catalogue path never exercised against the live API [C]: every checkpoint of the goal's latest snapshot, attached or not. */
route('GET', '/goals/:id/checkpoints', (ctx) => {
  const goal = ctx.state.goal(numericId(ctx.params[0]));
  const snapshotId = goal.snapshotIds[goal.snapshotIds.length - 1];
  const cps = [...ctx.state.checkpoints.values()].filter((c) => c.goalId === goal.id && c.snapshotId === snapshotId);
  return map(cps.map((c) => [c.id, ctx.state.checkpointView(c)]));
});

route('GET', '/goals/:id/versions', (ctx) => {
  const goal = ctx.state.goal(numericId(ctx.params[0]));
  // Newest first: callers use snapshots[0].
  const snapshots = [...goal.snapshotIds].reverse().map((id) => ctx.state.snapshots.get(id)!);
  return item({ goalId: goal.id, snapshots });
});

// --- journeys (testsuites) -----------------------------------------------------------------------------
route('GET', '/testsuites/latest_status', (ctx) => {
  const jobId = ctx.query.get('jobId');
  if (jobId !== null) {
    const job = ctx.executions.job(numericId(jobId));
    return { status: 200, body: { success: true, map: ctx.executions.statusMap(job) } };
  }
  const goal = ctx.state.goal(numericId(ctx.query.get('goalId') ?? undefined));
  const snapshot = ctx.state.snapshotOf(goal, numericId(ctx.query.get('snapshotId') ?? ctx.query.get('versionId') ?? undefined));
  const details = ctx.query.get('includeSequencesDetails') === 'true';
  const journeys = [...ctx.state.journeys.values()].filter((j) => j.goalId === goal.id && j.snapshotId === snapshot.snapshotId);
  // Each journey's latest execution, when it has one (a field layout inferred, not verified).
  const lastJob = (id: number) => [...ctx.executions.jobs.values()].filter((job) => job.journeys.some((r) => r.journeyId === id)).at(-1);
  return map(journeys.map((j) => {
    const job = lastJob(j.id);
    return [j.id, {
      journey: details ? ctx.state.journeyWithCases(j) : ctx.state.journeyView(j), lastChange: { date: j.updatedAt },
      ...(job ? { lastExecution: { jobId: job.id, status: job.status, createdAt: job.createdAt } } : {}),
    }];
  }));
});

route('GET', '/testsuites/execution', (ctx) => {
  const job = ctx.executions.job(numericId(ctx.query.get('jobId') ?? undefined));
  const suiteIds = [...ctx.query.getAll('suiteId[]'), ...ctx.query.getAll('suiteId')].map((s) => idParam(s, 'suiteId'));
  return { status: 200, body: { success: true, map: ctx.executions.report(job, suiteIds) } };
});

route('POST', '/testsuites', (ctx) => {
  const b = body(ctx);
  const goal = ctx.state.goal(numericId(b.goalId));
  const snapshot = ctx.state.snapshotOf(goal, numericId(b.snapshotId));
  const title = text(b.title ?? b.name, 'title or name').trim();
  const tags = Array.isArray(b.tags) ? b.tags.filter((t): t is string => typeof t === 'string') : [];
  const journey = ctx.state.createJourney(goal, snapshot, title, { archived: b.archived === true, draft: b.draft !== false, tags });
  // A new journey starts with the goal's shared navigation checkpoint at position 1 (§3.1: "index+2 in new journeys").
  const nav = [...ctx.state.checkpoints.values()].find((c) => c.navigation && c.goalId === goal.id && c.snapshotId === snapshot.snapshotId);
  if (nav) journey.caseIds.push(nav.id);
  return maybeBare(ctx, ctx.state.journeyView(journey));
});

route('GET', '/testsuites/:id', (ctx) => item(ctx.state.journeyWithCases(ctx.state.journey(numericId(ctx.params[0])))));

route('PUT', '/testsuites/:id', (ctx) => {
  const journey = ctx.state.journey(numericId(ctx.params[0]));
  const b = body(ctx);
  if (b.title === undefined && b.archived === undefined && b.draft === undefined) throw badRequest('title is required');
  if (b.title !== undefined) journey.title = text(b.title, 'title').trim();
  if (typeof b.archived === 'boolean') journey.archived = b.archived;
  if (typeof b.draft === 'boolean') journey.draft = b.draft;
  journey.updatedAt = new Date().toISOString();
  return item(ctx.state.journeyView(journey));
});

route('POST', '/testsuites/:id/checkpoints/attach', (ctx) => {
  const journey = ctx.state.journey(numericId(ctx.params[0]));
  const b = body(ctx);
  const position = b.position === undefined || b.position === null ? undefined : Number(b.position);
  if (position !== undefined && !Number.isInteger(position)) throw badRequest('position must be an integer');
  const checkpoint = b.libraryCheckpointId !== undefined
    ? ctx.state.checkpoints.get(ctx.state.libraryCheckpoint(numericId(b.libraryCheckpointId)).checkpointId)!
    : ctx.state.checkpoint(numericId(b.checkpointId));
  ctx.state.attach(journey, checkpoint, position);
  return item(ctx.state.journeyWithCases(journey));
});

// --- checkpoints (testcases) ---------------------------------------------------------------------------
route('POST', '/testcases', (ctx) => {
  const b = body(ctx);
  const goal = ctx.state.goal(numericId(b.goalId));
  const snapshot = ctx.state.snapshotOf(goal, numericId(b.snapshotId));
  return item(ctx.state.checkpointView(ctx.state.createCheckpoint(goal, snapshot, text(b.title, 'title').trim())), 201);
});

route('GET', '/testcases/:id', (ctx) => item(ctx.state.checkpointView(ctx.state.checkpoint(numericId(ctx.params[0])))));

/** Deprecated by the CLI's authors [C]; answers `{items}` as they described. */
route('GET', '/checkpoints/:id/teststeps', (ctx) => ({ status: 200, body: { items: ctx.state.checkpointView(ctx.state.checkpoint(numericId(ctx.params[0]))).steps } }));

route('POST', '/testcases/:id/add-to-library', (ctx) => {
  const checkpoint = ctx.state.checkpoint(numericId(ctx.params[0]));
  return item(ctx.state.libraryView(ctx.state.addToLibrary(checkpoint)));
});

// --- steps ---------------------------------------------------------------------------------------------
route('POST', '/teststeps', (ctx) => {
  const b = body(ctx);
  // As observed live: an unknown checkpoint on step creation is 404 1403 "Project not found".
  const checkpointId = numericId(b.checkpointId);
  const checkpoint = checkpointId === undefined ? undefined : ctx.state.checkpoints.get(checkpointId);
  if (!checkpoint) throw projectNotFound();
  const index = b.stepIndex === undefined || b.stepIndex === null ? -1 : Number(b.stepIndex);
  if (!Number.isInteger(index)) throw badRequest('stepIndex must be an integer');
  const fields = validateParsedStep(b.parsedStep);
  const step = ctx.state.addStep(checkpoint, index, { ...fields, optional: false, ignoreOutcome: false, skip: false });
  return maybeBare(ctx, { testStep: ctx.state.stepView(step), checkpoint: { id: checkpoint.id, steps: ctx.state.checkpointView(checkpoint).steps } });
});

route('GET', '/teststeps/:id', (ctx) => item(ctx.state.stepView(ctx.state.step(numericId(ctx.params[0])))));

route('PUT', '/teststeps/:id/properties', (ctx) => {
  const step = ctx.state.step(numericId(ctx.params[0]));
  const b = body(ctx);
  if (b.id !== undefined && numericId(b.id) !== step.id) throw badRequest('id does not match the step');
  if (b.canonicalId !== step.canonicalId) throw new SandboxError(409, '409', 'The step was changed or the canonicalId does not match');
  const fields = validateParsedStep({
    action: b.action ?? step.action, value: b.value ?? step.value, meta: b.meta ?? step.meta,
    target: b.target ?? step.target, variable: b.variable ?? step.variable,
  });
  Object.assign(step, fields);
  for (const flag of ['optional', 'ignoreOutcome', 'skip'] as const) {
    if (b[flag] !== undefined) {
      if (typeof b[flag] !== 'boolean') throw badRequest(`${flag} must be a boolean`);
      step[flag] = b[flag];
    }
  }
  return item(ctx.state.stepView(step));
});

// --- library -------------------------------------------------------------------------------------------
route('GET', '/library/checkpoints/:id', (ctx) => item(ctx.state.libraryView(ctx.state.libraryCheckpoint(numericId(ctx.params[0])))));

route('PUT', '/library/checkpoints/:id', (ctx) => {
  const lib = ctx.state.libraryCheckpoint(numericId(ctx.params[0]));
  const b = body(ctx);
  lib.name = text(b.name ?? b.title, 'name').trim();
  if (b.description !== undefined) lib.description = text(b.description, 'description', false);
  ctx.state.checkpoints.get(lib.checkpointId)!.title = lib.name;
  return item(ctx.state.libraryView(lib));
});

function libraryStep(ctx: RouteContext) {
  const lib = ctx.state.libraryCheckpoint(numericId(ctx.params[0]));
  const checkpoint = ctx.state.checkpoints.get(lib.checkpointId)!;
  const stepId = numericId(ctx.params[1]);
  const index = stepId === undefined ? -1 : checkpoint.stepIds.indexOf(stepId);
  if (index < 0) throw new SandboxError(404, '404', 'Test step not found in the library checkpoint');
  return { checkpoint, stepId: stepId!, index };
}

route('POST', '/library/checkpoints/:id/steps/:step/move', (ctx) => {
  const { checkpoint, stepId, index } = libraryStep(ctx);
  const position = Number(body(ctx).position);
  if (!Number.isInteger(position) || position < 1) throw badRequest('position must be an integer from 1');
  checkpoint.stepIds.splice(index, 1);
  checkpoint.stepIds.splice(Math.min(position - 1, checkpoint.stepIds.length), 0, stepId);
  return { status: 204 };
});

route('DELETE', '/library/checkpoints/:id/steps/:step', (ctx) => {
  const { checkpoint, stepId, index } = libraryStep(ctx);
  checkpoint.stepIds.splice(index, 1);
  ctx.state.steps.delete(stepId);
  return { status: 204 };
});

// --- executions ----------------------------------------------------------------------------------------
route('POST', '/goals/:goal/snapshots/:snapshot/execute', (ctx) => {
  const goal = ctx.state.goal(numericId(ctx.params[0]));
  const snapshot = ctx.state.snapshotOf(goal, numericId(ctx.params[1]));
  const b = body(ctx);
  const all = [...ctx.state.journeys.values()].filter((j) => j.goalId === goal.id && j.snapshotId === snapshot.snapshotId);
  let journeys = all.filter((j) => !j.archived);
  const suiteIds = Array.isArray(b.suiteIds) ? b.suiteIds.map((s) => idParam(s, 'suiteIds[]')) : [];
  const canonical = Array.isArray(b.testSuiteCanonicalIds) ? b.testSuiteCanonicalIds.map(String) : [];
  if (suiteIds.length) journeys = suiteIds.map((id) => all.find((j) => j.id === id) ?? ctx.state.journey(undefined));
  else if (canonical.length) journeys = canonical.map((c) => all.find((j) => j.canonicalId === c) ?? ctx.state.journey(undefined));
  if (Array.isArray(b.tags) && b.tags.length) journeys = journeys.filter((j) => j.tags.some((t) => (b.tags as unknown[]).includes(t)));
  if (!journeys.length) throw badRequest('No journeys to execute');
  return item(ctx.executions.jobView(ctx.executions.launch(goal, snapshot, journeys)));
});

route('GET', '/executions/analysis/:id', (ctx) => item(ctx.executions.analysis(numericId(ctx.params[0]), ctx.query.get('includeAI') === 'true')));

route('GET', '/executions/:job/suites/:suite/cases/:case/steps/:step', (ctx) => {
  const [job, suite, kase, step] = ctx.params.map((p) => numericId(p));
  return item(ctx.executions.stepDetail(job, suite, kase, step));
});

// --- environments and test data tables [C] ---------------------------------------------------------------
// Paths from the Postman catalogue; bodies are the documented guesses (VIRTUOSO_API.md §1.4), never run
// against the live API, and the answers (ids, `variables`, `rowCount`, `rowsImported`, the values
// shape) are ours. Creates answer 201 like the other creates.

/** `{name: "value"}` with string values (absent: empty). */
function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw badRequest(`${what} must be an object of name → value`);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw badRequest(`${what}.${k} must be a string`);
  return { ...(v as Record<string, string>) };
}

route('POST', '/environments', (ctx) => {
  const b = body(ctx);
  const name = text(b.name, 'name').trim();
  // `copyFromId` is not in the documented body: our guess at how a copy is asked for [C].
  const source = b.copyFromId === undefined || b.copyFromId === null ? undefined : ctx.state.environment(numericId(b.copyFromId));
  const env = ctx.state.createEnvironment(name, text(b.description, 'description', false), stringMap(b.variables, 'variables'), source);
  return item(ctx.state.environmentView(env), 201);
});

route('POST', '/testdata/tables/create', (ctx) => {
  const b = body(ctx);
  const name = text(b.name, 'name').trim();
  if (!Array.isArray(b.columns) || !b.columns.every((c) => typeof c === 'string' && c.trim() !== '')) {
    throw badRequest('columns must be an array of non-empty strings');
  }
  const table = ctx.state.createTable(name, text(b.description, 'description', false), b.columns as string[]);
  return item(ctx.state.tableView(table), 201);
});

route('GET', '/testdata/tables/:id', (ctx) => item(ctx.state.tableView(ctx.state.table(numericId(ctx.params[0])))));

/** An unexercised catalogue path: its answer's shape is unknown; `{tableId, columns, rows: [[...]]}` is ours. */
route('GET', '/testdata/tables/:id/values', (ctx) => item(ctx.state.tableValues(ctx.state.table(numericId(ctx.params[0])))));

/** The documented body `{tableId, data: [[...]], format: "csv"}`, all of it required here; rows are appended. */
route('POST', '/testdata/tables/:id/import', (ctx) => {
  const table = ctx.state.table(numericId(ctx.params[0]));
  const b = body(ctx);
  if (numericId(b.tableId) !== table.id) throw badRequest(`tableId must be the table's id (${table.id})`);
  if (b.format !== 'csv') throw badRequest('format must be "csv"');
  if (!Array.isArray(b.data) || !b.data.every((r) => Array.isArray(r) && r.every((x) => typeof x === 'string'))) {
    throw badRequest('data must be an array of rows, each an array of strings');
  }
  const imported = ctx.state.importRows(table, b.data as string[][]);
  return item({ tableId: table.id, rowsImported: imported, rowCount: table.rows.length });
});
