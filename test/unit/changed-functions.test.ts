/** Which functions the delivery pipeline deploys for a change (scripts/changed-functions.ts). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as infra from '../../shared/infra';
import { changedFiles, changedFunctions } from '../../scripts/changed-functions';

const ALL = infra.functions.map((f) => f.name);

describe('changed functions (the pipeline deploys what a change reaches)', () => {
  it("deploys a bundle's functions when a file of that bundle changes", () => {
    assert.deepEqual(changedFunctions(['functions/test-runs/index.ts']), ['testRuns', 'testRunWorker', 'testRunEvents']);
    assert.deepEqual(changedFunctions(['functions/health/checks.ts', 'functions/webhook/index.ts']), ['health', 'webhook']);
    assert.deepEqual(changedFunctions(['functions/commands/index.ts']), ['commands', 'commandWorker']);
  });

  it('deploys every function when shared code, the dependencies or the build change', () => {
    for (const f of ['shared/http.ts', 'shared/infra.ts', 'package.json', 'package-lock.json', 'tsconfig.json', 'scripts/build.ts']) {
      assert.deepEqual(changedFunctions([f]), ALL, f);
    }
  });

  it('deploys nothing for tests, docs, the client, other scripts and CI files', () => {
    assert.deepEqual(changedFunctions(['README.md', 'test/unit/cli.test.ts', 'shared/client/main.ts', 'scripts/smoke.ts', 'cloudbuild.yaml', 'action.yml']), []);
    assert.deepEqual(changedFunctions([]), []);
  });

  it('says when git cannot tell (then the pipeline deploys every function)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'changed-'));
    try {
      assert.equal(changedFiles('HEAD~1', dir), undefined, 'not a repository');
      assert.equal(changedFiles('no-such-revision-zz', join(__dirname, '..', '..')), undefined, 'an unknown revision');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
