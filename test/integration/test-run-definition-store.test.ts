/**
 * A run's definition as stored (shared/testruns/store.ts), on the Firestore emulator: the source and
 * the definition as parsed go in when the run is created; a worker reads the parsed form back as it
 * was (no second parse), and a run stored without it, or with another version's form, is parsed
 * from its source.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import type { Principal } from '../../shared/auth';
import { db } from '../../shared/firestore';
import { parseDefinition } from '../../shared/testruns/definition';
import { createRun, newRunId, PARSED_FORMAT, runDefinition, runRef } from '../../shared/testruns/store';
import { newRunRecord } from '../../shared/testruns/submit';
import { buildPlan } from '../../shared/testruns/plan';
import { useStack } from '../helpers/stack';

const principal: Principal = { keyHash: 'k', tenantId: 'acme', userId: 'alice', scopes: ['test-runs'] };

const YAML = `
name: Stored definition
project: Shop
goals:
  - name: Web shop
    url: https://shop.example.com
    journeys:
      - name: Checkout
        checkpoints:
          - name: Basket
            steps:
              - click: Add to cart
              - write: {selector: Email, text: "\${email}"}
              - wait: 500
`;

describe('test runs: the stored definition (store.ts)', function () {
  this.timeout(30_000);
  useStack();

  const sourceOf = async (id: string) => (await runRef(id).collection('definition').doc('source').get()).data()!;

  it('stores the parsed definition beside its source, and a worker reads it back as parsed', async () => {
    const variables = { email: 'qa@example.com' };
    const def = parseDefinition(YAML, { variables });
    const run = newRunRecord(principal, def, buildPlan(def, { execute: true }), { execute: true, variables });
    await createRun(run, def);

    const source = await sourceOf(run.id);
    assert.deepEqual(JSON.parse(source.json as string), def.document);
    assert.equal(source.parsedFormat, PARSED_FORMAT);
    assert.ok(Buffer.isBuffer(source.parsed), 'the parsed form is stored as bytes');

    const read = await runDefinition(run);
    assert.deepEqual(read, def);
    assert.equal(read.goals[0].journeys[0].checkpoints[0].steps[1].parsedStep.value, 'qa@example.com', 'variables as substituted when the run was accepted');
  });

  it('keeps what only the parse at acceptance knew: the format the definition was written in', async () => {
    // The original CLI's run-test format: its source is stored converted (native), so parsing the
    // source again would say `native`; the parsed form says what the user brought.
    const def = parseDefinition('name: Login\nproject: Shop\nstarting_url: https://shop.example.com\nsteps:\n  - click: Accept cookies\n');
    assert.equal(def.format, 'run-test');
    const run = newRunRecord(principal, def, buildPlan(def, { execute: false }), { execute: false, variables: {} });
    await createRun(run, def);
    const read = await runDefinition(run);
    assert.equal(read.format, 'run-test');
    assert.deepEqual(read, def);
  });

  it('parses the source of a run stored without a parsed form, or with another version’s', async () => {
    const variables = { email: 'ops@example.com' };
    const def = parseDefinition(YAML, { variables });
    const older = { id: newRunId(), variables };
    const other = { id: newRunId(), variables };
    await db().doc(`test_runs/${older.id}/definition/source`).set({ json: JSON.stringify(def.document) });
    // Another version's parsed form, which this version must not read (it is not even JSON).
    await db().doc(`test_runs/${other.id}/definition/source`).set({ json: JSON.stringify(def.document), parsed: gzipSync('not the current form'), parsedFormat: PARSED_FORMAT + 1 });

    for (const run of [older, other]) {
      const read = await runDefinition(run);
      assert.deepEqual(read, parseDefinition(def.document, { variables }));
    }
  });

  it('is not found when the run has no definition', async () => {
    await assert.rejects(runDefinition({ id: newRunId(), variables: {} }), (err: Error & { code?: string }) => err.code === 'not_found');
  });
});
