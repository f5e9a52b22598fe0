/**
 * shared/secrets.ts with the real @google-cloud/secret-manager client (REST fallback transport,
 * PassThroughClient auth) against a local HTTP server that speaks the Secret Manager REST API.
 *
 * Config is memoized at the first getConfig() and test/setup.ts deletes SECRET_MANAGER_ENDPOINT,
 * so the module runs in a child process (test/fixtures/secrets-child.ts, loaded with tsx) whose
 * environment each test chooses: the server's URL, a project, METADATA_SERVER_DETECTION=none, its
 * own SECRET_TTL_MS, and none of the secret environment variables unless a test adds one.
 */
import assert from 'node:assert/strict';
import { secrets, type SecretName } from '../../shared/infra';
import type { ErrorReply } from '../fixtures/child-protocol';
import type { SecretsRequest } from '../fixtures/secrets-child';
import { ModuleChild } from '../helpers/module-child';
import { FakeSecretManager } from '../helpers/secret-manager';

const PROJECT = 'secrets-test-project';
type Reply = { value: string | string[] } | { undefined: true } | { cleared: true } | { error: ErrorReply };

/** shared/secrets.ts in its own process; `get`/`list` send one request and await its reply. */
class SecretsChild extends ModuleChild<SecretsRequest, Reply> {
  constructor(env: Record<string, string>) {
    super('secrets-child.ts', env);
  }

  get = (name: SecretName) => this.call({ op: 'get', name });
  list = (name: SecretName) => this.call({ op: 'list', name });
  /** clearSecretCache() in the child, so one process can serve several tests. */
  clear = () => this.call({ op: 'clear' });
}

const valueOf = (reply: Reply) => {
  assert.ok('value' in reply, `expected a value, got ${JSON.stringify(reply)}`);
  return reply.value;
};
const errorOf = (reply: Reply) => {
  assert.ok('error' in reply, `expected an error, got ${JSON.stringify(reply)}`);
  return reply.error;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('secrets (integration: real Secret Manager client, REST transport, local stand-in server)', () => {
  const fake = new FakeSecretManager(PROJECT);
  /** Processes started by a single test; stopped after it. */
  const perTest: SecretsChild[] = [];

  before(() => fake.start());
  after(() => fake.stop());
  beforeEach(() => {
    fake.values.clear();
    fake.requests.length = 0;
    fake.failWith = undefined;
  });
  afterEach(async () => {
    await Promise.all(perTest.splice(0).map((c) => c.stop()));
  });

  /** A fresh process: empty secret cache, config read from exactly this environment. */
  function startChild(extraEnv: Record<string, string> = {}, ttlMs = 60_000): SecretsChild {
    return new SecretsChild({
      GOOGLE_CLOUD_PROJECT: PROJECT,
      METADATA_SERVER_DETECTION: 'none',
      SECRET_MANAGER_ENDPOINT: fake.url,
      SECRET_TTL_MS: String(ttlMs),
      LOG_LEVEL: 'silent',
      ...extraEnv,
    });
  }

  describe('one process with the default environment (SECRET_TTL_MS 60 s), cache cleared before each test', () => {
    let child: SecretsChild;
    before(() => {
      child = startChild();
    });
    beforeEach(async () => {
      assert.deepEqual(await child.clear(), { cleared: true });
    });
    after(() => child.stop());

    it('reads the latest version through the REST API and decodes the base64 payload as UTF-8', async () => {
      fake.values.set(secrets.virtuosoApiKey, 'api-key-ü-✓ with spaces');
      assert.equal(valueOf(await child.get(secrets.virtuosoApiKey)), 'api-key-ü-✓ with spaces');
      assert.deepEqual(fake.requests, [
        {
          method: 'GET',
          path: `/v1/projects/${PROJECT}/secrets/virtuoso-api-key/versions/latest:access`,
          secret: 'virtuoso-api-key',
        },
      ]);
    });

    it('caches a value within SECRET_TTL_MS: two reads, one request', async () => {
      fake.values.set(secrets.virtuosoApiKey, 'cached');
      assert.equal(valueOf(await child.get(secrets.virtuosoApiKey)), 'cached');
      fake.values.set(secrets.virtuosoApiKey, 'rotated');
      assert.equal(valueOf(await child.get(secrets.virtuosoApiKey)), 'cached');
      assert.equal(fake.requestsFor(secrets.virtuosoApiKey).length, 1);
    });

    // Regression (shared/secrets.ts, fixed): NOT_FOUND is matched as gRPC code 5, but with the REST transport
    // google-gax 5.0.8 rejects with the GaxiosError itself, whose code is the HTTP status 404
    // (googleapis/gax-nodejs#1803). An unknown secret therefore throws AppError 'internal'.
    it('answers undefined for a secret that does not exist', async () => {
      const reply = await child.get(secrets.memorystoreHost);
      assert.deepEqual(reply, { undefined: true }, JSON.stringify(reply));
      assert.equal(fake.requestsFor(secrets.memorystoreHost).length, 1);
    });

    // Regression (shared/errors.ts isTransient, same root cause, fixed): the 503 arrives as a GaxiosError with
    // code 503, which isTransient does not know, so dependencyError makes it 'internal' (500):
    // webhook senders would get a permanent failure instead of "retry later".
    it('reports a Secret Manager 503 as AppError unavailable (503, retryable)', async () => {
      fake.failWith = 503;
      const error = errorOf(await child.get(secrets.virtuosoWebhookSecret));
      assert.equal(error.isAppError, true, JSON.stringify(error));
      assert.equal(error.code, 'unavailable', JSON.stringify(error));
      assert.equal(error.status, 503);
      assert.equal(error.retryable, true);
      assert.equal(error.message, 'Secret Manager is temporarily unavailable');
    });

    it('does not cache a failure: the next read asks again and succeeds', async () => {
      fake.failWith = 503;
      const error = errorOf(await child.get(secrets.virtuosoWebhookSecret));
      assert.equal(error.isAppError, true, JSON.stringify(error));
      // The client itself retries UNAVAILABLE within the read's deadline (secret-manager 7 maps the
      // REST transport's 503 to it), so the failed read may have asked more than once.
      const failedAsks = fake.requestsFor(secrets.virtuosoWebhookSecret).length;
      assert.ok(failedAsks >= 1);
      fake.failWith = undefined;
      fake.values.set(secrets.virtuosoWebhookSecret, 'recovered');
      assert.equal(valueOf(await child.get(secrets.virtuosoWebhookSecret)), 'recovered');
      assert.equal(fake.requestsFor(secrets.virtuosoWebhookSecret).length, failedAsks + 1);
    });

    it('getSecretList splits on whitespace and commas and drops empties', async () => {
      fake.values.set(secrets.virtuosoWebhookSecret, '  old-secret, new-secret\n\tnext-secret,,\r\nlast  ');
      const expected = ['old-secret', 'new-secret', 'next-secret', 'last'];
      assert.deepEqual(valueOf(await child.list(secrets.virtuosoWebhookSecret)), expected);
      assert.deepEqual(valueOf(await child.list(secrets.virtuosoWebhookSecret)), expected);
      assert.equal(fake.requests.length, 1, 'the list is read through the same cache');
    });

    it('getSecretList of a single value is a one-element list', async () => {
      fake.values.set(secrets.webhookSigningSecret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
      assert.deepEqual(valueOf(await child.list(secrets.webhookSigningSecret)), ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']);
    });
  });

  describe('processes with their own environment', () => {
    const start = (env: Record<string, string>, ttlMs?: number) => {
      const child = startChild(env, ttlMs);
      perTest.push(child);
      return child;
    };

    it('reads the secret again once SECRET_TTL_MS has passed (rotation reaches warm instances)', async () => {
      fake.values.set(secrets.virtuosoApiKey, 'before-rotation');
      fake.values.set(secrets.webhookSigningSecret, 'warm-up');
      const child = start({}, 1000);
      // The TTL runs from the start of the read; the first read in a process also loads the
      // client library (about a second), so warm it up on another secret first.
      assert.equal(valueOf(await child.get(secrets.webhookSigningSecret)), 'warm-up');
      assert.equal(valueOf(await child.get(secrets.virtuosoApiKey)), 'before-rotation');
      fake.values.set(secrets.virtuosoApiKey, 'after-rotation');
      assert.equal(valueOf(await child.get(secrets.virtuosoApiKey)), 'before-rotation', 'still cached');
      await sleep(1200);
      assert.equal(valueOf(await child.get(secrets.virtuosoApiKey)), 'after-rotation');
      assert.equal(fake.requestsFor(secrets.virtuosoApiKey).length, 2);
    });

    it('prefers the environment variable named after the secret, without calling Secret Manager', async () => {
      fake.values.set(secrets.virtuosoApiKey, 'from-secret-manager');
      fake.values.set(secrets.virtuosoWebhookSecret, 'from-secret-manager');
      const child = start({ VIRTUOSO_API_KEY: 'from-env', VIRTUOSO_WEBHOOK_SECRET: 'a b,c' });
      assert.equal(valueOf(await child.get(secrets.virtuosoApiKey)), 'from-env');
      assert.deepEqual(valueOf(await child.list(secrets.virtuosoWebhookSecret)), ['a', 'b', 'c']);
      assert.equal(fake.requests.length, 0);
    });

    it('ignores an empty environment variable and asks Secret Manager', async () => {
      fake.values.set(secrets.virtuosoApiKey, 'from-secret-manager');
      const child = start({ VIRTUOSO_API_KEY: '' });
      assert.equal(valueOf(await child.get(secrets.virtuosoApiKey)), 'from-secret-manager');
      assert.equal(fake.requests.length, 1);
    });
  });
});
