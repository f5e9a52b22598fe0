/**
 * The build scheduler (shared/testruns/build.ts) with the handlers of shared/testruns/operations.ts,
 * in the harness of test/helpers/test-run-harness.ts (an in-memory Virtuoso, the run's document in
 * memory, claims in a map): fresh builds, concurrency and order, stops, crashes and the resumes
 * after them (nothing created twice). The handlers' own cases are in test-run-operations.test.ts.
 */
import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { parseDefinition, type TestDefinition } from '../../shared/testruns/definition';
import type { Plan } from '../../shared/testruns/plan';
import { refusedStep, timeout } from '../helpers/in-memory-virtuoso';
import { built, closeHarnesses, definition, EXPECTED_BUILD, harness, lostAnswer, rejected, within } from '../helpers/test-run-harness';

/** The first journey's navigation checkpoint with one step; the second journey's checkpoint with five. */
function longSecondJourney(): TestDefinition {
  return parseDefinition({
    name: 'Run', project: 'Shop',
    goals: [{
      name: 'Store', url: 'https://shop.example.com',
      journeys: [
        { name: 'Buy', checkpoints: [{ name: 'Home', steps: [{ click: 'Login' }] }] },
        { name: 'Search', checkpoints: [{ name: 'Find', steps: [{ key: 'Enter' }, { key: 'Tab' }, { key: 'Tab' }, { key: 'Tab' }, { key: 'Enter' }] }] },
      ],
    }],
  });
}

/** Eleven goals, journeys, checkpoints and steps: every position of a step key reaches two digits. */
function elevenOfEach(): TestDefinition {
  const eleven = <T>(f: (i: number) => T) => Array.from({ length: 11 }, (_, i) => f(i));
  const checkpoint = (name: string, steps = 1) => ({ name, steps: eleven((i) => ({ comment: `step ${i}` })).slice(0, steps) });
  const small = (name: string) => ({ name, url: 'https://shop.example.com', journeys: [{ name: 'J', checkpoints: [checkpoint('C')] }] });
  return parseDefinition({
    name: 'Run', project: 'Shop',
    goals: [
      {
        name: 'G0', url: 'https://shop.example.com',
        journeys: [
          { name: 'J0', checkpoints: eleven((c) => checkpoint(`C${c}`, c === 0 ? 11 : 1)) },
          ...eleven((j) => ({ name: `J${j}`, checkpoints: [checkpoint('C')] })).slice(1),
        ],
      },
      ...eleven((g) => small(`G${g}`)).slice(1),
    ],
  });
}

describe('test-run build (scheduler and operations, in-memory Virtuoso)', () => {
  afterEach(closeHarnesses);

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

  it('sorts operations as they become ready: a checkpoint with five steps behind it goes before the journeys', async () => {
    const h = harness(longSecondJourney());
    assert.equal((await h.attempt({ concurrency: 1 })).outcome, 'done');
    // After the snapshot: Find (its five steps and the execution behind it) before the suite read
    // and the Search journey (two calls behind each), then its steps while their chain is the longest.
    assert.deepEqual(h.api.calls.slice(3, 9), ['GET /goals/2001/versions', 'POST /testcases', 'POST /teststeps', 'POST /teststeps', 'POST /teststeps', 'GET /testsuites/latest_status']);
  });

  it('makes the navigation baseline durable before any step goes into a checkpoint', async () => {
    const h = harness();
    const baselines: unknown[] = [];
    h.api.before = (call) => {
      if (call === 'POST /teststeps') baselines.push(h.recorder.durable['ids.g0navbase']);
    };
    assert.equal((await h.attempt()).outcome, 'done');
    assert.deepEqual(baselines, ['1', '1', '1', '1', '1']);
  });

  it('records step ids as lists per checkpoint, with two-digit goals, journeys, checkpoints and steps', async () => {
    const h = harness(elevenOfEach());
    const result = await h.attempt();
    assert.equal(result.outcome, 'done');
    const ids = (result as { ids: Record<string, string> }).ids;
    for (const key of ['g10j0c0s0', 'g0j10c0s0', 'g0j0c10s0', 'g0j0c0s10']) assert.ok(ids[key], key);
    assert.deepEqual(Object.keys(h.recorder.doc).filter((k) => /^ids\..*s\d+$/.test(k)), [], 'no step id outside its list');
    assert.equal(h.recorder.doc['steps.g0j0c0'], Array.from({ length: 11 }, (_, s) => ids[`g0j0c0s${s}`]).join(','));
    assert.deepEqual(h.recorder.ids(), ids);
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

  it('after a crash no call is made, not even by the operation that was running', async () => {
    const h = harness();
    const crash = new AbortController();
    h.api.after = (call) => {
      if (call === 'GET /projects') crash.abort(); // the project is not found: POST /projects would come next
    };
    assert.deepEqual(await h.attempt({ signal: crash.signal }), { outcome: 'stopped', reason: 'abandoned' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(h.api.calls, ['GET /projects']);
  });

  it('a crash does not wait for a call that never answers', async () => {
    const h = harness();
    const crash = new AbortController();
    h.api.before = (call) => {
      if (call !== 'POST /projects') return;
      crash.abort();
      return new Promise<void>(() => {});
    };
    assert.deepEqual(await within(2000, h.attempt({ signal: crash.signal })), { outcome: 'stopped', reason: 'abandoned' });
  });

  it('a record that cannot be made durable at the end fails the build', async () => {
    const h = harness();
    const down = new Error('Firestore is down');
    h.recorder.flush = async () => {
      if (h.recorder.doc['progress.operationsDone'] === h.plan.operations.length) throw down;
    };
    assert.equal(await rejected(h.attempt()), down);
  });

  it('a failure keeps the details of its error when they are a map, with the place', async () => {
    const details = async (thrown: unknown) => {
      const h = harness();
      const err = (await rejected(h.attempt({ claimGoal: async () => { throw new AppError('conflict', 'claimed', { details: thrown }); } }))) as AppError;
      assert.equal(err.message, 'goals[0]: claimed');
      return err.details;
    };
    const at = { at: 'goals[0]', operation: "POST /goals {name: 'Store', url: 'https://shop.example.com', createFirstJourney: true}" };
    assert.deepEqual(await details({ owner: 'run-2' }), { ...at, owner: 'run-2' });
    assert.deepEqual(await details('run-2'), at);
    assert.deepEqual(await details(['run-2']), at);
    assert.deepEqual(await details(null), at);
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
    assert.equal(err.message, `The plan could not finish: ${h.plan.operations.length - 1} operations are waiting on each other`);
  });

  describe('resume: what an attempt created but could not record is adopted, nothing is created twice', () => {

    it('a step', async () => {
      const { h } = await lostAnswer('POST /teststeps');
      assert.deepEqual(built(h.api), EXPECTED_BUILD);
      assert.equal(h.api.count('POST /teststeps'), 5);
      assert.equal(h.recorder.doc['progress.stepsCreated'], 5);
    });

    it('a step after others of its checkpoint were recorded', async () => {
      // The fourth step made is the navigation checkpoint's second (the first is recorded).
      const { h, resumed } = await lostAnswer('POST /teststeps', { nth: 4 });
      assert.deepEqual(built(h.api), EXPECTED_BUILD);
      assert.deepEqual(resumed, ['GET /testcases/5001', 'GET /testcases/5002', 'POST /teststeps', 'POST /goals/2001/snapshots/3001/execute'], "the lost step adopted, Cart's second sent");
      assert.equal(h.recorder.doc['progress.stepsCreated'], 5, 'the recorded steps counted, the adopted one added');
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
      const { h, resumed } = await lostAnswer('POST /testcases');
      assert.deepEqual(built(h.api), EXPECTED_BUILD);
      assert.equal(h.api.count('POST /testcases'), 2);
      // The resumed attempt starts with the longest chain (Cart's), before the rename that comes
      // first in the plan; both checkpoints to create share one read of the goal's checkpoints.
      assert.equal(resumed[0], 'GET /goals/2001/checkpoints');
      assert.equal(h.api.count('GET /goals/2001/checkpoints'), 1);
    });

    it('an attach', async () => {
      const { h } = await lostAnswer('POST /testsuites/4001/checkpoints/attach');
      assert.deepEqual(built(h.api), EXPECTED_BUILD);
      assert.equal(h.api.count('POST /testsuites/4001/checkpoints/attach'), 1);
    });

    it('an execution', async () => {
      const { h, ids } = await lostAnswer('POST /goals/2001/snapshots/3001/execute');
      assert.equal(h.api.executions.jobs.size, 1);
      assert.equal(h.api.count('POST /goals/2001/snapshots/3001/execute'), 1);
      assert.equal(ids.g0exec, String([...h.api.executions.jobs.keys()][0]));
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
      const result = await h.attempt({ concurrency: 1 });
      assert.equal(result.outcome, 'done');
      const refused = h.recorder.refused();
      assert.deepEqual(Object.keys(refused), ['g0j0c0s0']);
      assert.match(refused.g0j0c0s0, /Invalid test step command/);
      assert.equal(h.recorder.doc['progress.stepsCreated'], 4);
      // The refused step is an empty place in its checkpoint's list.
      assert.equal(h.recorder.doc['steps.g0j0c0'], `,${(result as { ids: Record<string, string> }).ids.g0j0c0s1}`);
    });

    it('a resumed attempt does not send a refused step again', async () => {
      const h = harness(definition({ continueOnError: true }));
      h.api.before = (call) => {
        if (call === 'POST /teststeps' && h.api.count(call) === 1) throw refusedStep(call);
      };
      await lostAnswer('POST /goals/2001/snapshots/3001/execute', { h });
      assert.equal(h.api.count('POST /teststeps'), 5, 'one refused, four created, none again');
      const navigation = 'Navigation: NAVIGATE KEY';
      assert.deepEqual(built(h.api).journeys.map((j) => j.checkpoints[0]), [navigation, navigation]);
      assert.deepEqual(Object.keys(h.recorder.refused()), ['g0j0c0s0']);
    });

    it('without it, a refused step fails the run, naming the step', async () => {
      const h = harness();
      h.api.before = (call) => {
        if (call === 'POST /teststeps') throw refusedStep(call);
      };
      const err = (await rejected(h.attempt({ concurrency: 1 }))) as AppError;
      assert.equal(err.code, 'unprocessable_entity');
      assert.match(err.message, /^goals\[0\]\.journeys\[0\]\.checkpoints\[0\]\.steps\[0\]: /);
      assert.deepEqual(err.details, {
        at: 'goals[0].journeys[0].checkpoints[0].steps[0]', operation: 'POST /teststeps CLICK (click: Login)', virtuoso: { status: 400, code: '2605' },
      });
    });
  });
});
