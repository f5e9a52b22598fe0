/**
 * The plan of a test run: every Virtuoso operation that builds a definition, with the operations
 * each one must wait for. The worker runs it as a dependency graph (many chains at once), a dry run
 * shows it, and the benchmark reads its critical path (the longest chain of calls that must happen
 * one after another).
 *
 * Virtuoso's object model decides the edges (VIRTUOSO_API.md §1.3, §3.1):
 * - the project (found by name and reused, or created) comes first;
 * - a goal is created with its first journey ("Suite 1") and that journey's navigation checkpoint;
 *   the snapshot id comes from /versions; one read of the goal's journeys finds both;
 * - the first journey of the definition reuses "Suite 1" (renamed), and its first checkpoint is the
 *   navigation checkpoint (no call);
 * - other journeys are created; other checkpoints are created, then attached in order (each attach
 *   takes the next position, so a journey's attaches run one after another);
 * - the steps of a checkpoint are appended one after another (each goes after the previous), but a
 *   checkpoint's steps do not wait for its attach;
 * - each goal is executed once all of its operations are done.
 *
 * Operation keys are short and free of dots, because they are Firestore field names in the run's
 * `ids` map: `p`, `g0`, `g0snap`, `g0suite`, `g0j1`, `g0j1c2`, `g0j1c2at`, `g0j1c2s4`, `g0exec`.
 */
import type { TestDefinition } from './definition';

/** What every operation has, whatever its kind. */
interface OperationBase {
  key: string;
  deps: string[];
  /** Virtuoso calls on a fresh run (for the critical path). */
  calls: number;
  /** For a dry run: what it does, in Virtuoso's terms. */
  describe: string;
  /** Where in the definition: `goals[0].journeys[1].checkpoints[2].steps[4]`. */
  at: string;
}
/** Positions in the definition: goal, journey, checkpoint, step. */
interface InGoal {
  g: number;
}
interface InJourney extends InGoal {
  j: number;
}
interface InCheckpoint extends InJourney {
  c: number;
}
interface InCheckpointStep extends InCheckpoint {
  s: number;
}

/** One type per kind, each with the positions it needs (operations.ts has a handler per kind). */
export type Operation =
  | (OperationBase & { kind: 'project' })
  | (OperationBase & InGoal & { kind: 'goal' })
  | (OperationBase & InGoal & { kind: 'snapshot' })
  | (OperationBase & InGoal & { kind: 'suite' })
  | (OperationBase & InJourney & { kind: 'renameJourney' })
  | (OperationBase & InJourney & { kind: 'createJourney' })
  | (OperationBase & InCheckpoint & { kind: 'createCheckpoint' })
  | (OperationBase & InCheckpoint & { kind: 'attach' })
  | (OperationBase & InCheckpointStep & { kind: 'step' })
  | (OperationBase & InGoal & { kind: 'execute' });
export type OpKind = Operation['kind'];
export type OperationOf<K extends OpKind> = Extract<Operation, { kind: K }>;

export interface Plan {
  operations: Operation[];
  /** The longest chain of dependent Virtuoso calls. */
  criticalPathCalls: number;
  /** Each operation's longest remaining chain (`remainingPath`): the order the worker starts them in. */
  remaining: Map<string, number>;
  totals: { operations: number; calls: number; goals: number; journeys: number; checkpoints: number; steps: number };
}

export const keys = {
  project: 'p',
  goal: (g: number) => `g${g}`,
  snapshot: (g: number) => `g${g}snap`,
  suite: (g: number) => `g${g}suite`,
  /** The goal's navigation checkpoint (found by the suite read). */
  nav: (g: number) => `g${g}nav`,
  /** How many steps the navigation checkpoint had before the run added any. */
  navBase: (g: number) => `g${g}navbase`,
  journey: (g: number, j: number) => `g${g}j${j}`,
  checkpoint: (g: number, j: number, c: number) => `g${g}j${j}c${c}`,
  attach: (g: number, j: number, c: number) => `g${g}j${j}c${c}at`,
  step: (g: number, j: number, c: number, s: number) => `g${g}j${j}c${c}s${s}`,
  execute: (g: number) => `g${g}exec`,
  isExecute: (key: string) => /^g\d+exec$/.test(key),
  /** Ids of same-named goals that were in a reused project before the run (never adopted). */
  knownGoals: 'pgoals',
};

/** The first checkpoint of the first journey is the goal's navigation checkpoint: nothing to create. */
export const isNavigationCheckpoint = (j: number, c: number) => j === 0 && c === 0;

export function buildPlan(def: TestDefinition, options: { execute: boolean }): Plan {
  const ops: Operation[] = [];
  const add = (op: Operation) => ops.push(op);
  const projectText = def.project.id ? `project ${def.project.id} (checked)` : `project '${def.project.name}' (reused if it exists, else created)`;
  add({ key: keys.project, kind: 'project', deps: [], calls: 2, describe: `find ${projectText}; list its goals`, at: 'project' });

  def.goals.forEach((goal, g) => {
    const goalAt = `goals[${g}]`;
    const goalOps: string[] = [];
    const push = (op: Operation) => {
      add(op);
      goalOps.push(op.key);
    };
    push({ key: keys.goal(g), kind: 'goal', deps: [keys.project], calls: 1, describe: `POST /goals {name: '${goal.name}', url: '${goal.url}', createFirstJourney: true}`, at: goalAt, g });
    push({ key: keys.snapshot(g), kind: 'snapshot', deps: [keys.goal(g)], calls: 1, describe: 'GET /goals/{goal}/versions → snapshot id', at: goalAt, g });
    push({ key: keys.suite(g), kind: 'suite', deps: [keys.snapshot(g)], calls: 1, describe: "GET /testsuites/latest_status → journey 'Suite 1' and its navigation checkpoint", at: goalAt, g });

    goal.journeys.forEach((journey, j) => {
      const jAt = `${goalAt}.journeys[${j}]`;
      const jKey = keys.journey(g, j);
      if (j === 0) push({ key: jKey, kind: 'renameJourney', deps: [keys.suite(g)], calls: 1, describe: `PUT /testsuites/{Suite 1} {title: '${journey.name}'}`, at: jAt, g, j });
      else push({ key: jKey, kind: 'createJourney', deps: [keys.snapshot(g)], calls: 1, describe: `POST /testsuites {title: '${journey.name}'}`, at: jAt, g, j });

      // New journeys start with the goal's navigation checkpoint at position 1 (§3.1).
      let previousAttach: string | undefined;
      journey.checkpoints.forEach((checkpoint, c) => {
        const cAt = `${jAt}.checkpoints[${c}]`;
        const cKey = keys.checkpoint(g, j, c);
        let ready: string;
        if (isNavigationCheckpoint(j, c)) {
          ready = keys.suite(g);
        } else {
          push({ key: cKey, kind: 'createCheckpoint', deps: [keys.snapshot(g)], calls: 1, describe: `POST /testcases {title: '${checkpoint.name}'}`, at: cAt, g, j, c });
          const position = j === 0 ? c + 1 : c + 2;
          const aKey = keys.attach(g, j, c);
          push({
            key: aKey, kind: 'attach', deps: [cKey, jKey, ...(previousAttach ? [previousAttach] : [])], calls: 1,
            describe: `POST /testsuites/{journey}/checkpoints/attach {position: ${position}}`, at: cAt, g, j, c,
          });
          previousAttach = aKey;
          ready = cKey;
        }
        let previousStep = ready;
        checkpoint.steps.forEach((step, s) => {
          const sKey = keys.step(g, j, c, s);
          push({
            key: sKey, kind: 'step', deps: [previousStep], calls: 1,
            describe: `POST /teststeps ${step.parsedStep.action} (${step.label})`, at: `${cAt}.steps[${s}]`, g, j, c, s,
          });
          previousStep = sKey;
        });
      });
    });
    if (options.execute) {
      add({ key: keys.execute(g), kind: 'execute', deps: goalOps, calls: 1, describe: 'POST /goals/{goal}/snapshots/{snapshot}/execute', at: goalAt, g });
    }
  });

  const journeys = def.goals.reduce((n, g) => n + g.journeys.length, 0);
  const checkpoints = def.goals.reduce((n, g) => n + g.journeys.reduce((m, j) => m + j.checkpoints.length, 0), 0);
  const remaining = remainingPath(ops);
  return {
    operations: ops,
    criticalPathCalls: Math.max(0, ...remaining.values()),
    remaining,
    totals: { operations: ops.length, calls: ops.reduce((n, o) => n + o.calls, 0), goals: def.goals.length, journeys, checkpoints, steps: def.totalSteps },
  };
}

/**
 * For each operation, the calls on the longest chain from it to the end, itself included: the
 * worker starts the operations with the longest remaining chain first.
 */
export function remainingPath(ops: readonly Operation[]): Map<string, number> {
  const dependents = new Map<string, Operation[]>();
  for (const op of ops) for (const d of op.deps) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(op);
  const memo = new Map<string, number>();
  // Operations are listed after their dependencies, so walking backwards sees dependents first.
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i];
    const after = (dependents.get(op.key) ?? []).reduce((m, d) => Math.max(m, memo.get(d.key) ?? 0), 0);
    memo.set(op.key, op.calls + after);
  }
  return memo;
}
