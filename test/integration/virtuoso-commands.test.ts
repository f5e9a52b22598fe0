/**
 * The non-step commands, run as CLI strings against the Virtuoso sandbox over HTTP (real client).
 */
import assert from 'node:assert/strict';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { AppError } from '../../shared/errors';
import { VirtuosoApiError, VirtuosoClient } from '../../shared/virtuoso/client';
import { tokenize } from '../../shared/virtuoso/cli';
import { runCommandLine } from '../../shared/commands/parse';
import type { CommandContext } from '../../shared/virtuoso/commands';
import { virtuosoToAppError } from '../../shared/virtuoso/errors';
import { createStepBody } from '../../shared/virtuoso/steps';
import { stepFromCli } from '../../shared/virtuoso/step-commands';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Out = any;

describe('infrastructure, read, execution and library commands × Virtuoso sandbox', () => {
  let sandbox: Sandbox;
  let ctx: CommandContext;
  const run = async (line: string): Promise<Out> => (await runCommandLine(ctx, line)).output;

  before(async () => {
    sandbox = await startSandbox({ organizationId: 2242, executionMs: 300 });
    ctx = { api: new VirtuosoClient({ baseUrl: sandbox.url, token: async () => 't', baseBackoffMs: 5 }), organizationId: 2242 };
  });
  after(() => sandbox.close());

  it('builds project → goal → journey → checkpoint → steps, lists them and runs the goal', async () => {
    const project = await run('create-project "Shop tests"');
    assert.deepEqual(Object.keys(project), ['status', 'project_id', 'name']);
    assert.equal(project.status, 'success');

    const goal = await run(`create-goal ${project.project_id} Checkout --url https://shop.example.com`);
    assert.match(goal.goal_id, /^\d+$/);
    assert.match(goal.snapshot_id, /^\d+$/);

    // The goal came with journey "Suite 1" and its navigation checkpoint.
    const journeys = await run(`list-journeys ${goal.goal_id} ${goal.snapshot_id}`);
    assert.equal(journeys.length, 1);
    assert.equal(journeys[0].name, 'Suite 1');

    const journey = await run(`create-journey ${goal.goal_id} ${goal.snapshot_id} "Guest checkout"`);
    assert.equal(journey.name, 'Guest checkout');
    const renamed = await run(`update-journey ${journey.journey_id} --name "Guest checkout v2"`);
    assert.equal(renamed.name, 'Guest checkout v2');

    const checkpoint = await run(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} "Pay" --position 2`);
    assert.equal(checkpoint.status, 'success');
    assert.equal(checkpoint.position, 2);

    for (const line of [`step-interact click ${checkpoint.checkpoint_id} "Pay now"`, `step-assert exists ${checkpoint.checkpoint_id} "Thank you"`]) {
      const step = stepFromCli(tokenize(line));
      await ctx.api.item('POST', '/teststeps', { body: createStepBody(step.checkpointId!, step.parsedStep) });
    }
    const steps = await run(`list-checkpoint-steps cp_${checkpoint.checkpoint_id}`);
    assert.deepEqual(steps.map((s: Out) => s.action), ['CLICK', 'ASSERT_EXISTS']);
    const stepDetail = await run(`get-step ${steps[0].id}`);
    assert.equal(stepDetail.checkpoint_id, checkpoint.checkpoint_id);
    assert.ok(stepDetail.canonical_id);

    const checkpoints = await run(`list-checkpoints ${journey.journey_id}`);
    assert.equal(checkpoints.at(-1).id, checkpoint.checkpoint_id);
    assert.equal(checkpoints.at(-1).steps, 2);
    // The goal's own journey starts with its navigation checkpoint.
    const suite1 = await run(`list-checkpoints ${journeys[0].id}`);
    assert.match(suite1[0].title, /^\[Navigation\]/);

    assert.ok((await run('list-projects')).some((p: Out) => p.id === project.project_id));
    assert.equal((await run(`list-goals ${project.project_id}`))[0].id, goal.goal_id);

    const execution = await run(`execute-goal ${goal.goal_id}`);
    assert.match(execution.execution_id, /^\d+$/, 'job ids are strings even though Virtuoso sends numbers');
    const status = await run(`execution-status ${execution.execution_id}`);
    assert.equal(status.execution_id, execution.execution_id);
    assert.ok(status.journeys.length >= 1);
  });

  it("updates a navigation step through its canonicalId, and refuses a stale one", async () => {
    const project = await run('create-project Nav');
    const goal = await run(`create-goal ${project.project_id} Home --url https://a.example.com`);
    const [journey] = await run(`list-journeys ${goal.goal_id} ${goal.snapshot_id}`);
    const [navCheckpoint] = await run(`list-checkpoints ${journey.id}`);
    const [navStep] = await run(`list-checkpoint-steps ${navCheckpoint.id}`);
    const detail = await run(`get-step ${navStep.id}`);
    const updated = await run(`update-navigation ${navStep.id} ${detail.canonical_id} --url https://b.example.com/start --new-tab`);
    assert.equal(updated.url, 'https://b.example.com/start');
    assert.equal((await run(`get-step ${navStep.id}`)).value, 'https://b.example.com/start');
    const stale = await run(`update-navigation ${navStep.id} not-the-canonical-id --url https://c.example.com`).catch((e) => e);
    assert.ok(stale instanceof VirtuosoApiError && stale.status === 409, String(stale));
  });

  it('maps Virtuoso refusals into the taxonomy and refuses bad input before any request', async () => {
    await run('create-project Dupe');
    const dupe = await run('create-project Dupe').catch((e) => e);
    assert.ok(dupe instanceof VirtuosoApiError && dupe.code === '1501');
    assert.equal(virtuosoToAppError(dupe).status, 409);

    const before = sandbox.faults.count('POST', '/testcases');
    await assert.rejects(run('create-checkpoint 1 2 3 First --position 1'), (e: AppError) => e.status === 422);
    await assert.rejects(run('create-goal abc Name'), (e: AppError) => e.status === 422 && /numeric id/.test(e.message));
    await assert.rejects(run('create-goal 1 Name --url notaurl'), (e: AppError) => e.status === 422);
    await assert.rejects(run('teleport 1'), (e: AppError) => e.status === 400);
    assert.equal(sandbox.faults.count('POST', '/testcases'), before, 'nothing was sent');
  });

  it('reports a checkpoint that was created but could not be attached as partial, with its id', async () => {
    const project = await run('create-project Partial');
    const goal = await run(`create-goal ${project.project_id} G`);
    const out = await run(`create-checkpoint 999999 ${goal.goal_id} ${goal.snapshot_id} Orphan`);
    assert.equal(out.status, 'partial');
    assert.match(out.checkpoint_id, /^\d+$/);
    assert.ok(out.error);
  });

  it('library: add a checkpoint, rename it, attach it to a journey, move and remove its steps', async () => {
    const project = await run('create-project Lib');
    const goal = await run(`create-goal ${project.project_id} G`);
    const [journey] = await run(`list-journeys ${goal.goal_id} ${goal.snapshot_id}`);
    const cp = await run(`create-checkpoint ${journey.id} ${goal.goal_id} ${goal.snapshot_id} Login`);
    for (const text of ['one', 'two']) {
      const step = stepFromCli(tokenize(`step-misc comment ${cp.checkpoint_id} ${text}`));
      await ctx.api.item('POST', '/teststeps', { body: createStepBody(step.checkpointId!, step.parsedStep) });
    }
    const lib = await run(`library add ${cp.checkpoint_id}`);
    assert.match(lib.library_checkpoint_id, /^\d+$/);
    assert.equal((await run(`library update lib_${lib.library_checkpoint_id} "Shared login"`)).name, 'Shared login');
    const got: Out = await run(`library get ${lib.library_checkpoint_id}`);
    assert.equal(got.steps.length, 2);
    await run(`library move-step ${lib.library_checkpoint_id} ${got.steps[1].id} 1`);
    assert.equal((await run(`library get ${lib.library_checkpoint_id}`)).steps[0].id, got.steps[1].id);
    await run(`library remove-step ${lib.library_checkpoint_id} ${got.steps[0].id}`);
    assert.equal((await run(`library get ${lib.library_checkpoint_id}`)).steps.length, 1);
    const other = await run(`create-journey ${goal.goal_id} ${goal.snapshot_id} Other`);
    const attached = await run(`library attach ${other.journey_id} ${lib.library_checkpoint_id} 1`);
    assert.equal(attached.position, 1);
    // A new journey starts with the goal's navigation checkpoint; the library one went in front of it.
    const listed: Out[] = await run(`list-checkpoints ${other.journey_id}`);
    assert.equal(listed.length, 2);
    assert.equal(String(listed[0].id ?? listed[0].checkpoint_id), String(cp.checkpoint_id));
  });
});
