/**
 * shared/framework.ts patches the Functions Framework's internals: it is written against one
 * version, the one package.json pins. An upgrade must fail here first, so the patches get re-read.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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

  it("hooks the framework's server only when it is about to serve: requiring a function loads no Express, and getTestServer's server has the front door", () => {
    // A fresh process: this one has loaded the framework's server for other suites already.
    const script = `
      const hooked = () => Object.keys(require.cache).filter((f) => /[\\\\/]node_modules[\\\\/](express|body-parser|cloudevents)[\\\\/]/.test(f)).length;
      require('./functions/webhook');
      const before = hooked();
      const { getTestServer } = require('@google-cloud/functions-framework/testing');
      const server = getTestServer('webhook');
      server.listen(0, '127.0.0.1', async () => {
        const res = await fetch('http://127.0.0.1:' + server.address().port + '/', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: '{}' });
        const out = { before, after: hooked(), status: res.status, type: res.headers.get('content-type'), body: await res.text() };
        server.close();
        process.stdout.write(JSON.stringify(out));
        process.exit(0);
      });`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, GOOGLE_CLOUD_PROJECT: 'framework-test', LOG_LEVEL: 'silent' } }),
    ) as { before: number; after: number; status: number; type: string; body: string };
    assert.equal(out.before, 0, 'requiring the function loaded Express, body-parser or cloudevents');
    assert.ok(out.after > 0, 'the test server loads them');
    // The front door answered, before the framework's body parser (which would inflate the body).
    assert.equal(out.status, 415, out.body);
    assert.match(out.type, /^application\/json/);
    assert.equal((JSON.parse(out.body) as { error: { code: string } }).error.code, 'unsupported_media_type');
  });
});
