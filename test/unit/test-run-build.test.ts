/**
 * The build scheduler (shared/testruns/build.ts) with the handlers of shared/testruns/operations.ts,
 * against an in-memory Virtuoso (test/helpers/in-memory-virtuoso.ts), a recorder that keeps the
 * run's document in memory, and claims in a map: fresh builds, concurrency and order, stops, crashes
 * and the resumes after them (nothing created twice).
 */
import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { Logger } from '../../shared/log';
import { buildRun, type BuildInput, type BuildResult } from '../../shared/testruns/build';
import { parseDefinition, type TestDefinition } from '../../shared/testruns/definition';
import { buildPlan, type Plan } from '../../shared/testruns/plan';
import { recordedIds } from '../../shared/testruns/store';
import { InMemoryVirtuoso, refusedStep, timeout } from '../helpers/in-memory-virtuoso';

const ORG = 2242;

/** One goal: a reused first journey (navigation checkpoint with two steps, then Cart with two) and a second journey. */
function definition(options: Record<string, unknown> = {}): TestDefinition {
  return parseDefinition({
    name: 'Run',
    project: 'Shop',
    options,
    goals: [
      {
        name: 'Store',
        url: 'https://shop.example.com',
        journeys: [
          {
            name: 'Buy',
            checkpoints: [
              { name: 'Home', steps: [{ click: 'Login' }, { key: 'Enter' }] },
              { name: 'Cart', steps: [{ click: 'Add' }, { key: 'Tab' }] },
            ],
          },
          { name: 'Search', checkpoints: [{ name: 'Find', steps: [{ key: 'Enter' }] }] },
        ],
      },
    ],
  });
}

/** The run's Firestore document, kept in memory: what a resumed attempt reads back. */
class MemoryRecorder {
  doc: Record<string, unknown> = {};
  abandoned = false;
  flushes = 0;
  set(fields: Record<string, unknown>): void {
    if (!this.abandoned) Object.assign(this.doc, fields);
  }
  async flush(): Promise<void> {
    this.flushes++;
  }
  abandon(): void {
    this.abandoned = true;
  }
  /** What store.ts's recordedIds reads from the document: `ids.<key>` fields and `steps.<checkpoint>` lists. */
  ids(): Record<string, string> {
    const ids: Record<string, string> = {};
    const steps: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.doc)) {
      if (k.startsWith('ids.')) ids[k.slice(4)] = v as string;
      if (k.startsWith('steps.')) steps[k.slice(6)] = v as string;
    }
    return recordedIds({ ids, steps });
  }
  refused(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.doc).filter(([k]) => k.startsWith('refused.')).map(([k, v]) => [k.slice(8), v as string]));
  }
  executeSentAt(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.doc).filter(([k]) => k.startsWith('executeSentAt.')).map(([k, v]) => [k.slice(14), v as string]));
  }
}

interface Harness {
  api: InMemoryVirtuoso;
  recorder: MemoryRecorder;
  claims: Map<string, string>;
  def: TestDefinition;
  plan: Plan;
  /** One attempt; a later one resumes from what the recorder holds. */
  attempt(overrides?: Partial<BuildInput>): Promise<BuildResult>;
}

const harnesses: InMemoryVirtuoso[] = [];
function harness(def = definition(), execute = true): Harness {
  const api = new InMemoryVirtuoso();
  harnesses.push(api);
  const recorder = new MemoryRecorder();
  const claims = new Map<string, string>();
  const plan = buildPlan(def, { execute });
  let attempts = 0;
  return {
    api, recorder, claims, def, plan,
    attempt(overrides = {}) {
      attempts++;
      return buildRun({
        runId: 'run-1', def, plan, api, orgId: ORG,
        ids: recorder.ids(), refused: recorder.refused(), executeSentAt: recorder.executeSentAt(),
        resume: attempts > 1, recorder,
        // claims.ts: the first run to claim a goal owns it.
        claimGoal: async (goalId, runId) => (claims.get(goalId) ?? claims.set(goalId, runId).get(goalId)) === runId,
        concurrency: 4, stopReason: () => undefined, beforeExecute: async () => undefined,
        log: new Logger({ test: 'build' }),
        ...overrides,
      });
    },
  };
}

/** What Virtuoso holds for the project: goal names, and per journey its checkpoints (title: step actions). */
function built(api: InMemoryVirtuoso) {
  const s = api.state;
  return {
    projects: [...s.projects.values()].map((p) => p.name),
    goals: [...s.goals.values()].map((g) => g.name),
    journeys: [...s.journeys.values()].map((j) => ({
      title: j.title,
      checkpoints: j.caseIds.map((id) => {
        const c = s.checkpoint(id);
        return `${c.title}: ${c.stepIds.map((sid) => s.step(sid).action).join(' ')}`;
      }),
    })),
  };
}

const EXPECTED_BUILD = {
  projects: ['Shop'],
  goals: ['Store'],
  journeys: [
    { title: 'Buy', checkpoints: ['Navigation: NAVIGATE CLICK KEY', 'Cart: CLICK KEY'] },
    { title: 'Search', checkpoints: ['Navigation: NAVIGATE CLICK KEY', 'Find: KEY'] },
  ],
};

async function rejected(p: Promise<unknown>): Promise<AppError | Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the build to fail');
}

describe('test-run build (scheduler and operations, in-memory Virtuoso)', () => {
  afterEach(() => {
    for (const api of harnesses.splice(0)) api.close();
  });

  it('builds a definition: every operation once, every id recorded, steps as lists per checkpoint', async () => {
    const h = harness();
    const result = await h.attempt();
    assert.equal(result.outcome, 'done');
    assert.deepEqual(built(h.api), EXPECTED_BUILD);
    const ids = (result as { ids: Record<string, string> }).ids;
    for (const op of h.plan.operations) assert.ok(ids[op.key], `no id for ${op.key}`);
    assert.deepEqual(h.recorder.ids(), ids, 'the document holds every id, read back as keyed');
    assert.equal(h.recorder.doc['steps.g0j0c0'], `${ids.g0j0c0s0},${ids.g0j0c0s1}`);
    assert.equal(h.recorder.doc['progress.stepsCreated'], 5);
    assert.equal(h.recorder.doc['progress.operationsDone'], h.plan.operations.length);
    assert.deepEqual(h.recorder.doc.jobIds, [ids.g0exec]);
    assert.deepEqual(h.recorder.doc[`jobs.${ids.g0exec}`], { goal: 0, status: 'LAUNCHED' });
    assert.equal(typeof h.recorder.doc['executeSentAt.0'], 'string');
    // The navigation checkpoint had one step (NAVIGATE) before the run added any.
    assert.equal(ids.g0navbase, '1');
    assert.equal(ids.g0nav, ids.g0j0c0);
    for (const call of ['POST /projects', 'POST /goals', 'POST /testsuites']) assert.equal(h.api.count(call), 1, call);
    assert.equal(h.api.count('POST /testcases'), 2);
    assert.equal(h.api.count('POST /teststeps'), 5);
  });

  it('makes at most `concurrency` calls at once', async () => {
    for (const concurrency of [1, 3]) {
      const h = harness();
      assert.equal((await h.attempt({ concurrency })).outcome, 'done');
      assert.equal(h.api.maxInFlight, concurrency, `concurrency ${concurrency}`);
    }
  });

  it('starts the ready operation with the longest chain behind it first', async () => {
    const h = harness();
    await h.attempt({ concurrency: 1 });
    // After the snapshot, four calls remain behind the suite read (the renamed journey, the Cart
    // attach, the execution) and behind the Cart checkpoint (its two steps, the execution); three
    // behind the second journey: it waits, though it comes before Cart's steps in the plan.
    assert.deepEqual(h.api.calls.slice(0, 6), ['GET /projects', 'POST /projects', 'POST /goals', 'GET /goals/2001/versions', 'GET /testsuites/latest_status', 'POST /testcases']);
  });

  it('without execution, builds everything and starts nothing', async () => {
    const h = harness(definition(), false);
    assert.equal((await h.attempt()).outcome, 'done');
    assert.deepEqual(built(h.api), EXPECTED_BUILD);
    assert.equal(h.api.executions.jobs.size, 0);
  });

  it('stops between operations when asked, and starts nothing more', async () => {
    const h = harness();
    let asked = 0;
    const result = await h.attempt({ concurrency: 1, stopReason: () => (++asked > 3 ? 'cancelled' : undefined) });
    assert.deepEqual(result, { outcome: 'stopped', reason: 'cancelled' });
    assert.deepEqual(h.api.calls, ['GET /projects', 'POST /projects', 'POST /goals', 'GET /goals/2001/versions'], 'three operations, then none');
  });

  it('does not execute when asked not to just before (the run was cancelled meanwhile)', async () => {
    const h = harness();
    const result = await h.attempt({ beforeExecute: async () => 'superseded' });
    assert.deepEqual(result, { outcome: 'stopped', reason: 'superseded' });
    assert.equal(h.api.executions.jobs.size, 0);
    assert.equal(h.api.count('POST /goals/2001/snapshots/3001/execute'), 0);
  });

  it('an abort (a crash) stops at once, writes nothing more and calls Virtuoso no more', async () => {
    const h = harness();
    const crash = new AbortController();
    h.api.after = (call) => {
      if (call === 'POST /testcases') crash.abort();
    };
    const result = await h.attempt({ signal: crash.signal });
    assert.deepEqual(result, { outcome: 'stopped', reason: 'abandoned' });
    assert.ok(h.recorder.abandoned);
    const callsAtCrash = h.api.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(h.api.calls.length, callsAtCrash, 'nothing in flight goes on calling');
    assert.equal(h.recorder.doc['ids.g0j0c1'], undefined, 'the answer of the call that crashed is not recorded');
  });

  it('a failure names the place in the definition and stops the build', async () => {
    const h = harness();
    h.api.before = (call) => {
      if (call === 'POST /testcases') throw timeout(call);
    };
    const err = (await rejected(h.attempt({ concurrency: 1 }))) as AppError;
    assert.ok(err instanceof AppError);
    assert.equal(err.code, 'unavailable');
    assert.ok(err.retryable);
    assert.match(err.message, /^goals\[0\]\.journeys\[0\]\.checkpoints\[1\]: /);
    assert.deepEqual(err.details, { at: 'goals[0].journeys[0].checkpoints[1]', operation: "POST /testcases {title: 'Cart'}" });
    assert.equal(h.api.count('POST /testcases'), 1, 'nothing started after the failure');
  });

  it('a plan whose operations wait on each other is an internal error, not a silent success', async () => {
    const h = harness();
    const plan: Plan = { ...h.plan, operations: h.plan.operations.map((op) => (op.key === 'g0' ? { ...op, deps: ['p', 'nowhere'] } : op)) };
    const err = (await rejected(h.attempt({ plan }))) as AppError;
    assert.equal(err.code, 'internal');
    assert.match(err.message, /^The plan could not finish: \d+ operations are waiting on each other$/);
  });

  describe('resume: what an attempt created but could not record is adopted, nothing is created twice', () => {
    /** First attempt: `call`'s answer is lost (Virtuoso acted); the second attempt resumes. */
    async function lostAnswer(call: string, def = definition()) {
      const h = harness(def);
      let lost = false;
      h.api.after = (c) => {
        if (c === call && !lost) {
          lost = true;
          throw timeout(c);
        }
      };
      await rejected(h.attempt({ concurrency: 1 }));
      assert.ok(lost, `${call} was made`);
      const result = await h.attempt({ concurrency: 1 });
      assert.equal(result.outcome, 'done');
      return { h, result };
    }

    it('a step', async () => {
      const { h } = await lostAnswer('POST /teststeps');
      assert.deepEqual(built(h.api), EXPECTED_BUILD);
      assert.equal(h.api.count('POST /teststeps'), 5);
      assert.equal(h.recorder.doc['progress.stepsCreated'], 5);
    });

    it('a goal (claimed for this run)', async () => {
      const { h } = await lostAnswer('POST /goals');
      assert.deepEqual(built(h.api), EXPECTED_BUILD);
      assert.equal(h.api.count('POST /goals'), 1);
      assert.deepEqual([...h.claims.values()], ['run-1']);
    });

    it('a journey', async () => {
      const { h } = await lostAnswer('POST /testsuites');
      assert.deepEqual(built(h.api), EXPECTED_BUILD);
      assert.equal(h.api.count('POST /testsuites'), 1);
    });

    it('a checkpoint', async () => {
      const { h } = await lostAnswer('POST /testcases');
      assert.deepEqual(built(h.api), EXPECTED_BUILD);
      assert.equal(h.api.count('POST /testcases'), 2);
    });

    it('an attach', async () => {
      const { h } = await lostAnswer('POST /testsuites/4001/checkpoints/attach');
      assert.deepEqual(built(h.api), EXPECTED_BUILD);
      assert.equal(h.api.count('POST /testsuites/4001/checkpoints/attach'), 1);
    });

    it('an execution', async () => {
      const { h, result } = await lostAnswer('POST /goals/2001/snapshots/3001/execute');
      assert.equal(h.api.executions.jobs.size, 1);
      assert.equal(h.api.count('POST /goals/2001/snapshots/3001/execute'), 1);
      assert.equal((result as { ids: Record<string, string> }).ids.g0exec, String([...h.api.executions.jobs.keys()][0]));
    });

    it('never a same-named goal that another run claimed', async () => {
      const h = harness();
      h.api.after = (c) => {
        if (c === 'POST /goals' && h.api.count(c) === 1) {
          h.claims.set('2001', 'another-run'); // another run's resume claimed it first
          throw timeout(c);
        }
      };
      await rejected(h.attempt());
      assert.equal((await h.attempt()).outcome, 'done');
      assert.deepEqual(built(h.api).goals, ['Store', 'Store']);
      assert.equal(h.recorder.ids().g0, '2002');
    });

    it('gives up on a goal after three created ones were all claimed by other runs', async () => {
      const h = harness();
      const err = (await rejected(h.attempt({ claimGoal: async () => false }))) as AppError;
      assert.equal(err.code, 'conflict');
      assert.match(err.message, /^goals\[0\]: goals\[0\]: could not create a goal this run owns$/);
      assert.equal(h.api.count('POST /goals'), 3);
    });
  });

  describe('continueOnError', () => {
    it('records a step Virtuoso refuses and goes on', async () => {
      const h = harness(definition({ continueOnError: true }));
      h.api.before = (call) => {
        if (call === 'POST /teststeps' && h.api.count(call) === 1) throw refusedStep(call);
      };
      assert.equal((await h.attempt({ concurrency: 1 })).outcome, 'done');
      const refused = h.recorder.refused();
      assert.deepEqual(Object.keys(refused), ['g0j0c0s0']);
      assert.match(refused.g0j0c0s0, /Invalid test step command/);
      assert.equal(h.recorder.doc['progress.stepsCreated'], 4);
    });

    it('without it, a refused step fails the run, naming the step', async () => {
      const h = harness();
      h.api.before = (call) => {
        if (call === 'POST /teststeps') throw refusedStep(call);
      };
      const err = (await rejected(h.attempt({ concurrency: 1 }))) as AppError;
      assert.equal(err.code, 'unprocessable_entity');
      assert.match(err.message, /^goals\[0\]\.journeys\[0\]\.checkpoints\[0\]\.steps\[0\]: /);
    });
  });
});
