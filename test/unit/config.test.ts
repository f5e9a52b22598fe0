/** Configuration (shared/config.ts): loadConfig is pure, so every case passes its own env. */
import assert from 'node:assert/strict';
import { ConfigError, getConfig, LOG_LEVELS, loadConfig, redisUrlOf, type Config } from '../../shared/config';

const MINIMAL = { GOOGLE_CLOUD_PROJECT: 'my-project' };

/** Runs loadConfig and returns the ConfigError it must throw. */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.name, 'ConfigError');
    assert.ok(err instanceof Error);
    return err;
  }
  assert.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** Asserts that `value` in `variable` is rejected with one problem that names the variable. */
function assertRejected(variable: string, value: string, detail?: RegExp): void {
  const err = configError({ ...MINIMAL, [variable]: value });
  assert.equal(err.problems.length, 1, `${variable}=${value}: ${err.problems.join('; ')}`);
  assert.ok(err.problems[0].startsWith(`${variable} `), err.problems[0]);
  assert.ok(err.message.includes(variable), err.message);
  if (detail) assert.match(err.problems[0], detail);
}

describe('config', () => {
  describe('loadConfig', () => {
    it('needs only GOOGLE_CLOUD_PROJECT and fills in every default', () => {
      const config = loadConfig(MINIMAL);
      assert.deepEqual({ ...config }, {
        projectId: 'my-project',
        region: 'us-central1',
        tasksRegion: undefined,
        version: 'dev',
        logLevel: 'info',
        redisUrl: undefined,
        redisHost: undefined,
        redisPort: 6379,
        redisTls: 'off',
        redisTimeoutMs: 250,
        dependencyTimeoutMs: 2000,
        healthCacheMs: 5000,
        dependencyDeadlineMs: 5000,
        publishTimeoutMs: 5000,
        webhookMaxBodyBytes: 256 * 1024,
        webhookDedupeHours: 72,
        webhookRetentionHours: 72,
        rateLimitPerMinute: 1000,
        quotaPerDay: 100000,
        webhookToleranceSeconds: 300,
        secretTtlMs: 60_000,
        virtuosoBaseUrl: undefined,
        virtuosoOrgId: undefined,
        cloudTasksEndpoint: undefined,
        tasksInvokerServiceAccount: undefined,
        commandWorkerUrl: undefined,
        secretManagerEndpoint: undefined,
        storageEndpoint: undefined,
        testRunWorkerUrl: undefined,
        testRunPollSeconds: 30,
        testRunLeaseSeconds: 30,
        commandLeaseSeconds: 30,
        testRunConcurrency: 50,
        virtuosoAppUrl: 'https://app.virtuoso.qa',
        archiveHistoryDays: 30,
        archiveBudgetSeconds: 300,
        backupManagedExport: 'auto',
        callbackAllowLoopback: false,
        callbackTimeoutMs: 15_000,
        traceExporter: 'auto',
        traceOtlpEndpoint: undefined,
      } satisfies Config);
    });

    it('returns a frozen object', () => {
      const config = loadConfig(MINIMAL);
      assert.ok(Object.isFrozen(config));
      assert.throws(() => {
        (config as { projectId: string }).projectId = 'other';
      }, TypeError);
    });

    it('reads every variable when set, trimming whitespace', () => {
      const config = loadConfig({
        GOOGLE_CLOUD_PROJECT: ' proj ',
        REGION: 'europe-west1',
        APP_VERSION: '1.2.3',
        LOG_LEVEL: 'debug',
        REDIS_URL: 'redis://10.0.0.3:6380/1',
        REDIS_HOST: '10.0.0.4',
        REDIS_PORT: '6381',
        REDIS_TIMEOUT_MS: '100',
        DEPENDENCY_TIMEOUT_MS: '50',
        HEALTH_CACHE_MS: '0',
        PUBLISH_TIMEOUT_MS: '30000',
        WEBHOOK_MAX_BODY_BYTES: '1024',
        WEBHOOK_DEDUPE_HOURS: '720',
        WEBHOOK_RETENTION_HOURS: '2160',
        WEBHOOK_TOLERANCE_SECONDS: '3600',
        SECRET_TTL_MS: '3600000',
        SECRET_MANAGER_ENDPOINT: 'http://127.0.0.1:8085',
        VIRTUOSO_BASE_URL: 'http://127.0.0.1:5100/api',
        VIRTUOSO_ORG_ID: '2242',
      });
      assert.equal(config.virtuosoBaseUrl, 'http://127.0.0.1:5100/api');
      assert.equal(config.virtuosoOrgId, 2242);
      assert.equal(config.projectId, 'proj');
      assert.equal(config.region, 'europe-west1');
      assert.equal(config.version, '1.2.3');
      assert.equal(config.logLevel, 'debug');
      assert.equal(config.redisUrl, 'redis://10.0.0.3:6380/1');
      assert.equal(config.redisHost, '10.0.0.4');
      assert.equal(config.redisPort, 6381);
      assert.equal(config.redisTimeoutMs, 100);
      assert.equal(config.dependencyTimeoutMs, 50);
      assert.equal(config.healthCacheMs, 0);
      assert.equal(config.publishTimeoutMs, 30_000);
      assert.equal(config.webhookMaxBodyBytes, 1024);
      assert.equal(config.webhookDedupeHours, 720);
      assert.equal(config.webhookRetentionHours, 2160);
      assert.equal(config.webhookToleranceSeconds, 3600);
      assert.equal(config.secretTtlMs, 3_600_000);
      assert.equal(config.secretManagerEndpoint, 'http://127.0.0.1:8085');
    });

    it('reads CALLBACK_ALLOW_LOOPBACK as true or false only, and CALLBACK_TIMEOUT_MS in its range', () => {
      const on = loadConfig({ ...MINIMAL, CALLBACK_ALLOW_LOOPBACK: ' TRUE ', CALLBACK_TIMEOUT_MS: '500' });
      assert.equal(on.callbackAllowLoopback, true);
      assert.equal(on.callbackTimeoutMs, 500);
      assert.equal(loadConfig({ ...MINIMAL, CALLBACK_ALLOW_LOOPBACK: 'false' }).callbackAllowLoopback, false);
      assert.throws(() => loadConfig({ ...MINIMAL, CALLBACK_ALLOW_LOOPBACK: 'yes' }), /CALLBACK_ALLOW_LOOPBACK must be true or false \(got 'yes'\)/);
      assert.throws(() => loadConfig({ ...MINIMAL, CALLBACK_TIMEOUT_MS: '60000' }), /CALLBACK_TIMEOUT_MS must be an integer between 100 and 30000/);
    });

    it('treats empty and blank values as unset (defaults apply)', () => {
      const config = loadConfig({ ...MINIMAL, REGION: '', LOG_LEVEL: '  ', REDIS_PORT: '', REDIS_URL: ' ', REDIS_HOST: '' });
      assert.equal(config.region, 'us-central1');
      assert.equal(config.logLevel, 'info');
      assert.equal(config.redisPort, 6379);
      assert.equal(config.redisUrl, undefined);
      assert.equal(config.redisHost, undefined);
    });

    it('accepts every log level', () => {
      for (const level of LOG_LEVELS) assert.equal(loadConfig({ ...MINIMAL, LOG_LEVEL: level }).logLevel, level);
      assert.deepEqual([...LOG_LEVELS], ['debug', 'info', 'warn', 'error', 'silent']);
    });

    it('a missing or blank GOOGLE_CLOUD_PROJECT fails, naming it', () => {
      for (const env of [{}, { GOOGLE_CLOUD_PROJECT: '' }, { GOOGLE_CLOUD_PROJECT: '   ' }]) {
        const err = configError(env);
        assert.deepEqual(err.problems, ['GOOGLE_CLOUD_PROJECT is required']);
        assert.equal(err.message, 'Invalid configuration: GOOGLE_CLOUD_PROJECT is required');
      }
    });

    it('non-integer numbers fail, naming the variable and the value', () => {
      assertRejected('REDIS_PORT', 'abc', /must be an integer between 1 and 65535 \(got 'abc'\)/);
      assertRejected('REDIS_TIMEOUT_MS', '12.5', /got '12.5'/);
      assertRejected('DEPENDENCY_TIMEOUT_MS', '100ms');
      assertRejected('HEALTH_CACHE_MS', 'NaN');
      assertRejected('PUBLISH_TIMEOUT_MS', 'Infinity');
      assertRejected('WEBHOOK_MAX_BODY_BYTES', '256k');
      assertRejected('WEBHOOK_DEDUPE_HOURS', 'true');
      assertRejected('WEBHOOK_TOLERANCE_SECONDS', '5 min');
      assertRejected('SECRET_TTL_MS', '1,000');
      assertRejected('REDIS_TLS', 'yes', /REDIS_TLS must be one of off, on \(got 'yes'\)/);
    });

    it('integers out of range fail, naming the variable and the range', () => {
      const cases: [string, string, string][] = [
        ['REDIS_PORT', '0', 'between 1 and 65535'],
        ['REDIS_PORT', '65536', 'between 1 and 65535'],
        ['REDIS_TIMEOUT_MS', '9', 'between 10 and 10000'],
        ['REDIS_TIMEOUT_MS', '10001', 'between 10 and 10000'],
        ['DEPENDENCY_TIMEOUT_MS', '49', 'between 50 and 30000'],
        ['DEPENDENCY_TIMEOUT_MS', '30001', 'between 50 and 30000'],
        ['HEALTH_CACHE_MS', '-1', 'between 0 and 300000'],
        ['HEALTH_CACHE_MS', '300001', 'between 0 and 300000'],
        ['PUBLISH_TIMEOUT_MS', '99', 'between 100 and 30000'],
        ['PUBLISH_TIMEOUT_MS', '30001', 'between 100 and 30000'],
        ['WEBHOOK_MAX_BODY_BYTES', '1023', 'between 1024 and 716800'],
        ['WEBHOOK_MAX_BODY_BYTES', '716801', 'between 1024 and 716800'],
        ['WEBHOOK_DEDUPE_HOURS', '0', 'between 1 and 720'],
        ['WEBHOOK_DEDUPE_HOURS', '721', 'between 1 and 720'],
        ['WEBHOOK_RETENTION_HOURS', '2161', 'between 1 and 2160'],
        ['WEBHOOK_TOLERANCE_SECONDS', '0', 'between 1 and 3600'],
        ['WEBHOOK_TOLERANCE_SECONDS', '3601', 'between 1 and 3600'],
        ['SECRET_TTL_MS', '-1', 'between 0 and 3600000'],
        ['SECRET_TTL_MS', '3600001', 'between 0 and 3600000'],
      ];
      for (const [variable, value, range] of cases) {
        assertRejected(variable, value, new RegExp(`must be an integer ${range} \\(got '${value}'\\)`));
      }
    });

    it('bounds are inclusive', () => {
      const config = loadConfig({ ...MINIMAL, REDIS_PORT: '1', SECRET_TTL_MS: '0', WEBHOOK_TOLERANCE_SECONDS: '3600' });
      assert.equal(config.redisPort, 1);
      assert.equal(config.secretTtlMs, 0);
      assert.equal(config.webhookToleranceSeconds, 3600);
    });

    it('a value that is not a URL fails, naming the variable', () => {
      assertRejected('REDIS_URL', 'not a url', /REDIS_URL must be a .*URL \(got 'not a url'\)/);
      assertRejected('REDIS_URL', '10.0.0.3', /must be a .*URL/);
      assertRejected('SECRET_MANAGER_ENDPOINT', '127.0.0.1:8085', /SECRET_MANAGER_ENDPOINT must be a .*URL/);
      assertRejected('SECRET_MANAGER_ENDPOINT', 'http://', /must be a .*URL/);
    });

    // Regression (shared/config.ts `url`, fixed): `new URL('localhost:6379')` parses, with `localhost:` as the
    // scheme, so the most common REDIS_URL mistake passes validation and only fails later, at
    // connect time, without naming the variable. The same goes for an endpoint without http://.
    it('a host:port without a scheme is not a valid REDIS_URL or SECRET_MANAGER_ENDPOINT', () => {
      assertRejected('REDIS_URL', 'localhost:6379', /REDIS_URL must be a/);
      assertRejected('SECRET_MANAGER_ENDPOINT', 'localhost:8085', /SECRET_MANAGER_ENDPOINT must be a/);
    });

    it('an unknown LOG_LEVEL fails, naming the variable and the allowed values', () => {
      assertRejected('LOG_LEVEL', 'verbose', /LOG_LEVEL must be one of debug, info, warn, error, silent \(got 'verbose'\)/);
      assertRejected('LOG_LEVEL', 'warning');
      assertRejected('LOG_LEVEL', 'INFO');
    });

    it('reports several problems together, one per variable, in one ConfigError', () => {
      const err = configError({ LOG_LEVEL: 'loud', REDIS_PORT: 'x', REDIS_URL: 'nope', SECRET_TTL_MS: '-5' });
      assert.equal(err.problems.length, 5, err.problems.join('\n'));
      for (const variable of ['GOOGLE_CLOUD_PROJECT', 'LOG_LEVEL', 'REDIS_URL', 'REDIS_PORT', 'SECRET_TTL_MS']) {
        assert.equal(err.problems.filter((p) => p.startsWith(`${variable} `)).length, 1, variable);
        assert.ok(err.message.includes(variable), variable);
      }
      assert.equal(err.message, `Invalid configuration: ${err.problems.join('; ')}`);
    });

    it('ignores variables it does not know', () => {
      assert.equal(loadConfig({ ...MINIMAL, SOMETHING_ELSE: 'x', VIRTUOSO_WEBHOOK_SECRET: 's' }).projectId, 'my-project');
    });
  });

  describe('redisUrlOf', () => {
    it('is REDIS_URL when set, even when REDIS_HOST is set too', () => {
      const config = loadConfig({ ...MINIMAL, REDIS_URL: 'redis://cache:6379/2', REDIS_HOST: 'other' });
      assert.equal(redisUrlOf(config), 'redis://cache:6379/2');
    });

    it('is built from REDIS_HOST and REDIS_PORT (default 6379) otherwise', () => {
      assert.equal(redisUrlOf(loadConfig({ ...MINIMAL, REDIS_HOST: '10.1.2.3' })), 'redis://10.1.2.3:6379');
      assert.equal(redisUrlOf(loadConfig({ ...MINIMAL, REDIS_HOST: '10.1.2.3', REDIS_PORT: '6390' })), 'redis://10.1.2.3:6390');
    });

    it('is undefined when neither is set (the functions run uncached)', () => {
      assert.equal(redisUrlOf(loadConfig(MINIMAL)), undefined);
      assert.equal(redisUrlOf(loadConfig({ ...MINIMAL, REDIS_PORT: '6390' })), undefined);
    });
  });
});

describe('config errors never echo credentials', () => {
  it('masks the user-info part of a bad URL', () => {
    assert.throws(
      () => loadConfig({ GOOGLE_CLOUD_PROJECT: 'p', REDIS_URL: 'http://user:hunter2@cache:6379' }),
      (err: Error) => err.message.includes('REDIS_URL') && !err.message.includes('hunter2') && err.message.includes('//***@'),
    );
  });
});

// Cases the mutation tests (npm run test:mutation) showed missing.
describe('config: blank values, messages and getConfig', () => {
  it('a blank or padded optional string is trimmed, and blank means unset', () => {
    assert.equal(loadConfig({ ...MINIMAL, REDIS_HOST: '  ', TASKS_INVOKER_SA: '\t' }).redisHost, undefined);
    assert.equal(loadConfig({ ...MINIMAL, TASKS_INVOKER_SA: '\t' }).tasksInvokerServiceAccount, undefined);
    assert.equal(loadConfig({ ...MINIMAL, REDIS_HOST: ' 10.1.2.3 ' }).redisHost, '10.1.2.3');
  });

  it('a blank integer takes its default (Number("  ") would be 0)', () => {
    const config = loadConfig({ ...MINIMAL, HEALTH_CACHE_MS: '   ', SECRET_TTL_MS: ' ' });
    assert.equal(config.healthCacheMs, 5000);
    assert.equal(config.secretTtlMs, 60_000);
  });

  it('an empty or blank optional integer is unset, not 0', () => {
    assert.equal(loadConfig({ ...MINIMAL, VIRTUOSO_ORG_ID: '' }).virtuosoOrgId, undefined);
    assert.equal(loadConfig({ ...MINIMAL, VIRTUOSO_ORG_ID: '  ' }).virtuosoOrgId, undefined);
    assert.equal(loadConfig({ ...MINIMAL, VIRTUOSO_ORG_ID: ' 2242 ' }).virtuosoOrgId, 2242);
  });

  it('a bad URL names the schemes it takes', () => {
    assertRejected('REDIS_URL', 'http://cache:6379', /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL \(got 'http:\/\/cache:6379'\)$/);
    assertRejected('STORAGE_ENDPOINT', 'ftp://x', /^STORAGE_ENDPOINT must be a http:\/\/ or https:\/\/ URL \(got 'ftp:\/\/x'\)$/);
  });

  it('a bug in a parser is thrown as it is, not reported as a bad variable', () => {
    // Only a parser's own Problem is a configuration problem; a value that is not a string is a bug.
    assert.throws(() => loadConfig({ ...MINIMAL, REGION: 5 as unknown as string }), (err: Error) => err instanceof TypeError && !(err instanceof ConfigError));
  });

  it('getConfig loads the process environment once and returns the same frozen object after', () => {
    const first = getConfig();
    assert.equal(first.projectId, process.env.GOOGLE_CLOUD_PROJECT);
    assert.ok(Object.isFrozen(first));
    assert.equal(getConfig(), first);
  });
});
