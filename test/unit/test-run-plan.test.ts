/** The plan of a test run (shared/testruns/plan.ts): its operations, their order and edges, the critical path. */
import assert from 'node:assert/strict';
import { parseDefinition } from '../../shared/testruns/definition';
import { buildPlan, isNavigationCheckpoint, keys, remainingPath, type Operation } from '../../shared/testruns/plan';

/**
 * Two goals: the first with a reused first journey of three checkpoints (the navigation checkpoint
 * with two steps, one with a step, one empty) and a second journey; the second goal with one
 * journey holding only its navigation checkpoint.
 */
const definition = (project: string | { id: string } = 'Shop') =>
  parseDefinition({
    name: 'Run',
    project,
    goals: [
      {
        name: 'Store',
        url: 'https://shop.example.com',
        journeys: [
          {
            name: 'Buy',
            checkpoints: [
              { name: 'Home', steps: [{ click: 'Login' }, { key: 'Enter' }] },
              { name: 'Cart', steps: [{ click: 'Add' }] },
              { name: 'Pay', steps: [] },
            ],
          },
          { name: 'Search', checkpoints: [{ name: 'Find', steps: [{ key: 'Enter' }] }] },
        ],
      },
      { name: 'Admin', url: 'https://admin.example.com', journeys: [{ name: 'Login', checkpoints: [{ name: 'Start', steps: [] }] }] },
    ],
  });

const cp = (g: number, j: number, c: number) => `goals[${g}].journeys[${j}].checkpoints[${c}]`;

/** Every operation of `definition()`, in plan order. */
const EXPECTED: Operation[] = [
  { key: 'p', kind: 'project', deps: [], calls: 2, describe: "find project 'Shop' (reused if it exists, else created); list its goals", at: 'project' },
  { key: 'g0', kind: 'goal', deps: ['p'], calls: 1, describe: "POST /goals {name: 'Store', url: 'https://shop.example.com', createFirstJourney: true}", at: 'goals[0]', g: 0 },
  { key: 'g0snap', kind: 'snapshot', deps: ['g0'], calls: 1, describe: 'GET /goals/{goal}/versions → snapshot id', at: 'goals[0]', g: 0 },
  { key: 'g0suite', kind: 'suite', deps: ['g0snap'], calls: 1, describe: "GET /testsuites/latest_status → journey 'Suite 1' and its navigation checkpoint", at: 'goals[0]', g: 0 },
  { key: 'g0j0', kind: 'renameJourney', deps: ['g0suite'], calls: 1, describe: "PUT /testsuites/{Suite 1} {title: 'Buy'}", at: 'goals[0].journeys[0]', g: 0, j: 0 },
  // The navigation checkpoint is not created: its steps wait for the suite read that finds it.
  { key: 'g0j0c0s0', kind: 'step', deps: ['g0suite'], calls: 1, describe: 'POST /teststeps CLICK (click: Login)', at: `${cp(0, 0, 0)}.steps[0]`, g: 0, j: 0, c: 0, s: 0 },
  { key: 'g0j0c0s1', kind: 'step', deps: ['g0j0c0s0'], calls: 1, describe: 'POST /teststeps KEY (key: Enter)', at: `${cp(0, 0, 0)}.steps[1]`, g: 0, j: 0, c: 0, s: 1 },
  { key: 'g0j0c1', kind: 'createCheckpoint', deps: ['g0snap'], calls: 1, describe: "POST /testcases {title: 'Cart'}", at: cp(0, 0, 1), g: 0, j: 0, c: 1 },
  { key: 'g0j0c1at', kind: 'attach', deps: ['g0j0c1', 'g0j0'], calls: 1, describe: 'POST /testsuites/{journey}/checkpoints/attach {position: 2}', at: cp(0, 0, 1), g: 0, j: 0, c: 1 },
  // A checkpoint's steps do not wait for its attach.
  { key: 'g0j0c1s0', kind: 'step', deps: ['g0j0c1'], calls: 1, describe: 'POST /teststeps CLICK (click: Add)', at: `${cp(0, 0, 1)}.steps[0]`, g: 0, j: 0, c: 1, s: 0 },
  { key: 'g0j0c2', kind: 'createCheckpoint', deps: ['g0snap'], calls: 1, describe: "POST /testcases {title: 'Pay'}", at: cp(0, 0, 2), g: 0, j: 0, c: 2 },
  // Each attach takes the next position, so a journey's attaches run one after another.
  { key: 'g0j0c2at', kind: 'attach', deps: ['g0j0c2', 'g0j0', 'g0j0c1at'], calls: 1, describe: 'POST /testsuites/{journey}/checkpoints/attach {position: 3}', at: cp(0, 0, 2), g: 0, j: 0, c: 2 },
  { key: 'g0j1', kind: 'createJourney', deps: ['g0snap'], calls: 1, describe: "POST /testsuites {title: 'Search'}", at: 'goals[0].journeys[1]', g: 0, j: 1 },
  { key: 'g0j1c0', kind: 'createCheckpoint', deps: ['g0snap'], calls: 1, describe: "POST /testcases {title: 'Find'}", at: cp(0, 1, 0), g: 0, j: 1, c: 0 },
  // A new journey starts with the navigation checkpoint at position 1: its first own one is 2.
  { key: 'g0j1c0at', kind: 'attach', deps: ['g0j1c0', 'g0j1'], calls: 1, describe: 'POST /testsuites/{journey}/checkpoints/attach {position: 2}', at: cp(0, 1, 0), g: 0, j: 1, c: 0 },
  { key: 'g0j1c0s0', kind: 'step', deps: ['g0j1c0'], calls: 1, describe: 'POST /teststeps KEY (key: Enter)', at: `${cp(0, 1, 0)}.steps[0]`, g: 0, j: 1, c: 0, s: 0 },
  {
    key: 'g0exec', kind: 'execute', calls: 1, describe: 'POST /goals/{goal}/snapshots/{snapshot}/execute', at: 'goals[0]', g: 0,
    deps: ['g0', 'g0snap', 'g0suite', 'g0j0', 'g0j0c0s0', 'g0j0c0s1', 'g0j0c1', 'g0j0c1at', 'g0j0c1s0', 'g0j0c2', 'g0j0c2at', 'g0j1', 'g0j1c0', 'g0j1c0at', 'g0j1c0s0'],
  },
  { key: 'g1', kind: 'goal', deps: ['p'], calls: 1, describe: "POST /goals {name: 'Admin', url: 'https://admin.example.com', createFirstJourney: true}", at: 'goals[1]', g: 1 },
  { key: 'g1snap', kind: 'snapshot', deps: ['g1'], calls: 1, describe: 'GET /goals/{goal}/versions → snapshot id', at: 'goals[1]', g: 1 },
  { key: 'g1suite', kind: 'suite', deps: ['g1snap'], calls: 1, describe: "GET /testsuites/latest_status → journey 'Suite 1' and its navigation checkpoint", at: 'goals[1]', g: 1 },
  { key: 'g1j0', kind: 'renameJourney', deps: ['g1suite'], calls: 1, describe: "PUT /testsuites/{Suite 1} {title: 'Login'}", at: 'goals[1].journeys[0]', g: 1, j: 0 },
  { key: 'g1exec', kind: 'execute', deps: ['g1', 'g1snap', 'g1suite', 'g1j0'], calls: 1, describe: 'POST /goals/{goal}/snapshots/{snapshot}/execute', at: 'goals[1]', g: 1 },
];

describe('test-run plan', () => {
  describe('buildPlan', () => {
    it('lists every operation of a definition with its dependencies, calls, description and place', () => {
      assert.deepEqual(buildPlan(definition(), { execute: true }).operations, EXPECTED);
    });

    it('counts the operations, calls and parts of the definition', () => {
      assert.deepEqual(buildPlan(definition(), { execute: true }).totals, { operations: 22, calls: 23, goals: 2, journeys: 3, checkpoints: 5, steps: 4 });
    });

    it('finds the critical path: the project, the goal, its suite read, the renamed journey and its attaches in order, then the execution', () => {
      // p (2 calls) → g0 → g0snap → g0suite → g0j0 → g0j0c1at → g0j0c2at → g0exec
      assert.equal(buildPlan(definition(), { execute: true }).criticalPathCalls, 9);
    });

    it('without execution, has no execute operations and a shorter critical path', () => {
      const plan = buildPlan(definition(), { execute: false });
      assert.deepEqual(plan.operations, EXPECTED.filter((op) => op.kind !== 'execute'));
      assert.equal(plan.criticalPathCalls, 8);
      assert.deepEqual(plan.totals, { operations: 20, calls: 21, goals: 2, journeys: 3, checkpoints: 5, steps: 4 });
    });

    it('describes a project given by id as checked, not found by name', () => {
      const [project] = buildPlan(definition({ id: '123' }), { execute: false }).operations;
      assert.equal(project.describe, 'find project 123 (checked); list its goals');
    });
  });

  describe('keys', () => {
    it('are short Firestore field names, one per object and operation', () => {
      assert.deepEqual(
        [keys.project, keys.goal(1), keys.snapshot(1), keys.suite(1), keys.nav(1), keys.navBase(1), keys.journey(1, 2), keys.checkpoint(1, 2, 3), keys.attach(1, 2, 3), keys.step(1, 2, 3, 4), keys.execute(1), keys.knownGoals],
        ['p', 'g1', 'g1snap', 'g1suite', 'g1nav', 'g1navbase', 'g1j2', 'g1j2c3', 'g1j2c3at', 'g1j2c3s4', 'g1exec', 'pgoals'],
      );
    });

    it('tell an execution key from the others', () => {
      assert.ok(keys.isExecute('g0exec') && keys.isExecute('g12exec'));
      for (const key of ['gexec', 'g0exec1', 'xg0exec', 'g0', 'g0j0', 'g0exe']) assert.equal(keys.isExecute(key), false, key);
    });

    it('only the first checkpoint of the first journey is the navigation checkpoint', () => {
      assert.deepEqual([isNavigationCheckpoint(0, 0), isNavigationCheckpoint(0, 1), isNavigationCheckpoint(1, 0), isNavigationCheckpoint(1, 1)], [true, false, false, false]);
    });
  });

  describe('remainingPath', () => {
    const op = (key: string, calls: number, deps: string[]): Operation => ({ key, kind: 'project', deps, calls, describe: key, at: key });

    it('is, for each operation, the calls on the longest chain from it to the end, itself included', () => {
      // a (2 calls) ← b (1) ← d (1); a ← c (3) ← d: from a the longest chain is a, c, d (not the sum of both).
      const ops = [op('a', 2, []), op('b', 1, ['a']), op('c', 3, ['a']), op('d', 1, ['b', 'c'])];
      assert.deepEqual([...remainingPath(ops)], [['d', 1], ['c', 4], ['b', 2], ['a', 6]]);
    });

    it('counts an operation with no dependents as its own calls, and an empty plan as nothing', () => {
      assert.deepEqual([...remainingPath([op('a', 3, []), op('b', 2, [])])], [['b', 2], ['a', 3]]);
      assert.equal(remainingPath([]).size, 0);
    });
  });
});
