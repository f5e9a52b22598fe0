/**
 * Contract: every step command of the catalogue, built from its JSON form, is accepted by the
 * Virtuoso sandbox over HTTP through the real client — the request bodies VIRTUOSO_API.md specifies.
 */
import assert from 'node:assert/strict';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { VirtuosoClient } from '../../shared/virtuoso/client';
import { createStepBody } from '../../shared/virtuoso/steps';
import { STEP_COMMANDS, stepFromJson, type ArgType } from '../../shared/virtuoso/step-commands';

const EXAMPLE: Record<ArgType, string | number | boolean> = {
  selector: 'the "Login" button',
  text: 'hello',
  url: 'https://example.com/a.pdf',
  int: 1,
  ms: 1000,
  xy: '10,-20',
  wxh: '800x600',
  variable: 'orderId',
  key: 'ENTER',
  boolean: true,
  'element-position': 'TOP_LEFT',
  modifiers: 'ctrl,shift',
};

describe('step commands × Virtuoso sandbox (every family, real HTTP)', () => {
  let sandbox: Sandbox;
  let api: VirtuosoClient;
  let checkpointId: number;

  before(async () => {
    sandbox = await startSandbox({ organizationId: 2242 });
    api = new VirtuosoClient({ baseUrl: sandbox.url, token: async () => 'token', baseBackoffMs: 5 });
    const project = await api.item<{ id: number }>('POST', '/projects', { body: { name: 'Contract', organizationId: 2242 } });
    const goal = await api.item<{ id: number }>('POST', '/goals', {
      body: { projectId: project.id, name: 'Goal', url: 'https://example.com', environmentId: null, deviceSize: { width: 1280, height: 800 }, meta: {}, createFirstJourney: true },
    });
    const versions = await api.item<{ snapshots: { snapshotId: number }[] }>('GET', `/goals/${goal.id}/versions`);
    const checkpoint = await api.item<{ id: number }>('POST', '/testcases', { body: { goalId: goal.id, snapshotId: versions.snapshots[0].snapshotId, title: 'Steps' } });
    checkpointId = checkpoint.id;
  });
  after(() => sandbox.close());

  it('creates one step for every command, and Virtuoso returns its id at item.testStep.id', async () => {
    const failures: string[] = [];
    for (const c of STEP_COMMANDS) {
      const args = Object.fromEntries(c.args.filter((a) => a.required !== false).map((a) => [a.name, EXAMPLE[a.type]]));
      const { parsedStep } = stepFromJson({ command: c.name, args });
      try {
        const created = await api.item<{ testStep: { id: number } }>('POST', '/teststeps', { body: createStepBody(checkpointId, parsedStep) });
        if (typeof created.testStep?.id !== 'number') failures.push(`${c.name}: no testStep.id`);
      } catch (err) {
        failures.push(`${c.name}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(failures, []);
    const steps = await api.item<{ items?: unknown[] }>('GET', `/checkpoints/${checkpointId}/teststeps`);
    assert.equal(steps.items?.length, STEP_COMMANDS.length);
  });
});
