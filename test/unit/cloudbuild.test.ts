/**
 * cloudbuild.yaml (the delivery pipeline) against what gcloud's own parser does not check (that is
 * test/integration/deploy-gcloud.test.ts): every substitution it uses is a built-in or declared
 * one (Cloud Build refuses a build with an unknown one), it runs as the ci-cd-builder account
 * infra.ts declares, reads only that account's secrets, tests before it deploys, deploys a
 * --functions-only plan of what changed, smoke-checks, and rolls back when the smoke check fails.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import * as infra from '../../shared/infra';

interface Step {
  id: string;
  name: string;
  args: string[];
  secretEnv?: string[];
}
interface BuildConfig {
  serviceAccount: string;
  substitutions: Record<string, string>;
  availableSecrets: { secretManager: { versionName: string; env: string }[] };
  steps: Step[];
}

const TEXT = readFileSync(join(__dirname, '..', '..', 'cloudbuild.yaml'), 'utf8');
const config = parse(TEXT) as BuildConfig;
/** Cloud Build's built-in substitutions (Substituting variable values docs). */
const BUILT_IN = new Set(['PROJECT_ID', 'PROJECT_NUMBER', 'BUILD_ID', 'LOCATION', 'TRIGGER_NAME', 'COMMIT_SHA', 'REVISION_ID', 'SHORT_SHA', 'REPO_NAME', 'REPO_FULL_NAME', 'BRANCH_NAME', 'TAG_NAME', 'REF_NAME', 'TRIGGER_BUILD_CONFIG_PATH', 'SERVICE_ACCOUNT_EMAIL', 'SERVICE_ACCOUNT']);

/** `$NAME` and `${NAME}` that Cloud Build substitutes (`$$` escapes a shell variable). */
function substitutionsUsed(text: string): string[] {
  const names = [...text.replace(/\$\$/g, '').matchAll(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g)].map((m) => m[1] ?? m[2]);
  return [...new Set(names)];
}

describe('cloudbuild.yaml (the delivery pipeline)', () => {
  it('uses only built-in or declared substitutions (shell variables escaped as $$)', () => {
    const body = TEXT.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n');
    const unknown = substitutionsUsed(body).filter((n) => !BUILT_IN.has(n) && !(n in config.substitutions));
    assert.deepEqual(unknown, []);
    assert.deepEqual(substitutionsUsed('a $FOO b $${bar} $$baz ${_X}'), ['FOO', '_X'], 'the check itself sees what it should');
  });

  it('runs as ci-cd-builder and reads only its secrets', () => {
    assert.equal(config.serviceAccount, `projects/$PROJECT_ID/serviceAccounts/${infra.ciCdBuilder.id}@$PROJECT_ID.iam.gserviceaccount.com`);
    const read = config.availableSecrets.secretManager.map((s) => /secrets\/([^/]+)\/versions/.exec(s.versionName)![1]).sort();
    assert.deepEqual(read, [...infra.ciCdBuilder.secrets].sort());
  });

  it('tests, then builds and deploys what changed (functions only), smoke-checks, and rolls back on a failed smoke check', () => {
    assert.deepEqual(config.steps.map((s) => s.id), ['test', 'deliver']);
    assert.match(config.steps[0].args.join('\n'), /\.ci\/run/, 'npm ci and npm test, as CI runs them');
    const deliver = config.steps[1].args.join('\n');
    const at = (re: RegExp) => {
      const m = re.exec(deliver);
      assert.ok(m, `deliver: ${re}`);
      return m.index;
    };
    const order = [at(/npm run build/), at(/changed-functions\.ts/), at(/\.\/deploy\.sh [^\n]*\\\n[^\n]*--functions-only --only/), at(/npm run smoke/), at(/--rollback/)];
    assert.deepEqual([...order].sort((a, b) => a - b), order);
    assert.deepEqual(config.steps[1].secretEnv?.sort(), config.availableSecrets.secretManager.map((s) => s.env).sort());
    assert.match(deliver, /exit 1\s*$/, 'a rolled-back build fails');
  });
});
