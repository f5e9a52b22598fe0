/**
 * shared/framework.ts patches the Functions Framework's internals: it is written against one
 * version, the one package.json pins. An upgrade must fail here first, so the patches get re-read.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FRAMEWORK_VERSION } from '../../shared/framework';

const ROOT = join(__dirname, '..', '..');

describe('framework hooks (shared/framework.ts)', () => {
  it('are written for the Functions Framework version package.json pins, and that is the one installed', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(pkg.dependencies['@google-cloud/functions-framework'], FRAMEWORK_VERSION, 'pin the framework exactly, to the version shared/framework.ts was written for');
    const installed = JSON.parse(readFileSync(join(ROOT, 'node_modules/@google-cloud/functions-framework/package.json'), 'utf8')) as { version: string };
    assert.equal(installed.version, FRAMEWORK_VERSION);
  });

  it('finds the framework internals each hook patches (server.js getServer, function_wrappers.js wrapUserFunction, Express handle)', () => {
    const base = join(ROOT, 'node_modules/@google-cloud/functions-framework/build/src');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    assert.equal(typeof (require(join(base, 'server.js')) as { getServer?: unknown }).getServer, 'function');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    assert.equal(typeof (require(join(base, 'function_wrappers.js')) as { wrapUserFunction?: unknown }).wrapUserFunction, 'function');
    // Both modules call these through the module object, which is what lets a hook replace them.
    assert.match(readFileSync(join(base, 'main.js'), 'utf8'), /\(0, server_1\.getServer\)\(/);
    assert.match(readFileSync(join(base, 'testing.js'), 'utf8'), /\(0, server_1\.getServer\)\(/);
    assert.match(readFileSync(join(base, 'server.js'), 'utf8'), /\(0, function_wrappers_1\.wrapUserFunction\)\(/);
  });
});
