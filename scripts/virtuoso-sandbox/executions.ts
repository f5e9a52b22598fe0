/**
 * Simulated executions. A job goes LAUNCHED (on POST .../execute) → STARTED (after executionMs/3)
 * → FINISHED (after executionMs). The outcome is decided at launch from the steps as they are then,
 * deterministically: a step whose value or selector clue contains the text `FAIL` fails; a failing
 * step that is neither optional nor ignoreOutcome fails its checkpoint and journey, and the rest of
 * that journey is SKIPPED (as a real run stops). Skipped steps (`skip: true`) are SKIPPED.
 *
 * Each state change is sent to the webhook URL (when set). The body is our simulation of a partly
 * known schema (VIRTUOSO_API.md §1.7 names only the states):
 *
 *   {"event":"EXECUTION","status":"LAUNCHED"|"STARTED"|"FINISHED","jobId":<number>,
 *    "projectId":<number>,"goalId":<number>,"snapshotId":<number>,"journeyIds":[<number>...],
 *    "outcome":"PASS"|"FAIL" (FINISHED only),"timestamp":"<ISO 8601>"}
 */
import { notFound } from './http';
import type { Goal, Journey, SandboxState, Snapshot } from './model';
import { stepTexts } from './steps';
import type { WebhookSender } from './webhooks';

export type JobStatus = 'LAUNCHED' | 'STARTED' | 'FINISHED';
export type Outcome = 'PASS' | 'FAIL' | 'SKIP';

interface StepRun {
  stepExecutionId: number;
  stepId: number;
  canonicalId: string;
  action: string;
  value: string;
  outcome: Outcome;
  error?: string;
  clue?: string;
}
interface CaseRun {
  checkpointId: number;
  title: string;
  outcome: Outcome;
  steps: StepRun[];
}
interface JourneyRun {
  journeyId: number;
  name: string;
  title: string;
  canonicalId: string;
  outcome: Outcome;
  cases: CaseRun[];
}

export interface Job {
  id: number;
  projectId: number;
  goalId: number;
  snapshotId: number;
  status: JobStatus;
  /** Decided at launch, revealed when FINISHED. */
  plannedOutcome: 'PASS' | 'FAIL';
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  journeys: JourneyRun[];
}

export class Executions {
  readonly jobs = new Map<number, Job>();
  private readonly stepRuns = new Map<number, { job: Job; journey: JourneyRun; kase: CaseRun; step: StepRun }>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly state: SandboxState,
    private readonly executionMs: number,
    private readonly webhooks?: WebhookSender,
  ) {}

  launch(goal: Goal, snapshot: Snapshot, journeys: Journey[]): Job {
    const job: Job = {
      id: this.state.nextId('job'), projectId: goal.projectId, goalId: goal.id, snapshotId: snapshot.snapshotId,
      status: 'LAUNCHED', plannedOutcome: 'PASS', createdAt: new Date().toISOString(), journeys: [],
    };
    for (const j of journeys) {
      const run: JourneyRun = { journeyId: j.id, name: j.name, title: j.title, canonicalId: j.canonicalId, outcome: 'PASS', cases: [] };
      let stopped = false;
      for (const cid of j.caseIds) {
        const cp = this.state.checkpoints.get(cid)!;
        const kase: CaseRun = { checkpointId: cp.id, title: cp.title, outcome: stopped ? 'SKIP' : 'PASS', steps: [] };
        for (const sid of cp.stepIds) {
          const s = this.state.steps.get(sid)!;
          const clue = clueOf(s.target);
          const step: StepRun = { stepExecutionId: this.state.nextId('stepExecution'), stepId: s.id, canonicalId: s.canonicalId, action: s.action, value: s.value, outcome: 'PASS', ...(clue ? { clue } : {}) };
          if (stopped || s.skip) step.outcome = 'SKIP';
          else if (stepTexts(s).some((t) => t.includes('FAIL'))) {
            step.outcome = 'FAIL';
            step.error = clue ? `Could not find an element matching "${clue}"` : `${s.action} failed`;
            if (!s.optional && !s.ignoreOutcome) {
              kase.outcome = 'FAIL';
              run.outcome = 'FAIL';
              job.plannedOutcome = 'FAIL';
              stopped = true;
            }
          }
          kase.steps.push(step);
          this.stepRuns.set(step.stepExecutionId, { job, journey: run, kase, step });
        }
        run.cases.push(kase);
      }
      job.journeys.push(run);
    }
    this.jobs.set(job.id, job);
    this.notify(job);
    this.after(Math.round(this.executionMs / 3), () => {
      job.status = 'STARTED';
      job.startedAt = new Date().toISOString();
      this.notify(job);
    });
    this.after(this.executionMs, () => {
      job.status = 'FINISHED';
      job.finishedAt = new Date().toISOString();
      this.notify(job);
    });
    return job;
  }

  job(id: number | undefined): Job {
    const job = id === undefined ? undefined : this.jobs.get(id);
    if (!job) throw notFound('Job');
    return job;
  }

  /** The answer of POST .../execute. */
  jobView(job: Job) {
    return {
      id: job.id, projectId: job.projectId, goalId: job.goalId, snapshotId: job.snapshotId, status: job.status,
      outcome: job.status === 'FINISHED' ? job.plannedOutcome : null, createdAt: job.createdAt,
      startDate: job.startedAt ?? null, endDate: job.finishedAt ?? null, suiteIds: job.journeys.map((j) => j.journeyId),
    };
  }

  /** GET /testsuites/latest_status?jobId=: a map keyed by journey id. */
  statusMap(job: Job): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    for (const run of job.journeys) {
      const journey = this.state.journeys.get(run.journeyId);
      map[String(run.journeyId)] = {
        journey: journey ? this.state.journeyView(journey) : { id: run.journeyId, name: run.name, title: run.title },
        jobId: job.id, status: job.status, outcome: job.status === 'FINISHED' ? run.outcome : null,
        startDate: job.startedAt ?? null, endDate: job.finishedAt ?? null,
        lastChange: { date: job.finishedAt ?? job.startedAt ?? job.createdAt },
      };
    }
    return map;
  }

  /** GET /testsuites/execution: per journey, checkpoint and step; outcomes null until FINISHED. */
  report(job: Job, suiteIds: number[]): Record<string, unknown> {
    const done = job.status === 'FINISHED';
    const map: Record<string, unknown> = {};
    for (const run of job.journeys) {
      if (suiteIds.length && !suiteIds.includes(run.journeyId)) continue;
      map[String(run.journeyId)] = {
        id: run.journeyId, jobId: job.id, name: run.name, title: run.title, canonicalId: run.canonicalId,
        status: job.status, outcome: done ? run.outcome : null, startDate: job.startedAt ?? null, endDate: job.finishedAt ?? null,
        cases: run.cases.map((c) => ({
          id: c.checkpointId, title: c.title, outcome: done ? c.outcome : null,
          steps: c.steps.map((s) => ({
            id: s.stepId, stepExecutionId: s.stepExecutionId, canonicalId: s.canonicalId, action: s.action, value: s.value,
            outcome: done ? s.outcome : null, ...(done && s.error ? { error: { message: s.error } } : {}),
          })),
        })),
      };
    }
    return map;
  }

  /** GET /executions/{job}/suites/{j}/cases/{c}/steps/{s}. */
  stepDetail(jobId: number | undefined, journeyId: number | undefined, checkpointId: number | undefined, stepId: number | undefined) {
    const job = this.job(jobId);
    const run = job.journeys.find((j) => j.journeyId === journeyId);
    const kase = run?.cases.find((c) => c.checkpointId === checkpointId);
    const step = kase?.steps.find((s) => s.stepId === stepId);
    if (!run || !kase || !step) throw notFound('Step execution');
    const done = job.status === 'FINISHED';
    return {
      id: step.stepExecutionId, jobId: job.id, suiteId: run.journeyId, caseId: kase.checkpointId, stepId: step.stepId,
      action: step.action, value: step.value, selector: step.clue ?? null, status: job.status,
      outcome: done ? step.outcome : null, error: done && step.error ? { message: step.error } : null,
    };
  }

  /** GET /executions/analysis/{stepExecutionId}. */
  analysis(id: number | undefined, includeAI: boolean) {
    const found = id === undefined ? undefined : this.stepRuns.get(id);
    if (!found) throw notFound('Execution analysis');
    const { job, step } = found;
    const done = job.status === 'FINISHED';
    const failed = done && step.outcome === 'FAIL';
    return {
      id: step.stepExecutionId, jobId: job.id, stepId: step.stepId, outcome: done ? step.outcome : null,
      failureReason: failed ? step.error : null,
      ...(includeAI ? { ai: { summary: failed ? `The step failed: ${step.error}. Check the selector or the page state.` : 'No failure to explain.' } } : {}),
    };
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private notify(job: Job): void {
    void this.webhooks?.send({
      event: 'EXECUTION', status: job.status, jobId: job.id, projectId: job.projectId, goalId: job.goalId, snapshotId: job.snapshotId,
      journeyIds: job.journeys.map((j) => j.journeyId),
      ...(job.status === 'FINISHED' ? { outcome: job.plannedOutcome } : {}),
      timestamp: new Date().toISOString(),
    });
  }
}

function clueOf(target: Record<string, unknown> | undefined): string | undefined {
  const sel = Array.isArray(target?.selectors) ? (target.selectors[0] as { value?: unknown }) : undefined;
  if (typeof sel?.value !== 'string') return undefined;
  try {
    const clue = (JSON.parse(sel.value) as { clue?: unknown }).clue;
    return typeof clue === 'string' ? clue : sel.value;
  } catch {
    return sel.value;
  }
}
