/**
 * The production connection to Memorystore (REDIS_TLS=on): TLS checked against the instance's CA and
 * AUTH, both from secrets, against a real redis-server with only a TLS port and `requirepass`, its
 * certificates made here with openssl. Like Memorystore's, the server certificate names its IP
 * address in the common name only. shared/cache.ts runs in a child process per environment
 * (test/fixtures/cache-child.ts), since config is read once per process.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secrets } from '../../shared/infra';
import { freePort, portInUse, spawnService, waitUntil } from '../../scripts/local-stack/processes';
import type { ErrorReply } from '../fixtures/child-protocol';
import type { CacheRequest } from '../fixtures/cache-child';
import { ModuleChild } from '../helpers/module-child';
import { FakeSecretManager } from '../helpers/secret-manager';

const PROJECT = 'cache-tls-project';
const PASSWORD = 'memorystore-auth-string-9f2c';

type Reply = { pong: true } | { value: string | null } | { error: ErrorReply };

class CacheChild extends ModuleChild<CacheRequest, Reply> {
  constructor(env: Record<string, string>) {
    super('cache-child.ts', env);
  }
}

/** A CA, and a server certificate it signs whose only name is `cn` (as Memorystore's: its IP in the CN). */
function makeCertificates(dir: string, name: string, cn: string): { ca: string; cert: string; key: string } {
  const f = (x: string) => join(dir, `${name}-${x}`);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', `/CN=${name} test CA`);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${cn}`);
  openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '1');
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

/** redis-server with a TLS port only (no plain one) and a password. */
async function startTlsRedis(certs: { ca: string; cert: string; key: string }) {
  const port = await freePort();
  const svc = spawnService(`redis-tls-${port}`, 'redis-server', [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
    '--tls-cert-file', certs.cert, '--tls-key-file', certs.key, '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'no',
    '--requirepass', PASSWORD, '--save', '', '--appendonly', 'no',
  ]);
  await waitUntil(`redis-server (TLS) on ${port}`, () => portInUse(port), 10_000, svc.exited);
  return { port, stop: svc.stop };
}

describe('cache: Memorystore connection with TLS and AUTH (a real redis-server)', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
  let good: { ca: string; cert: string; key: string };
  let otherCa: { ca: string };
  let server: Awaited<ReturnType<typeof startTlsRedis>>;
  let misnamed: Awaited<ReturnType<typeof startTlsRedis>>;
  const children: CacheChild[] = [];

  before(async function () {
    try {
      execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      this.skip(); // .ci/run installs redis-server; openssl comes with the system
    }
    good = makeCertificates(dir, 'memorystore', '127.0.0.1');
    otherCa = makeCertificates(dir, 'stranger', '127.0.0.1');
    // Signed by the right CA, but for another instance's address.
    const elsewhere = makeCertificates(dir, 'elsewhere', '10.9.9.9');
    execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'elsewhere-server.csr'), '-CA', good.ca, '-CAkey', join(dir, 'memorystore-ca.key'), '-CAcreateserial', '-out', elsewhere.cert, '-days', '1'], { stdio: 'pipe' });
    [server, misnamed] = await Promise.all([startTlsRedis(good), startTlsRedis({ ...elsewhere, ca: good.ca })]);
  });

  after(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await Promise.all([server?.stop(), misnamed?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** shared/cache.ts configured as deploy configures a function that uses Redis; secrets from env unless given. */
  const child = (port: number, env: Record<string, string | undefined>) => {
    const c = new CacheChild(
      Object.fromEntries(
        Object.entries({
          GOOGLE_CLOUD_PROJECT: PROJECT,
          METADATA_SERVER_DETECTION: 'none',
          LOG_LEVEL: 'silent',
          REDIS_HOST: '127.0.0.1',
          REDIS_PORT: String(port),
          REDIS_TLS: 'on',
          REDIS_TIMEOUT_MS: '3000',
          ...env,
        }).filter((e): e is [string, string] => e[1] !== undefined),
      ),
    );
    children.push(c);
    return c;
  };
  const secretEnv = (name: string) => name.toUpperCase().replace(/-/g, '_');
  const pem = (file: string) => readFileSync(file, 'utf8');
  const errorOf = (r: Reply) => ('error' in r ? r.error.message ?? '' : '');

  it('connects with TLS against the instance CA and the AUTH string, and reads back what it wrote', async () => {
    const c = child(server.port, { [secretEnv(secrets.memorystoreAuth)]: `${PASSWORD}\n`, [secretEnv(secrets.memorystoreCa)]: pem(good.ca) });
    assert.deepEqual(await c.call({ op: 'ping' }), { pong: true });
    assert.deepEqual(await c.call({ op: 'roundtrip', key: 'session:tls', value: 'over TLS' }), { value: 'over TLS' });
    assert.deepEqual(await c.call({ op: 'cached', key: 'session:tls' }), { value: 'over TLS' });
  });

  it('takes the CA and the AUTH string from Secret Manager, as deployed', async () => {
    const sm = new FakeSecretManager(PROJECT);
    await sm.start();
    try {
      sm.values.set(secrets.memorystoreAuth, `${PASSWORD}\n`); // as `gcloud … --format=value(authString)` prints it
      sm.values.set(secrets.memorystoreCa, `${pem(otherCa.ca)}${pem(good.ca)}`); // two CAs, as while Memorystore rotates
      const c = child(server.port, { SECRET_MANAGER_ENDPOINT: sm.url });
      assert.deepEqual(await c.call({ op: 'ping' }), { pong: true });
      assert.equal(sm.requestsFor(secrets.memorystoreAuth).length, 1);
      assert.equal(sm.requestsFor(secrets.memorystoreCa).length, 1);
    } finally {
      await sm.stop();
    }
  });

  /** A Secret Manager holding only some of the secrets (the others have no version: 404). */
  async function withSecretManager(values: Record<string, string>, test: (url: string) => Promise<void>): Promise<void> {
    const sm = new FakeSecretManager(PROJECT);
    await sm.start();
    try {
      for (const [k, v] of Object.entries(values)) sm.values.set(k, v);
      await test(sm.url);
    } finally {
      await sm.stop();
    }
  }

  it('is refused with a wrong AUTH string, or none, and then goes on uncached', async () => {
    const wrong = child(server.port, { [secretEnv(secrets.memorystoreAuth)]: 'not-the-password', [secretEnv(secrets.memorystoreCa)]: pem(good.ca) });
    assert.match(errorOf(await wrong.call({ op: 'ping' })), /WRONGPASS|invalid username-password/i);
    await withSecretManager({ [secrets.memorystoreCa]: pem(good.ca) }, async (url) => {
      const none = child(server.port, { SECRET_MANAGER_ENDPOINT: url });
      assert.match(errorOf(await none.call({ op: 'ping' })), /NOAUTH|Authentication required/i);
      assert.deepEqual(await none.call({ op: 'cached', key: 'session:x' }), { value: null });
    });
  });

  it('refuses a server whose certificate another CA signed, or that no CA was given for', async () => {
    const stranger = child(server.port, { [secretEnv(secrets.memorystoreAuth)]: PASSWORD, [secretEnv(secrets.memorystoreCa)]: pem(otherCa.ca) });
    assert.match(errorOf(await stranger.call({ op: 'ping' })), /certificate|self[- ]signed|unable to verify/i);
    await withSecretManager({ [secrets.memorystoreAuth]: PASSWORD }, async (url) => {
      const noCa = child(server.port, { SECRET_MANAGER_ENDPOINT: url });
      assert.match(errorOf(await noCa.call({ op: 'ping' })), /certificate|self[- ]signed|unable to verify/i);
    });
  });

  it("refuses a certificate of the right CA that names another instance's address", async () => {
    const c = child(misnamed.port, { [secretEnv(secrets.memorystoreAuth)]: PASSWORD, [secretEnv(secrets.memorystoreCa)]: pem(good.ca) });
    assert.match(errorOf(await c.call({ op: 'ping' })), /10\.9\.9\.9|altnames|does not match/i);
  });

  it('does not speak plain text to it (REDIS_TLS=off)', async () => {
    const c = child(server.port, { REDIS_TLS: 'off', REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${server.port}` });
    assert.ok('error' in (await c.call({ op: 'ping' })));
  });
});
