import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { ROOT } from '../../scripts/build';

/**
 * Node.js 24 everywhere, on a machine whose own Node may be older: the project installs Node 24 as
 * the npm package `node` (node_modules/.bin/node), and npm puts node_modules/.bin first on PATH for
 * every script. Function processes are checked in bundles.test.ts, where all nine run.
 */
describe('runtime: the project runs on its own Node.js 24', function () {
  this.timeout(60_000);
  const major = (v: string) => Number(v.replace(/^v/, '').split('.')[0]);

  it('runs the tests, and what they start in-process (the Virtuoso sandbox, local Cloud Tasks and Storage), on Node 24 from node_modules', () => {
    assert.equal(major(process.versions.node), 24, `mocha runs on ${process.version} (${process.execPath})`);
    assert.ok(process.execPath.startsWith(join(ROOT, 'node_modules')), `mocha's node is ${process.execPath}, not the project's`);
  });

  it('resolves `node` for npm scripts, npm exec and tsx scripts to Node 24 from a shell whose PATH lacks node_modules/.bin', () => {
    // The shell of a user who just cloned the project: PATH without any node_modules/.bin.
    const PATH = (process.env.PATH ?? '')
      .split(delimiter)
      .filter((dir) => !dir.includes('node_modules'))
      .join(delimiter);
    const env: NodeJS.ProcessEnv = { ...process.env, PATH };
    delete env.NODE_OPTIONS;
    const run = (args: string[]) => execFileSync('npm', args, { cwd: ROOT, env, encoding: 'utf8' }).trim();
    const versions = {
      'npm exec node': run(['exec', '--offline', '--', 'node', '-p', 'process.versions.node']),
      'npm exec tsx': run(['exec', '--offline', '--', 'tsx', '-e', 'process.stdout.write(process.versions.node)']),
      // `npm run` adds the same PATH entries as `npm exec`; a script's own view of `node`:
      'npm run (script env)': run(['run', '-s', 'env'])
        .split('\n')
        .filter((l) => l.startsWith('PATH='))
        .map((l) => execFileSync('sh', ['-c', 'node -p process.versions.node'], { env: { ...env, PATH: l.slice(5) }, encoding: 'utf8' }).trim())[0],
    };
    for (const [how, version] of Object.entries(versions)) assert.equal(major(version ?? ''), 24, `${how} ran Node ${version}`);
  });
});
