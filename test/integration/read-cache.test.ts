/**
 * Cached reads stay true after writes through the API (shared/commands/read-cache.ts): the issue's
 * two cases (a step created in a listed checkpoint; `library update` then `library get`), a
 * journey's checkpoint list after a step is created in one of its checkpoints, a rename of a step
 * seen by its checkpoint's list, and reads that nothing touched still served from the cache.
 */
import assert from 'node:assert/strict';
import '../../functions/commands';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { request, serve, type Served } from '../helpers/http';
import { useStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe('read cache after writes (integration: commands, Redis, Virtuoso sandbox)', () => {
  useStack();
  let fn: Served;
  let sandbox: Sandbox;
  let key: string;

  before(async () => {
    fn = await serve('commands');
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY });
  });
  after(async () => {
    await fn.close();
    await sandbox.close();
  });
  beforeEach(async () => {
    clearKeyCache();
    const k = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands'] });
    await storeApiKey(k.record);
    key = k.key;
  });

  const run = async (command: string, as = key): Promise<Json> => {
    const res = await request<Json>(`${fn.url}/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${as}`, 'content-type': 'application/json' },
      body: JSON.stringify({ command }),
    });
    assert.equal(res.status, 200, res.text);
    return res.body.output;
  };
  /** How many times the sandbox was asked for `path` (a cached read does not reach it). */
  const reads = (path: RegExp) => sandbox.faults.count('GET', path);
  /** Past the clock allowance: a read begun within 1 s after a write is never cached. */
  const settle = () => new Promise((r) => setTimeout(r, 1100));

  async function checkpoint(): Promise<{ journey: string; checkpoint: string; goal: string }> {
    const project = await run(`create-project "Cache ${Math.random()}"`);
    const goal = await run(`create-goal ${project.project_id} G`);
    const journey = await run(`create-journey ${goal.goal_id} ${goal.snapshot_id} J`);
    const cp = await run(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} C`);
    return { journey: journey.journey_id, checkpoint: cp.checkpoint_id, goal: goal.goal_id };
  }

  it('a step created in a checkpoint shows in its list at once, and in its journey’s checkpoint counts', async () => {
    const { journey, checkpoint: cp } = await checkpoint();
    await settle();
    assert.deepEqual(await run(`list-checkpoint-steps ${cp}`), []);
    const before = (await run(`list-checkpoints ${journey}`)).find((c: Json) => c.id === cp);
    assert.equal(before.steps, 0);
    const served = reads(new RegExp(`^/api/testcases/${cp}$`));
    assert.deepEqual(await run(`list-checkpoint-steps ${cp}`), [], 'read again: from the cache');
    assert.equal(reads(new RegExp(`^/api/testcases/${cp}$`)), served, 'the second read was served from the cache');

    const step = await run(`step-interact click ${cp} "Buy"`);
    const steps = await run(`list-checkpoint-steps ${cp}`);
    assert.deepEqual(steps.map((s: Json) => s.id), [step.id]);
    assert.equal((await run(`list-checkpoints ${journey}`)).find((c: Json) => c.id === cp).steps, 1);
  });

  it('library update: library get answers the new name at once (another tenant’s cached read too)', async () => {
    const other = newApiKey({ tenantId: 'globex', userId: 'bob', scopes: ['commands'] });
    await storeApiKey(other.record);
    const { checkpoint: cp } = await checkpoint();
    const lib = await run(`library add ${cp}`);
    await settle();
    const first = await run(`library get ${lib.library_checkpoint_id}`);
    await run(`library get ${lib.library_checkpoint_id}`, other.key);
    await run(`library update ${lib.library_checkpoint_id} "Renamed"`);
    const after = await run(`library get ${lib.library_checkpoint_id}`);
    assert.notEqual(after.name ?? after.title, first.name ?? first.title);
    assert.equal(after.name ?? after.title, 'Renamed');
    const seenByOther = await run(`library get ${lib.library_checkpoint_id}`, other.key);
    assert.equal(seenByOther.name ?? seenByOther.title, 'Renamed');
  });

  it('a changed step (update-navigation) makes its checkpoint’s list stale; an untouched checkpoint’s list stays cached', async () => {
    const project = await run(`create-project "Cache ${Math.random()}"`);
    const goal = await run(`create-goal ${project.project_id} G`);
    const journey = await run(`create-journey ${goal.goal_id} ${goal.snapshot_id} J`);
    const cp = (await run(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} C1`)).checkpoint_id;
    const untouched = (await run(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} C2`)).checkpoint_id;
    const nav = await run(`step-navigate to https://a.example.com/one --checkpoint ${cp}`);
    await settle();
    assert.equal((await run(`list-checkpoint-steps ${cp}`))[0].value, 'https://a.example.com/one');
    assert.deepEqual(await run(`list-checkpoint-steps ${untouched}`), []);
    const untouchedReads = reads(new RegExp(`^/api/testcases/${untouched}$`));
    const step = await run(`get-step ${nav.id}`);
    await run(`update-navigation ${nav.id} ${step.canonical_id} --url https://a.example.com/two`);
    assert.equal((await run(`list-checkpoint-steps ${cp}`))[0].value, 'https://a.example.com/two');
    assert.deepEqual(await run(`list-checkpoint-steps ${untouched}`), []);
    assert.equal(reads(new RegExp(`^/api/testcases/${untouched}$`)), untouchedReads, 'still served from the cache');
  });
});
