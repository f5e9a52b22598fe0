import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort, redisAnswers } from '../../scripts/local-stack/processes';
import { redisServerAvailable, startPrivateRedis } from '../../scripts/local-stack/emulators';
import { buildBundles } from '../../scripts/build';
import { runFunction } from '../../scripts/start';
import { functions } from '../../shared/infra';

const ROOT = join(__dirname, '..', '..');

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(probe: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('local stack processes (no orphans)', function () {
  before(function () {
    if (!redisServerAvailable()) throw new Error('redis-server is required (apt-get install -y redis-server)');
  });

  it('stops a service when its owner is killed with SIGKILL, not only on a clean exit', async () => {
    const port = await freePort();
    // A separate Node process owns a private redis-server through the watchdog, then gets SIGKILL.
    const owner = spawn(
      process.execPath,
      ['--require', 'tsx/cjs', '-e', `require('./scripts/local-stack/emulators').startPrivateRedis(${port}).then(() => console.log('ready'))`],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      owner.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      owner.once('exit', (code) => reject(new Error(`owner exited early (${code})`)));
    });
    assert.ok(await redisAnswers('127.0.0.1', port), 'redis-server is up');
    const redisPid = Number(execFileSync('sh', ['-c', `pgrep -f 'redis-server 127.0.0.1:${port}' || true`]).toString().trim().split('\n')[0]);
    assert.ok(redisPid > 0, 'found the redis-server process');

    owner.kill('SIGKILL');
    assert.ok(await waitFor(() => !processAlive(redisPid), 5000), 'redis-server outlived its owner');
    assert.equal(await redisAnswers('127.0.0.1', port), false);
  });

  it('starts a function again on its port when its process dies (kill -9), as Cloud Run would; never after stop()', async function () {
    this.timeout(90_000);
    await buildBundles(['health']);
    const port = await freePort();
    const live = async () => (await fetch(`http://127.0.0.1:${port}/?probe=live`, { signal: AbortSignal.timeout(1000) })).ok;
    const fn = await runFunction(functions.find((f) => f.name === 'health')!, port, {}, true);
    try {
      assert.ok(await live());
      const first = fn.pid()!;
      assert.ok(first > 0);
      process.kill(first, 'SIGKILL');
      assert.ok(await waitFor(() => !processAlive(first), 5000), 'the killed process is gone');
      assert.ok(await waitFor(async () => fn.restarts() === 1 && (await live().catch(() => false)), 30_000), 'a new instance answers on the same port');
      assert.notEqual(fn.pid(), first);
    } finally {
      await fn.stop();
    }
    assert.equal(await live().catch(() => false), false);
    await new Promise((r) => setTimeout(r, 1500)); // past the first restart backoff
    assert.equal(await live().catch(() => false), false, 'stopped for good: not restarted');
    assert.equal(fn.restarts(), 1);
  });

  it('stop() ends the service and resolves once it is gone', async () => {
    const redis = await startPrivateRedis();
    assert.ok(await redisAnswers('127.0.0.1', redis.port));
    await redis.stop();
    assert.equal(await redisAnswers('127.0.0.1', redis.port), false);
  });
});
