/**
 * The report of a test run: what the worker built (the definition, by position, with the Virtuoso
 * ids it got back) joined with what Virtuoso says happened (one execution report per goal job,
 * `GET /testsuites/execution?suiteId[]=…&jobId=…&includeJourneyDetails=true`, VIRTUOSO_API.md §1.4),
 * rendered as `report.json` (RunReport; junit.ts renders it as `junit.xml`).
 *
 * Matching is by Virtuoso id only: journeyId, checkpointId, stepId. Names always come from the
 * definition; what ran but was not built by the run (the goal's navigation checkpoint, shared into
 * other journeys, or the NAVIGATE step Virtuoso put in it) is kept, named from Virtuoso and flagged
 * `builtByRun: false`. What was built but is missing from the execution is `unknown`, with an error.
 *
 * Real Virtuoso's report shape is only partly known (the sandbox, scripts/virtuoso-sandbox/executions.ts,
 * is our best guess), so the execution is read defensively: ids may be numbers or strings, outcomes
 * may come in any letter case, fields and map entries may be missing.
 *
 * A pure function of its input: no clock, no randomness, same input → same report.
 */

// --- input -------------------------------------------------------------------------------------------

/** What the worker built, by definition position (ids as strings). */
export interface BuiltStep {
  stepId?: string;
  /** e.g. 'click: Login button' */
  label: string;
}
export interface BuiltCheckpoint {
  name: string;
  checkpointId?: string;
  steps: BuiltStep[];
}
export interface BuiltJourney {
  name: string;
  journeyId?: string;
  checkpoints: BuiltCheckpoint[];
}
export interface BuiltGoal {
  name: string;
  goalId?: string;
  snapshotId?: string;
  jobId?: string;
  journeys: BuiltJourney[];
}
export interface ReportInput {
  run: {
    id: string;
    name: string;
    createdAt: string;
    startedAt?: string;
    finishedAt: string;
    /** e.g. https://app.virtuoso.qa */
    appUrl: string;
  };
  projectId?: string;
  goals: BuiltGoal[];
  /** jobId → the execution report map of that job (keyed by journey id) */
  executions: Record<string, Record<string, unknown>>;
}

// --- output ------------------------------------------------------------------------------------------

export type Outcome = 'passed' | 'failed' | 'skipped' | 'unknown';

/** How many checkpoints (JUnit test cases) ended each way. */
export interface OutcomeCounts {
  passed: number;
  failed: number;
  skipped: number;
  unknown: number;
}

/** Why a checkpoint failed: its first failing step, or Virtuoso's word when no step failed. */
export interface StepFailure {
  /** The failing step's label (definition label, or `ACTION value` from Virtuoso); absent when no step failed. */
  stepLabel?: string;
  stepId?: string;
  /** 1-based position of the failing step in the checkpoint, as reported. */
  stepPosition?: number;
  /** Virtuoso action of the failing step (CLICK, ASSERT_EXISTS, …). */
  action?: string;
  message: string;
}

export interface StepReport {
  /** 1-based position in the checkpoint, as reported (execution order; built steps missing from it last). */
  position: number;
  /** Definition label; `ACTION value` for a step the run did not build. */
  label: string;
  stepId?: string;
  canonicalId?: string;
  stepExecutionId?: string;
  action?: string;
  value?: string;
  builtByRun: boolean;
  outcome: Outcome;
  /** Virtuoso's outcome string as received (absent when it sent none). */
  virtuosoOutcome?: string;
  /** Virtuoso's error message for the step, or why its outcome is unknown. */
  error?: string;
}

export interface CheckpointReport {
  name: string;
  checkpointId?: string;
  builtByRun: boolean;
  outcome: Outcome;
  virtuosoOutcome?: string;
  durationMs?: number;
  /** `${appUrl}/#/checkpoint/<id>` */
  link?: string;
  /** Set when outcome is 'failed'. */
  failure?: StepFailure;
  /** Set when outcome is 'unknown': why. */
  error?: string;
  steps: StepReport[];
}

export interface JourneyReport {
  name: string;
  journeyId?: string;
  canonicalId?: string;
  /** Virtuoso's system name ("Suite N") and UI title, when the execution has them. */
  virtuosoName?: string;
  virtuosoTitle?: string;
  builtByRun: boolean;
  outcome: Outcome;
  virtuosoOutcome?: string;
  /** Virtuoso's job status for the journey (LAUNCHED, STARTED, FINISHED, …). */
  status?: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  /** `${appUrl}/#/journey/<id>` */
  link?: string;
  /** Set when the journey could not be reported (not created, missing from the execution, …). */
  error?: string;
  counts: OutcomeCounts & { checkpoints: number; steps: number };
  checkpoints: CheckpointReport[];
}

export interface GoalReport {
  name: string;
  goalId?: string;
  snapshotId?: string;
  jobId?: string;
  outcome: Outcome;
  /** `${appUrl}/#/goal/<id>` */
  link?: string;
  /** Set when the goal has no execution (never launched, or no report for its job). */
  error?: string;
  journeys: JourneyReport[];
}

export interface RunReport {
  /** Bumped on any incompatible change of this shape. */
  schemaVersion: 1;
  run: { id: string; name: string; createdAt: string; startedAt?: string; finishedAt: string };
  projectId?: string;
  /** `${appUrl}/#/project/<id>` */
  projectLink?: string;
  /** 'failed' when any checkpoint, journey or goal is failed or unknown. */
  outcome: 'passed' | 'failed';
  /**
   * journeys/checkpoints/steps: how many are in the report (including those not built by the run);
   * passed/failed/skipped/unknown: checkpoints (JUnit test cases) by outcome.
   */
  counts: OutcomeCounts & { journeys: number; checkpoints: number; steps: number };
  /** Steps by outcome. */
  stepCounts: OutcomeCounts;
  /** finishedAt − (startedAt ?? createdAt), never negative. */
  durationMs: number;
  goals: GoalReport[];
}

// --- defensive reading of the execution report -------------------------------------------------------

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A Virtuoso id as a string: numbers and numeric-or-not strings; anything else is no id. */
function idStr(v: unknown): string | undefined {
  if (Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') {
    const s = v.trim();
    return s === '' ? undefined : s;
  }
  return undefined;
}

/** All the ids an object may be known by, most specific first, without duplicates. */
function idsOf(o: Obj, fields: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of fields) {
    const s = idStr(nested(o, f));
    if (s !== undefined && !out.includes(s)) out.push(s);
  }
  return out;
}

/** The value at a dotted path (`journey.id`; a plain field is a path of one part). */
function nested(o: Obj, path: string): unknown {
  let cur: unknown = o;
  for (const part of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Number.isFinite(v)) return String(v);
  return undefined;
}

function nonEmpty(v: unknown): string | undefined {
  const s = str(v)?.trim();
  return s ? s : undefined;
}

/** The objects in the first field holding an array, or undefined when none is an array. */
function listField(o: Obj, fields: readonly string[]): Obj[] | undefined {
  for (const f of fields) {
    const v = nested(o, f);
    if (Array.isArray(v)) return v.filter(isObj);
  }
  return undefined;
}

const JOURNEY_ID_FIELDS = ['journeyId', 'testSuiteId', 'suiteId', 'id', 'journey.id'] as const;
const CASE_ID_FIELDS = ['checkpointId', 'testCaseId', 'caseId', 'id'] as const;
const STEP_ID_FIELDS = ['stepId', 'testStepId', 'id'] as const;

/** PASS→passed, FAIL→failed, SKIP/SKIPPED→skipped (any letter case; PASSED/FAILED too); else unknown. */
export function mapOutcome(v: unknown): Outcome {
  if (typeof v !== 'string') return 'unknown';
  switch (v.trim().toUpperCase()) {
    case 'PASS':
    case 'PASSED':
      return 'passed';
    case 'FAIL':
    case 'FAILED':
      return 'failed';
    case 'SKIP':
    case 'SKIPPED':
      return 'skipped';
    default:
      return 'unknown';
  }
}

/** The outcome of an execution object and the raw string it came from (`outcome`, else `result`, else an outcome-like `status`). */
function outcomeOf(o: Obj): { outcome: Outcome; raw?: string } {
  for (const f of ['outcome', 'result', 'status']) {
    const raw = str(o[f]);
    if (raw === undefined) continue;
    const outcome = mapOutcome(raw);
    if (outcome !== 'unknown' || f !== 'status') return { outcome, raw };
  }
  return { outcome: 'unknown' };
}

function errorMessageOf(o: Obj): string | undefined {
  const e = o.error;
  if (isObj(e)) {
    const m = nonEmpty(e.message) ?? nonEmpty(e.reason) ?? nonEmpty(e.code);
    if (m) return m;
  } else {
    const m = nonEmpty(e);
    if (m) return m;
  }
  return nonEmpty(o.errorMessage) ?? nonEmpty(o.failureReason) ?? nonEmpty(o.message);
}

/** Epoch ms of an ISO string or epoch-ms number. */
function timeOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? v : undefined;
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(t) ? undefined : t;
}

function isoOf(v: unknown): string | undefined {
  const t = timeOf(v);
  return t === undefined ? undefined : new Date(t).toISOString();
}

function durationOf(o: Obj): number | undefined {
  const start = timeOf(o.startDate ?? o.startTime ?? o.startedAt) ?? NaN;
  const end = timeOf(o.endDate ?? o.endTime ?? o.finishedAt) ?? NaN;
  // A missing end (NaN) is never >= anything.
  return end >= start ? end - start : undefined;
}

/**
 * Pairs definition items with execution items by id: execution order first, a definition item that
 * is missing from the execution placed right after the definition item before it (or first).
 */
function merge<D, E>(defs: readonly D[], execs: readonly E[], defId: (d: D) => string | undefined, execIds: (e: E) => readonly (string | undefined)[]): { def?: D; exec?: E }[] {
  const used = new Set<number>();
  const matchOf = execs.map((e) => {
    const ids = execIds(e); // never holds undefined: a definition item without an id matches nothing
    const k = defs.findIndex((d, i) => !used.has(i) && ids.includes(defId(d)));
    used.add(k); // -1 (no match) is never looked up
    return k;
  });
  const out: { def?: D; exec?: E }[] = [];
  let next = 0; // definition items before `next` have been placed (or are placed by their match)
  const flushUpTo = (k: number) => {
    for (; next < k; next++) if (!used.has(next)) out.push({ def: defs[next] });
  };
  execs.forEach((exec, i) => {
    const k = matchOf[i];
    flushUpTo(k); // nothing for -1
    out.push({ def: defs[k], exec }); // defs[-1] is undefined: an item only the execution has
  });
  flushUpTo(defs.length);
  return out;
}

// --- building the report -----------------------------------------------------------------------------

function link(appUrl: string, kind: 'project' | 'goal' | 'journey' | 'checkpoint', id: string): string {
  return `${appUrl.replace(/\/+$/, '')}/#/${kind}/${encodeURIComponent(id)}`;
}

function zeroCounts(): OutcomeCounts {
  return { passed: 0, failed: 0, skipped: 0, unknown: 0 };
}

function execLabel(action: string | undefined, value: string | undefined, id: string | undefined): string {
  const label = [action, value].filter((s) => s !== undefined && s !== '').join(' ');
  return label || (id !== undefined ? `Step ${id}` : 'Step');
}

/** The steps of a checkpoint, and those built by the run that the execution does not list. */
function buildSteps(defs: readonly BuiltStep[], execs: Obj[] | undefined): { steps: StepReport[]; notReported: StepReport[] } {
  const notReported: StepReport[] = [];
  const steps = merge(defs, execs ?? [], (d) => d.stepId, (e) => idsOf(e, STEP_ID_FIELDS)).map(({ def, exec }, i): StepReport => {
    const action = exec ? nonEmpty(exec.action) : undefined;
    const value = exec ? str(exec.value) : undefined;
    const stepId = def?.stepId ?? (exec ? idsOf(exec, STEP_ID_FIELDS)[0] : undefined);
    const step: StepReport = {
      position: i + 1,
      label: def ? def.label : execLabel(action, value, stepId),
      builtByRun: def !== undefined,
      outcome: 'unknown',
    };
    if (stepId !== undefined) step.stepId = stepId;
    if (!exec) {
      // Without a step list (checkpoint or journey missing) the checkpoint carries the error.
      if (execs) {
        step.error = stepId === undefined ? 'The step was not created (no step id)' : `Step ${stepId} is not in the execution report`;
        notReported.push(step);
      }
      return step;
    }
    const canonicalId = idStr(exec.canonicalId);
    const stepExecutionId = idStr(exec.stepExecutionId);
    if (canonicalId !== undefined) step.canonicalId = canonicalId;
    if (stepExecutionId !== undefined) step.stepExecutionId = stepExecutionId;
    if (action !== undefined) step.action = action;
    if (value !== undefined) step.value = value;
    const { outcome, raw } = outcomeOf(exec);
    step.outcome = outcome;
    if (raw !== undefined) step.virtuosoOutcome = raw;
    const message = errorMessageOf(exec);
    if (message !== undefined) step.error = message;
    else if (outcome === 'unknown') step.error = raw === undefined ? 'Virtuoso reported no outcome for the step' : `Unrecognised step outcome "${raw}"`;
    return step;
  });
  return { steps, notReported };
}

function buildCheckpoint(appUrl: string, def: BuiltCheckpoint | undefined, exec: Obj | undefined, missing: string | undefined): CheckpointReport {
  const checkpointId = def?.checkpointId ?? (exec ? idsOf(exec, CASE_ID_FIELDS)[0] : undefined);
  const execSteps = exec ? listField(exec, ['steps', 'testSteps']) : undefined;
  const { steps, notReported } = buildSteps(def?.steps ?? [], execSteps);
  const cp: CheckpointReport = {
    name: def ? def.name : (exec && (nonEmpty(exec.title) ?? nonEmpty(exec.name))) || (checkpointId !== undefined ? `Checkpoint ${checkpointId}` : 'Checkpoint'),
    builtByRun: def !== undefined,
    outcome: 'unknown',
    steps,
  };
  if (checkpointId !== undefined) {
    cp.checkpointId = checkpointId;
    cp.link = link(appUrl, 'checkpoint', checkpointId);
  }
  if (!exec) {
    cp.error =
      missing ??
      (checkpointId === undefined ? 'The checkpoint was not created (no checkpoint id)' : `Checkpoint ${checkpointId} is not in the execution report`);
    return cp;
  }
  const { outcome: said, raw } = outcomeOf(exec);
  if (raw !== undefined) cp.virtuosoOutcome = raw;
  const durationMs = durationOf(exec);
  if (durationMs !== undefined) cp.durationMs = durationMs;

  const failing = cp.steps.find((s) => s.outcome === 'failed');
  if (failing || said === 'failed') {
    cp.outcome = 'failed';
    cp.failure = failing
      ? {
          stepLabel: failing.label,
          ...(failing.stepId !== undefined ? { stepId: failing.stepId } : {}),
          stepPosition: failing.position,
          ...(failing.action !== undefined ? { action: failing.action } : {}),
          message: failing.error ?? 'The step failed (Virtuoso gave no error message)',
        }
      : { message: errorMessageOf(exec) ?? 'Virtuoso reported the checkpoint as failed without a failing step' };
    return cp;
  }
  if (said === 'skipped') {
    cp.outcome = 'skipped';
  } else if (said === 'passed') {
    // Virtuoso's pass does not cover a built step it does not list.
    if (notReported.length > 0) {
      cp.error = `Virtuoso reported the checkpoint as passed but not these steps: ${notReported.map((s) => s.label).join('; ')}`;
      return cp;
    }
    cp.outcome = 'passed';
  } else if (cp.steps.length > 0 && cp.steps.every((s) => s.outcome === 'passed' || s.outcome === 'skipped')) {
    // No (recognisable) outcome for the checkpoint: its steps decide.
    cp.outcome = cp.steps.some((s) => s.outcome === 'passed') ? 'passed' : 'skipped';
  } else {
    cp.error = raw === undefined ? `Virtuoso reported no outcome for the checkpoint${statusNote(exec)}` : `Unrecognised checkpoint outcome "${raw}"`;
  }
  return cp;
}

function statusNote(o: Obj): string {
  const status = nonEmpty(o.status);
  return status ? ` (status ${status})` : '';
}

function countCheckpoints(checkpoints: readonly CheckpointReport[]): OutcomeCounts {
  const c = zeroCounts();
  for (const cp of checkpoints) c[cp.outcome]++;
  return c;
}

function buildJourney(appUrl: string, jobId: string | undefined, def: BuiltJourney | undefined, exec: Obj | undefined, missing: string | undefined): JourneyReport {
  // What the execution says of the journey (nothing when it is not in it), at the top or in its details.
  const reported: Obj = exec ?? {};
  const details: Obj = isObj(reported.journey) ? reported.journey : {};
  const field = (f: string): unknown => reported[f] ?? details[f];
  const journeyId = def?.journeyId ?? idsOf(reported, JOURNEY_ID_FIELDS)[0];
  const builtCheckpoints = def?.checkpoints ?? [];
  const j: JourneyReport = {
    name: def ? def.name : nonEmpty(field('title')) ?? nonEmpty(field('name')) ?? (journeyId !== undefined ? `Journey ${journeyId}` : 'Journey'),
    builtByRun: def !== undefined,
    outcome: 'unknown',
    counts: { checkpoints: 0, steps: 0, ...zeroCounts() },
    checkpoints: [],
  };
  if (journeyId !== undefined) {
    j.journeyId = journeyId;
    j.link = link(appUrl, 'journey', journeyId);
  }

  if (!exec) {
    // Without `missing` the goal has an execution map, so a job id.
    j.error = missing ?? (journeyId === undefined ? 'The journey was not created (no journey id)' : `Journey ${journeyId} is not in the execution report of job ${jobId}`);
    j.checkpoints = builtCheckpoints.map((c) => buildCheckpoint(appUrl, c, undefined, j.error));
  } else {
    const canonicalId = idStr(field('canonicalId'));
    const virtuosoName = nonEmpty(field('name'));
    const virtuosoTitle = nonEmpty(field('title'));
    const status = nonEmpty(exec.status);
    const startedAt = isoOf(exec.startDate ?? exec.startTime ?? exec.startedAt);
    const finishedAt = isoOf(exec.endDate ?? exec.endTime ?? exec.finishedAt);
    if (canonicalId !== undefined) j.canonicalId = canonicalId;
    if (virtuosoName !== undefined) j.virtuosoName = virtuosoName;
    if (virtuosoTitle !== undefined) j.virtuosoTitle = virtuosoTitle;
    if (status !== undefined) j.status = status;
    if (startedAt !== undefined) j.startedAt = startedAt;
    if (finishedAt !== undefined) j.finishedAt = finishedAt;
    const { outcome: said, raw } = outcomeOf(exec);
    if (raw !== undefined) j.virtuosoOutcome = raw;

    const cases = listField(exec, ['cases', 'journey.cases', 'testCases', 'checkpoints']) ?? [];
    j.checkpoints = merge(builtCheckpoints, cases, (d) => d.checkpointId, (e) => idsOf(e, CASE_ID_FIELDS)).map((m) =>
      buildCheckpoint(appUrl, m.def, m.exec, undefined),
    );
    const durationMs = durationOf(exec) ?? (j.checkpoints.some((c) => c.durationMs !== undefined) ? j.checkpoints.reduce((t, c) => t + (c.durationMs ?? 0), 0) : undefined);
    if (durationMs !== undefined) j.durationMs = durationMs;

    const counts = countCheckpoints(j.checkpoints);
    if (counts.failed > 0 || said === 'failed') j.outcome = 'failed';
    else if (counts.unknown > 0) j.outcome = 'unknown';
    else if (j.checkpoints.length === 0) {
      j.outcome = said;
      if (said === 'unknown') j.error = raw === undefined ? `Virtuoso reported no outcome for the journey${statusNote(exec)}` : `Unrecognised journey outcome "${raw}"`;
    } else j.outcome = counts.passed > 0 ? 'passed' : 'skipped';
  }
  const counts = countCheckpoints(j.checkpoints);
  j.counts = { checkpoints: j.checkpoints.length, steps: j.checkpoints.reduce((t, c) => t + c.steps.length, 0), ...counts };
  return j;
}

/** The execution map of a job, tolerating an un-unwrapped `{success, map}` envelope. */
function executionMap(v: unknown): Obj | undefined {
  if (!isObj(v)) return undefined;
  if (isObj(v.map) && ('success' in v || Object.keys(v).every((k) => ['map', 'total'].includes(k)))) return v.map;
  return v;
}

function buildGoal(input: ReportInput, def: BuiltGoal): GoalReport {
  const appUrl = input.run.appUrl;
  const goal: GoalReport = { name: def.name, outcome: 'unknown', journeys: [] };
  if (def.goalId !== undefined) {
    goal.goalId = def.goalId;
    goal.link = link(appUrl, 'goal', def.goalId);
  }
  if (def.snapshotId !== undefined) goal.snapshotId = def.snapshotId;
  if (def.jobId !== undefined) goal.jobId = def.jobId;

  const map = def.jobId === undefined ? undefined : executionMap(Object.prototype.hasOwnProperty.call(input.executions, def.jobId) ? input.executions[def.jobId] : undefined);
  if (!map) {
    goal.error = def.jobId === undefined ? 'The goal was not executed (no job id)' : `No execution report for job ${def.jobId}`;
    goal.journeys = def.journeys.map((j) => buildJourney(appUrl, def.jobId, j, undefined, goal.error));
  } else {
    const entries = Object.keys(map)
      .filter((key) => isObj(map[key]))
      .map((key) => {
        const entry = map[key] as Obj;
        const ids: readonly (string | undefined)[] = idsOf(entry, JOURNEY_ID_FIELDS);
        return { key, entry, ids };
      });
    const usedKeys = new Set<string>();
    for (const j of def.journeys) {
      const id = j.journeyId; // undefined matches no key and no id
      const found =
        entries.find((e) => !usedKeys.has(e.key) && e.key.trim() === id) ?? entries.find((e) => !usedKeys.has(e.key) && e.ids.includes(id));
      if (found) usedKeys.add(found.key);
      goal.journeys.push(buildJourney(appUrl, def.jobId, j, found?.entry, undefined));
    }
    // Journeys of the job that the run did not build (Virtuoso ran the whole goal).
    for (const e of entries) {
      if (usedKeys.has(e.key)) continue;
      const journey = buildJourney(appUrl, def.jobId, undefined, e.entry, undefined);
      if (journey.journeyId === undefined) {
        const key = idStr(e.key);
        if (key !== undefined) {
          journey.journeyId = key;
          journey.link = link(appUrl, 'journey', key);
        }
      }
      goal.journeys.push(journey);
    }
  }

  const outcomes = goal.journeys.map((j) => j.outcome);
  if (outcomes.includes('failed')) goal.outcome = 'failed';
  else if (outcomes.includes('unknown')) goal.outcome = 'unknown'; // so are all journeys of a goal without an execution
  else if (outcomes.length > 0 && outcomes.every((o) => o === 'skipped')) goal.outcome = 'skipped';
  else if (outcomes.length === 0) goal.outcome = 'unknown';
  else goal.outcome = 'passed';
  if (outcomes.length === 0 && goal.error === undefined) goal.error = 'Neither the definition nor the execution has a journey for this goal';
  return goal;
}

export function buildReport(input: ReportInput): RunReport {
  const goals = input.goals.map((g) => buildGoal(input, g));
  const journeys = goals.flatMap((g) => g.journeys);
  const checkpoints = journeys.flatMap((j) => j.checkpoints);
  const steps = checkpoints.flatMap((c) => c.steps);
  const counts = countCheckpoints(checkpoints);
  const stepCounts = zeroCounts();
  for (const s of steps) stepCounts[s.outcome]++;

  const start = timeOf(input.run.startedAt) ?? timeOf(input.run.createdAt);
  const end = timeOf(input.run.finishedAt);
  const durationMs = start !== undefined && end !== undefined ? Math.max(0, end - start) : 0;

  // A failed or unknown checkpoint makes its journey so, and a journey its goal.
  const failed = goals.some((g) => g.outcome === 'failed' || g.outcome === 'unknown');

  const report: RunReport = {
    schemaVersion: 1,
    run: {
      id: input.run.id,
      name: input.run.name,
      createdAt: input.run.createdAt,
      ...(input.run.startedAt !== undefined ? { startedAt: input.run.startedAt } : {}),
      finishedAt: input.run.finishedAt,
    },
    outcome: failed ? 'failed' : 'passed',
    counts: { journeys: journeys.length, checkpoints: checkpoints.length, steps: steps.length, ...counts },
    stepCounts,
    durationMs,
    goals,
  };
  if (input.projectId !== undefined) {
    report.projectId = input.projectId;
    report.projectLink = link(input.run.appUrl, 'project', input.projectId);
  }
  return report;
}
