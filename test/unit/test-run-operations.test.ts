/**
 * The handlers of a test run's operations (shared/testruns/operations.ts), run by the build
 * scheduler in the harness of test/helpers/test-run-harness.ts: what each sends, how a project is
 * found, how a resumed attempt finds what an earlier one created but could not record (and what it
 * never takes), what it logs, and what it does with answers it did not expect.
 */
import assert from 'node:assert/strict';
import type { AppError } from '../../shared/errors';
import { parseDefinition, type TestDefinition } from '../../shared/testruns/definition';
import { VirtuosoApiError } from '../../shared/virtuoso/client';
import { GOAL_META } from '../../shared/virtuoso/commands';
import { refusedStep, timeout } from '../helpers/in-memory-virtuoso';
import { built, closeHarnesses, definition, EXPECTED_BUILD, harness, lostAnswer, ORG, rejected, type Harness } from '../helpers/test-run-harness';

const URL = 'https://shop.example.com';

/** A definition of `goals` (each a name and its journeys: name → checkpoint names with their steps). */
function runOf(project: unknown, goals: { name: string; journeys: { name: string; checkpoints: { name: string; steps?: unknown[] }[] }[] }[], options = {}): TestDefinition {
  return parseDefinition({ name: 'Run', project, options, goals: goals.map((g) => ({ ...g, url: URL, journeys: g.journeys.map((j) => ({ ...j, checkpoints: j.checkpoints.map((c) => ({ steps: [], ...c })) })) })) });
}

/** The fields of what was logged at `level` with `message`. */
const logged = (h: Harness, level: string, message: string) => h.log.entries.filter((e) => e.level === level && e.message === message).map((e) => e.fields);

/** What was sent with each `call`. */
const sent = (h: Harness, call: string) => h.api.requests.filter((r) => r.call === call).map((r) => ({ query: r.query, body: r.body }));

/** A Virtuoso error as the client reports it. */
const virtuosoError = (call: string, status: number, code: string, message: string) => new VirtuosoApiError(`${call}: ${message}`, status, code, false, undefined, call);

type Entry = Record<string, unknown> & { journey?: Record<string, unknown>; lastExecution?: Record<string, unknown> };
/** The entries of a latest_status answer (`{success, map}`). */
const entriesOf = (body: unknown) => (body as { map: Record<string, Entry> }).map;

const NO_CHECKPOINT_LIST = 'cannot look for checkpoints lost by an earlier attempt (GET /goals/{id}/checkpoints is not available)';

describe('test-run operations (handlers, in-memory Virtuoso)', () => {
  afterEach(closeHarnesses);

  describe('a fresh build', () => {
    it('makes these calls, in this order, and sends what Virtuoso needs', async () => {
      const h = harness();
      assert.equal((await h.attempt({ concurrency: 1 })).outcome, 'done');
      assert.deepEqual(h.api.calls, [
        'GET /projects', 'POST /projects', 'POST /goals', 'GET /goals/2001/versions', 'GET /testsuites/latest_status',
        'POST /testcases', 'POST /testsuites', 'POST /testcases', 'PUT /testsuites/4001', 'POST /teststeps', 'POST /teststeps',
        'POST /testsuites/4002/checkpoints/attach', 'POST /teststeps', 'POST /testsuites/4001/checkpoints/attach', 'POST /teststeps', 'POST /teststeps',
        'POST /goals/2001/snapshots/3001/execute',
      ]);
      assert.deepEqual(sent(h, 'GET /projects'), [{ query: { organizationId: ORG, limit: 100, offset: 0 }, body: undefined }]);
      assert.deepEqual(sent(h, 'POST /projects'), [{ query: undefined, body: { name: 'Shop', organizationId: ORG } }]);
      assert.deepEqual(sent(h, 'POST /goals'), [{
        query: undefined,
        body: { projectId: 1001, name: 'Store', url: URL, environmentId: null, deviceSize: { width: 1280, height: 800 }, meta: GOAL_META, createFirstJourney: true },
      }]);
      assert.deepEqual(sent(h, 'POST /testsuites'), [{ query: { envelope: false }, body: { goalId: 2001, snapshotId: 3001, name: 'Search', title: 'Search', archived: false, draft: true } }]);
      assert.deepEqual(sent(h, 'PUT /testsuites/4001'), [{ query: undefined, body: { title: 'Buy' } }]);
      // Cart is the second checkpoint of the first journey (after the navigation one); Find the
      // first of the second journey, which starts with the navigation checkpoint too.
      assert.deepEqual(sent(h, 'POST /testsuites/4001/checkpoints/attach')[0].body, { checkpointId: 5002, position: 2 });
      assert.deepEqual(sent(h, 'POST /testsuites/4002/checkpoints/attach')[0].body, { checkpointId: 5003, position: 2 });
      assert.deepEqual(sent(h, 'POST /goals/2001/snapshots/3001/execute')[0].body, { tags: [], suiteIds: [4001, 4002] });
      assert.equal(h.recorder.doc['ids.pgoals'], '', 'a created project has no goals of its own');
      assert.deepEqual(logged(h, 'info', 'created the project'), [{ projectId: '1001' }]);
      assert.deepEqual(logged(h, 'info', 'reusing the existing project'), []);
    });

    it('creates the project with its description', async () => {
      const h = harness(runOf({ name: 'Shop', description: 'The shop' }, [{ name: 'Store', journeys: [{ name: 'Buy', checkpoints: [{ name: 'Home' }] }] }]));
      assert.equal((await h.attempt()).outcome, 'done');
      assert.deepEqual(sent(h, 'POST /projects')[0].body, { name: 'Shop', organizationId: ORG, description: 'The shop' });
    });
  });

  describe('the project', () => {
    it('is found by name through the pages of the organization; its goals of the same names are never adopted', async () => {
      const h = harness();
      const s = h.api.state;
      for (let i = 0; i < 100; i++) s.createProject(`Other ${i}`, ORG, '');
      const shop = s.createProject('Shop', ORG, '');
      const goal = (name: string) => s.createGoal({ projectId: shop.id, name, url: URL, environmentId: null, deviceSize: { width: 1280, height: 800 }, meta: {} }, true);
      goal('Store');
      goal('Store');
      goal('Store').archived = true;
      goal('Other');
      // The first attempt's goal (2005) is created, its answer lost: the resumed attempt adopts it,
      // not one that was there before (2001, 2002), archived (2003) or of another name (2004).
      const { ids } = await lostAnswer('POST /goals', { h });
      assert.deepEqual(h.api.calls.slice(0, 4), ['GET /projects', 'GET /projects', 'GET /projects/1101/goals', 'POST /goals']);
      assert.deepEqual(sent(h, 'GET /projects').map((r) => r.query?.offset), [0, 100]);
      assert.deepEqual(sent(h, 'GET /projects/1101/goals').map((r) => r.query), [{ archived: false }, { archived: false }]);
      assert.deepEqual([ids.p, ids.pgoals, ids.g0], ['1101', '2001,2002', '2005']);
      assert.equal(h.api.count('POST /projects'), 0);
      assert.equal(h.api.count('POST /goals'), 1);
      assert.deepEqual([...h.claims.keys()], ['2005']);
      assert.deepEqual(logged(h, 'info', 'reusing the existing project'), [{ projectId: '1101' }]);
      assert.deepEqual(logged(h, 'info', 'adopted a goal an earlier attempt created'), [{ goalId: '2005' }]);
    });

    it('given by id, is checked (its goals listed), not looked up', async () => {
      const h = harness(runOf({ id: '1001' }, [{ name: 'Store', journeys: [{ name: 'Buy', checkpoints: [{ name: 'Home' }] }] }]));
      const shop = h.api.state.createProject('Shop', ORG, '');
      h.api.state.createGoal({ projectId: shop.id, name: 'Store', url: URL, environmentId: null, deviceSize: { width: 1280, height: 800 }, meta: {} }, true);
      assert.equal((await h.attempt({ concurrency: 1 })).outcome, 'done');
      assert.deepEqual(h.api.calls.slice(0, 2), ['GET /projects/1001/goals', 'POST /goals']);
      assert.equal(h.api.count('GET /projects') + h.api.count('POST /projects'), 0);
      assert.deepEqual([h.recorder.doc['ids.p'], h.recorder.doc['ids.pgoals'], h.recorder.doc['ids.g0']], ['1001', '2001', '2002']);
      assert.deepEqual(logged(h, 'info', 'reusing the existing project'), [{ projectId: '1001' }]);
    });

    it('created meanwhile (1501) is reused; a 1501 for a project still not there, or another error, fails', async () => {
      const meanwhile = harness();
      meanwhile.api.before = (call) => {
        if (call === 'POST /projects') meanwhile.api.state.createProject('Shop', ORG, ''); // Virtuoso answers 1501
      };
      assert.equal((await meanwhile.attempt({ concurrency: 1 })).outcome, 'done');
      assert.deepEqual(meanwhile.api.calls.slice(0, 5), ['GET /projects', 'POST /projects', 'GET /projects', 'GET /projects/1001/goals', 'POST /goals']);
      assert.equal(meanwhile.recorder.doc['ids.p'], '1001');
      assert.deepEqual(logged(meanwhile, 'info', 'reusing the existing project'), [{ projectId: '1001' }]);

      const phantom = harness();
      phantom.api.before = (call) => {
        if (call === 'POST /projects') throw virtuosoError(call, 400, '1501', 'A project with the specified name already exists');
      };
      const err = (await rejected(phantom.attempt({ concurrency: 1 }))) as AppError;
      assert.equal(err.code, 'conflict');
      assert.deepEqual(phantom.api.calls, ['GET /projects', 'POST /projects', 'GET /projects']);

      const refused = harness();
      refused.api.before = (call) => {
        if (call === 'POST /projects') throw virtuosoError(call, 400, '1000', 'Bad request');
      };
      assert.equal(((await rejected(refused.attempt({ concurrency: 1 }))) as AppError).code, 'unprocessable_entity');
      assert.deepEqual(refused.api.calls, ['GET /projects', 'POST /projects']);
    });
  });

  describe('goals', () => {
    it('logs each goal another run claimed before creating another', async () => {
      const h = harness();
      await rejected(h.attempt({ claimGoal: async () => false }));
      const message = 'a goal this run created was claimed by another run; creating another';
      assert.deepEqual(logged(h, 'warn', message), [{ goalId: '2001' }, { goalId: '2002' }, { goalId: '2003' }]);
    });
  });

  describe('journeys and checkpoints', () => {
    it('a lost checkpoint is the unrecorded one of its title, not the one recorded in another journey', async () => {
      const def = runOf('Shop', [{ name: 'Store', journeys: [{ name: 'Buy', checkpoints: [{ name: 'Home' }, { name: 'Find' }] }, { name: 'Search', checkpoints: [{ name: 'Find' }] }] }]);
      const { h, ids } = await lostAnswer('POST /testcases', { nth: 2, h: harness(def) });
      assert.equal(h.api.count('POST /testcases'), 2);
      assert.notEqual(ids.g0j0c1, ids.g0j1c0);
      assert.deepEqual(built(h.api).journeys, [
        { title: 'Buy', checkpoints: ['Navigation: NAVIGATE', 'Find: '] },
        { title: 'Search', checkpoints: ['Navigation: NAVIGATE', 'Find: '] },
      ]);
    });

    for (const call of ['POST /testsuites', 'POST /testcases']) {
      it(`each goal looks for what it lost among its own objects (${call})`, async () => {
        const goal = (name: string) => ({ name, journeys: [{ name: 'Buy', checkpoints: [{ name: 'Home' }, { name: 'Cart' }] }, { name: 'Search', checkpoints: [{ name: 'Find' }] }] });
        const { h } = await lostAnswer(call, { h: harness(runOf('Shop', [goal('Store'), goal('Outlet')]), false) });
        const journeys = [
          { title: 'Buy', checkpoints: ['Navigation', 'Cart'] },
          { title: 'Search', checkpoints: ['Navigation', 'Find'] },
        ];
        const titles = (goalId: number) =>
          [...h.api.state.journeys.values()].filter((j) => j.goalId === goalId).map((j) => ({ title: j.title, checkpoints: j.caseIds.map((id) => h.api.state.checkpoint(id).title) }));
        assert.deepEqual([titles(2001), titles(2002)], [journeys, journeys]);
        assert.equal(h.api.count(call), call === 'POST /testsuites' ? 2 : 4);
      });
    }

    it('a lost checkpoint is the one of its title, never a stray one', async () => {
      const h = harness();
      const s = h.api.state;
      await lostAnswer('POST /testcases', { h, between: () => s.createCheckpoint(s.goal(2001), s.snapshots.get(3001)!, 'Stray') });
      assert.deepEqual(built(h.api), EXPECTED_BUILD);
      assert.equal(h.api.count('POST /testcases'), 2);
      assert.deepEqual(logged(h, 'warn', NO_CHECKPOINT_LIST), []);
    });

    for (const status of [404, 405]) {
      it(`without GET /goals/{id}/checkpoints (${status}), a lost checkpoint is created again, with a warning`, async () => {
        const h = harness();
        h.api.before = (call) => {
          if (call === 'GET /goals/2001/checkpoints') throw virtuosoError(call, status, String(status), 'no such route');
        };
        await lostAnswer('POST /testcases', { h });
        assert.deepEqual(built(h.api), EXPECTED_BUILD, 'the lost one stays empty and unattached');
        assert.equal(h.api.count('POST /testcases'), 3);
        assert.deepEqual(logged(h, 'warn', NO_CHECKPOINT_LIST), [undefined, undefined], 'once for each checkpoint to create');
      });
    }

    it('another error of GET /goals/{id}/checkpoints fails the build', async () => {
      const h = harness();
      h.api.after = (call) => {
        if (call === 'POST /testcases' && h.api.count(call) === 1) throw timeout(call);
      };
      await rejected(h.attempt({ concurrency: 1 }));
      h.api.before = (call) => {
        if (call === 'GET /goals/2001/checkpoints') throw virtuosoError(call, 400, '1000', 'Bad request');
      };
      const err = (await rejected(h.attempt({ concurrency: 1 }))) as AppError;
      assert.equal(err.code, 'unprocessable_entity');
      assert.match(err.message, /^goals\[0\]\.journeys\[0\]\.checkpoints\[1\]: /);
    });
  });

  describe('ids of different kinds may be equal (each kind has its own sequence)', () => {
    /** The next id of `kind` the in-memory Virtuoso gives is `next`. */
    const nextId = (h: Harness, kind: 'goal' | 'journey' | 'checkpoint', next: number) => h.api.state['counters'].set(kind, next - 1);

    it('a lost checkpoint is adopted though its id is a journey id this run recorded', async () => {
      const h = harness();
      nextId(h, 'checkpoint', 4000); // navigation 4000, Cart 4001, Find 4002: Search's journey id
      const { ids } = await lostAnswer('POST /testcases', { nth: 2, h });
      assert.deepEqual([ids.g0j1, ids.g0j1c0], ['4002', '4002']);
      assert.equal(h.api.count('POST /testcases'), 2);
    });

    it('a lost journey is adopted though its id is a checkpoint id this run recorded', async () => {
      const h = harness();
      nextId(h, 'journey', 5001); // Suite 1 5001, Search 5002: Cart's checkpoint id
      const { ids } = await lostAnswer('POST /testsuites', { h });
      assert.deepEqual([ids.g0j0c1, ids.g0j1], ['5002', '5002']);
      assert.equal(h.api.count('POST /testsuites'), 1);
    });

    it("a lost goal is adopted though its id is another goal's snapshot id this run recorded", async () => {
      // The first goal's long chain goes first: its snapshot (3001) is recorded before the second goal is made.
      const long = { name: 'Store', journeys: [{ name: 'Buy', checkpoints: [{ name: 'Home', steps: Array.from({ length: 8 }, () => ({ key: 'Tab' })) }] }] };
      const short = { name: 'Outlet', journeys: [{ name: 'Buy', checkpoints: [{ name: 'Home' }] }] };
      const h = harness(runOf('Shop', [long, short]), false);
      nextId(h, 'goal', 3000); // Store 3000, Outlet 3001
      const { ids } = await lostAnswer('POST /goals', { nth: 2, h });
      assert.deepEqual([ids.g0snap, ids.g1], ['3001', '3001']);
      assert.equal(h.api.count('POST /goals'), 2);
    });
  });

  describe('answers the sandbox does not give', () => {
    /** Latest-status answers with the journeys' details, rewritten. */
    const withDetails = (h: Harness, rewrite: (entries: Record<string, Entry>) => void) => {
      h.api.answer = (call, body, options) => {
        if (call === 'GET /testsuites/latest_status' && options.query?.includeSequencesDetails) rewrite(entriesOf(body));
        return body;
      };
    };

    it("reads the goal's journey without its details, and its checkpoints from the journey", async () => {
      const h = harness();
      withDetails(h, (entries) => {
        for (const e of Object.values(entries)) delete e.journey;
      });
      assert.equal((await h.attempt({ concurrency: 1 })).outcome, 'done');
      assert.deepEqual(h.api.calls.slice(4, 6), ['GET /testsuites/latest_status', 'GET /testsuites/4001']);
      assert.deepEqual([h.recorder.doc['ids.g0suite'], h.recorder.doc['ids.g0nav'], h.recorder.doc['ids.g0navbase']], ['4001', '5001', '1']);
    });

    it('a navigation checkpoint listed without steps is read for them; none is a baseline of 0', async () => {
      const h = harness();
      withDetails(h, (entries) => {
        for (const e of Object.values(entries)) for (const c of (e.journey?.cases ?? []) as Record<string, unknown>[]) delete c.steps;
      });
      const answer = h.api.answer!;
      h.api.answer = (call, body, options) => {
        if (call === 'GET /testcases/5001') return { success: true, item: { id: 5001 } };
        return answer(call, body, options);
      };
      assert.equal((await h.attempt({ concurrency: 1 })).outcome, 'done');
      assert.equal(h.api.count('GET /testcases/5001'), 1);
      assert.equal(h.recorder.doc['ids.g0navbase'], '0');
    });

    it('a goal without a journey, or a first journey without checkpoints, fails the build', async () => {
      const none = harness();
      withDetails(none, (entries) => {
        for (const k of Object.keys(entries)) delete entries[k];
      });
      const err = (await rejected(none.attempt())) as AppError;
      assert.equal(err.code, 'unprocessable_entity');
      assert.equal(err.message, "goals[0]: Goal 2001 has no journey (it should have been created with 'Suite 1')");

      const empty = harness();
      withDetails(empty, (entries) => {
        for (const e of Object.values(entries)) delete e.journey;
      });
      const answer = empty.api.answer!;
      empty.api.answer = (call, body, options) => (call === 'GET /testsuites/4001' ? { success: true, item: { id: 4001 } } : answer(call, body, options));
      assert.equal(((await rejected(empty.attempt())) as AppError).message, 'goals[0]: Journey 4001 of goal 2001 has no navigation checkpoint');
    });

    it('a step created without an id, or an execution started without a job id, fails the build', async () => {
      const step = harness();
      step.api.answer = (call, body) => (call === 'POST /teststeps' ? { success: true, item: {} } : body);
      const stepErr = (await rejected(step.attempt({ concurrency: 1 }))) as AppError;
      assert.equal(stepErr.code, 'unprocessable_entity');
      assert.match(stepErr.message, /^goals\[0\]\.journeys\[\d\]\.checkpoints\[\d\]\.steps\[0\]: Virtuoso created a step but returned no testStep\.id$/);

      const job = harness();
      job.api.answer = (call, body) => (call === 'POST /goals/2001/snapshots/3001/execute' ? null : body);
      const jobErr = (await rejected(job.attempt())) as AppError;
      assert.equal(jobErr.code, 'unprocessable_entity');
      assert.equal(jobErr.message, 'goals[0]: Virtuoso started an execution but returned no job id');
    });
  });

  describe('the execution of a resumed goal', () => {
    /** The first attempt's execute answer is lost; the second reads the goal's latest status, rewritten, to find its job. */
    async function resumed(rewrite: (entries: Record<string, Entry>, sentAt: number) => void = () => {}) {
      const h = harness();
      h.api.answer = (call, body, options) => {
        if (call === 'GET /testsuites/latest_status' && !options.query?.includeSequencesDetails) rewrite(entriesOf(body), Date.parse(h.recorder.doc['executeSentAt.0'] as string));
        return body;
      };
      const { ids } = await lostAnswer('POST /goals/2001/snapshots/3001/execute', { h });
      return { h, jobId: ids.g0exec, executions: h.api.count('POST /goals/2001/snapshots/3001/execute') };
    }
    const at = (ms: number) => new Date(ms).toISOString();
    const ADOPTED = 'adopted the execution an earlier attempt started';
    const NOT_FOUND = 'an earlier attempt may have started this goal and no job was found; starting it';

    it('adopts the job its journeys last ran in, from its last execution or the entry itself, created or started then', async () => {
      const adopted = await resumed();
      assert.deepEqual([adopted.jobId, adopted.executions], ['8001', 1]);
      assert.deepEqual(logged(adopted.h, 'info', ADOPTED), [{ goal: 0, jobId: '8001' }]);
      assert.deepEqual(logged(adopted.h, 'warn', NOT_FOUND), []);

      const flat = await resumed((entries) => {
        for (const e of Object.values(entries)) {
          Object.assign(e, { jobId: e.lastExecution?.jobId, createdAt: e.lastExecution?.createdAt });
          delete e.lastExecution;
        }
      });
      assert.deepEqual([flat.jobId, flat.executions], ['8001', 1]);

      const started = await resumed((entries) => {
        for (const e of Object.values(entries)) e.lastExecution = { jobId: e.lastExecution?.jobId, startDate: e.lastExecution?.createdAt };
      });
      assert.deepEqual([started.jobId, started.executions], ['8001', 1]);

      const edge = await resumed((entries, sentAt) => {
        for (const e of Object.values(entries)) e.lastExecution!.createdAt = at(sentAt - 5000);
      });
      assert.deepEqual([edge.jobId, edge.executions], ['8001', 1], '5 s before it was asked for (clocks differ) is still it');
    });

    it('starts it again when no job is found: older, without a job id or a time, or of journeys not the run\'s', async () => {
      const cases: Record<string, (entries: Record<string, Entry>, sentAt: number) => void> = {
        older: (entries, sentAt) => {
          for (const e of Object.values(entries)) e.lastExecution!.createdAt = at(sentAt - 5001);
        },
        'without a job id': (entries) => {
          for (const e of Object.values(entries)) delete e.lastExecution!.jobId;
        },
        'without a time': (entries) => {
          for (const e of Object.values(entries)) delete e.lastExecution!.createdAt;
        },
        'of other journeys': (entries) => {
          for (const k of Object.keys(entries)) {
            entries[String(Number(k) + 100)] = entries[k];
            delete entries[k];
          }
        },
      };
      for (const [name, rewrite] of Object.entries(cases)) {
        const r = await resumed(rewrite);
        assert.deepEqual([r.jobId, r.executions], ['8002', 2], name);
        assert.deepEqual(logged(r.h, 'warn', NOT_FOUND), [{ goal: 0 }], name);
        assert.deepEqual(logged(r.h, 'info', ADOPTED), [], name);
      }
    });
  });

  describe('steps', () => {
    it('continueOnError goes on after a refusal, with a warning, but not after any other error', async () => {
      const refusing = harness(definition({ continueOnError: true }));
      refusing.api.before = (call) => {
        if (call === 'POST /teststeps' && refusing.api.count(call) === 1) throw refusedStep(call);
      };
      assert.equal((await refusing.attempt({ concurrency: 1 })).outcome, 'done');
      assert.deepEqual(logged(refusing, 'warn', 'Virtuoso refused a step; going on (continueOnError)'), [
        { at: 'goals[0].journeys[0].checkpoints[0].steps[0]', error: 'Virtuoso refused the request: POST /teststeps: Invalid test step command' },
      ]);

      const missing = harness(definition({ continueOnError: true }));
      missing.api.before = (call) => {
        if (call === 'POST /teststeps') throw virtuosoError(call, 404, '1403', 'Checkpoint not found');
      };
      assert.equal(((await rejected(missing.attempt({ concurrency: 1 }))) as AppError).code, 'not_found');
    });

    it('a resumed attempt logs the steps it adopted, checkpoint by checkpoint', async () => {
      const { h } = await lostAnswer('POST /teststeps', { nth: 4 });
      assert.deepEqual(logged(h, 'info', 'adopted steps an earlier attempt created'), [{ checkpointId: '5001', steps: 1 }]);
    });

    it('a refused step is skipped when the steps are matched, even one of the same action as the next', async () => {
      const def = runOf('Shop', [{ name: 'Store', journeys: [{ name: 'Buy', checkpoints: [{ name: 'Home' }, { name: 'Cart', steps: [{ key: 'Enter' }, { key: 'Tab' }] }] }] }], { continueOnError: true });
      const h = harness(def, false);
      h.api.before = (call) => {
        if (call === 'POST /teststeps' && h.api.count(call) === 1) throw refusedStep(call);
      };
      await lostAnswer('POST /teststeps', { h }); // Cart's first step refused, the answer for its second lost
      assert.deepEqual(Object.keys(h.recorder.refused()), ['g0j0c1s0']);
      assert.deepEqual(built(h.api).journeys, [{ title: 'Buy', checkpoints: ['Navigation: NAVIGATE', 'Cart: KEY'] }]);
      assert.equal(h.api.count('POST /teststeps'), 2);
    });

    it('a checkpoint changed outside the run fails the resumed attempt: a recorded step gone, a step more', async () => {
      // The navigation checkpoint (NAVIGATE 6001) gets 6002 and 6003, recorded, and 6004, whose answer is lost.
      const def = runOf('Shop', [{ name: 'Store', journeys: [{ name: 'Buy', checkpoints: [{ name: 'Home', steps: [{ key: 'Enter' }, { key: 'Tab' }, { key: 'Enter' }] }] }] }]);
      /** The first attempt loses the third step's answer, or (`early`) fails before the first step. */
      const changed = async (change: (nav: { stepIds: number[] }, h: Harness) => void, early = false) => {
        const h = harness(def, false);
        const fail = (call: string) => {
          if (call === 'POST /teststeps' && h.api.count(call) === (early ? 1 : 3)) throw timeout(call);
        };
        if (early) h.api.before = fail;
        else h.api.after = fail;
        await rejected(h.attempt({ concurrency: 1 }));
        h.api.before = undefined;
        change(h.api.state.checkpoint(5001), h);
        const err = (await rejected(h.attempt({ concurrency: 1 }))) as AppError;
        assert.equal(err.code, 'unprocessable_entity');
        return err.message;
      };
      const gone = await changed((nav) => nav.stepIds.splice(2, 1));
      assert.equal(gone, 'goals[0].journeys[0].checkpoints[0].steps[2]: Checkpoint 5001 was changed outside this run (step 3 is 6004, not the recorded 6003)');
      const comment = (_nav: unknown, h: Harness) => h.api.state.addStep(h.api.state.checkpoint(5001), 99, { action: 'COMMENT', value: 'by hand', meta: {}, optional: false, ignoreOutcome: false, skip: false });
      const more = await changed(comment);
      assert.equal(more, 'goals[0].journeys[0].checkpoints[0].steps[2]: Checkpoint 5001 was changed outside this run (it has 1 more step(s) than the plan accounts for)');
      // A step of another action is never taken for one of the plan's.
      const foreign = await changed(comment, true);
      assert.equal(foreign, 'goals[0].journeys[0].checkpoints[0].steps[0]: Checkpoint 5001 was changed outside this run (it has 1 more step(s) than the plan accounts for)');
    });
  });
});
