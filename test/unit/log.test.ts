/**
 * Structured logging (shared/log.ts).
 *
 * `Logger` reads its level and project from getConfig(), which is memoized from process.env at
 * first use; test/setup.ts sets LOG_LEVEL to TEST_LOG_LEVEL or 'silent'. In this process the level
 * can therefore not be changed, so:
 * - redaction and trace parsing are tested through the exported pure functions;
 * - level filtering in this process is checked against whatever level was memoized, by capturing
 *   process.stdout.write / process.stderr.write;
 * - the line format, and filtering at every level, are tested in child processes (node with the
 *   tsx loader) that load shared/log.ts fresh with their own LOG_LEVEL and GOOGLE_CLOUD_PROJECT.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { getConfig } from '../../shared/config';
import { AppError } from '../../shared/errors';
import { log, Logger, parseTrace, REDACTED, redact } from '../../shared/log';

const ROOT = join(__dirname, '..', '..');
const LOG_MODULE = join(ROOT, 'shared', 'log.ts');
const TRACE_ID = '105445aa7843bc8bf206b12000100000';
const W3C_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const W3C_SPAN_ID = '00f067aa0ba902b7';

describe('log', () => {
  describe('redact', () => {
    it('redacts secret-looking keys, whatever their case or spelling', () => {
      const keys = [
        'authorization',
        'Authorization',
        'proxy-authorization',
        'x-virtuoso-signature',
        'webhook-signature',
        'signature',
        'apiKey',
        'api_key',
        'api-key',
        'APIKEY',
        'x-api-key',
        'password',
        'dbPassword',
        'token',
        'accessToken',
        'refresh_token',
        'secret',
        'clientSecret',
        'VIRTUOSO_WEBHOOK_SECRET',
        'cookie',
        'set-cookie',
        'credentials',
        'privateKey',
        'private_key',
      ];
      for (const key of keys) {
        assert.deepEqual(redact({ [key]: 'value-123' }), { [key]: REDACTED }, key);
      }
    });

    it('redacts the whole value under a secret key, objects, arrays and numbers included', () => {
      assert.deepEqual(redact({ secret: { nested: 'x' }, token: 12345, credentials: ['a', 'b'], password: null }), {
        secret: REDACTED,
        token: REDACTED,
        credentials: REDACTED,
        password: REDACTED,
      });
    });

    it('redacts at any depth, inside objects and arrays', () => {
      const input = {
        request: { headers: { authorization: 'Bearer abc', 'content-type': 'application/json' } },
        attempts: [{ apiKey: 'k1', n: 1 }, [{ deep: { deeper: { password: 'p' } } }]],
      };
      assert.deepEqual(redact(input), {
        request: { headers: { authorization: REDACTED, 'content-type': 'application/json' } },
        attempts: [{ apiKey: REDACTED, n: 1 }, [{ deep: { deeper: { password: REDACTED } } }]],
      });
    });

    it('redacts values that look like credentials under innocent keys', () => {
      const values = [
        'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x',
        'bearer abc',
        'BEARER   abc',
        'Basic dXNlcjpwYXNz',
        'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        `sha1=${'a1'.repeat(20)}`,
        `sha1=${'A1'.repeat(20)}`,
        'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
        'v1a,g0hM9SsE+OTPJTGt',
      ];
      for (const value of values) {
        assert.deepEqual(redact({ header: value, list: [value] }), { header: REDACTED, list: [REDACTED] }, value);
        assert.equal(redact(value), REDACTED, value);
      }
    });

    it('keeps ordinary values, including near misses of the credential patterns', () => {
      const input = {
        user: 'bob',
        count: 3,
        ok: true,
        nothing: null,
        missing: undefined,
        note: 'the bearer of good news',
        word: 'Bearer',
        shortSha: 'sha1=abc',
        longSha: `sha1=${'a'.repeat(41)}`,
        v2: 'v2,abc',
        event: 'EXECUTION',
        list: [1, 'two', { three: 3 }],
      };
      assert.deepEqual(redact(input), input);
    });

    it('does not change its input', () => {
      const input = { authorization: 'Bearer x', nested: { token: 't' } };
      const copy = structuredClone(input);
      redact(input);
      assert.deepEqual(input, copy);
    });

    it('serializes Errors with name, message and stack (and code and cause when present)', () => {
      const plain = new Error('boom');
      assert.deepEqual(redact(plain), { name: 'Error', message: 'boom', stack: plain.stack });

      const root = Object.assign(new Error('connect ECONNREFUSED 10.0.0.3:6379'), { code: 'ECONNREFUSED' });
      const wrapped = new AppError('unavailable', 'Redis is temporarily unavailable', { cause: root });
      const out = redact({ error: wrapped }) as { error: Record<string, unknown> };
      assert.deepEqual(out.error, {
        name: 'AppError',
        message: 'Redis is temporarily unavailable',
        code: 'unavailable',
        stack: wrapped.stack,
        cause: { name: 'Error', message: 'connect ECONNREFUSED 10.0.0.3:6379', code: 'ECONNREFUSED', stack: root.stack },
      });
      assert.match(String(out.error.stack), /^AppError: Redis is temporarily unavailable\n\s+at /);
    });

    it('serializes Errors inside arrays', () => {
      const [e] = redact([new TypeError('bad type')]) as Record<string, unknown>[];
      assert.equal(e.name, 'TypeError');
      assert.equal(e.message, 'bad type');
      assert.equal(typeof e.stack, 'string');
    });

    it('cuts very deep or circular structures instead of recursing forever', () => {
      type Node = { next?: Node; name: string };
      const loop: Node = { name: 'a' };
      loop.next = loop;
      const out = JSON.stringify(redact(loop));
      assert.match(out, /\[truncated\]/);
      let deep: unknown = 'bottom';
      for (let i = 0; i < 20; i++) deep = { d: deep };
      assert.ok(!JSON.stringify(redact(deep)).includes('bottom'));
    });

    // Regression (shared/log.ts redact, fixed): any non-plain object goes through Object.entries, so a Date
    // (which JSON.stringify would write as its ISO string) is logged as {} and its value is lost.
    it('keeps a Date as JSON.stringify would write it (its ISO string), not {}', () => {
      const at = new Date('2024-05-06T07:08:09.010Z');
      assert.equal(JSON.stringify(redact({ at })), JSON.stringify({ at }));
    });
  });

  describe('parseTrace', () => {
    it('reads X-Cloud-Trace-Context (TRACE/SPAN;o=1)', () => {
      const t = parseTrace({ 'x-cloud-trace-context': `${TRACE_ID}/2241;o=1` });
      assert.equal(t?.traceId, TRACE_ID);
      assert.equal(t?.sampled, true);
      assert.ok(t?.spanId, 'a span id');
    });

    it('reads X-Cloud-Trace-Context with o=0, without options and without a span', () => {
      assert.equal(parseTrace({ 'x-cloud-trace-context': `${TRACE_ID}/1;o=0` })?.sampled, false);
      const noOptions = parseTrace({ 'x-cloud-trace-context': `${TRACE_ID}/1` });
      assert.equal(noOptions?.traceId, TRACE_ID);
      assert.equal(noOptions?.sampled, undefined);
      assert.deepEqual(parseTrace({ 'x-cloud-trace-context': TRACE_ID }), { traceId: TRACE_ID, spanId: undefined, sampled: undefined });
    });

    it('reads W3C traceparent', () => {
      assert.deepEqual(parseTrace({ traceparent: `00-${W3C_TRACE_ID}-${W3C_SPAN_ID}-01` }), {
        traceId: W3C_TRACE_ID,
        spanId: W3C_SPAN_ID,
        sampled: true,
      });
      assert.equal(parseTrace({ traceparent: `00-${W3C_TRACE_ID}-${W3C_SPAN_ID}-00` })?.sampled, false);
      assert.equal(parseTrace({ traceparent: ` 00-${W3C_TRACE_ID}-${W3C_SPAN_ID}-03 ` })?.sampled, true);
    });

    it('prefers traceparent when both headers are present', () => {
      const t = parseTrace({ traceparent: `00-${W3C_TRACE_ID}-${W3C_SPAN_ID}-01`, 'x-cloud-trace-context': `${TRACE_ID}/1;o=1` });
      assert.equal(t?.traceId, W3C_TRACE_ID);
    });

    it('falls back to X-Cloud-Trace-Context when traceparent is malformed or all zeros', () => {
      for (const traceparent of ['garbage', `00-${'0'.repeat(32)}-${W3C_SPAN_ID}-01`, `00-${W3C_TRACE_ID}-short-01`]) {
        assert.equal(parseTrace({ traceparent, 'x-cloud-trace-context': `${TRACE_ID}/1;o=1` })?.traceId, TRACE_ID, traceparent);
      }
    });

    it('takes the first value of a repeated header', () => {
      assert.equal(parseTrace({ 'x-cloud-trace-context': [`${TRACE_ID}/1;o=1`, `${'f'.repeat(32)}/2`] })?.traceId, TRACE_ID);
    });

    it('is undefined without a usable header', () => {
      assert.equal(parseTrace({}), undefined);
      assert.equal(parseTrace({ 'x-cloud-trace-context': 'not-a-trace' }), undefined);
      assert.equal(parseTrace({ 'x-cloud-trace-context': 'abc123/1;o=1' }), undefined);
      assert.equal(parseTrace({ traceparent: 'garbage' }), undefined);
    });
  });

  describe('Logger in this process (level memoized by getConfig)', () => {
    const RANK = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;

    it('writes only entries at or above the configured level, one JSON line each', () => {
      const level = getConfig().logLevel;
      const out: string[] = [];
      const err: string[] = [];
      const stdoutWrite = process.stdout.write;
      const stderrWrite = process.stderr.write;
      process.stdout.write = ((chunk: string | Uint8Array) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
      process.stderr.write = ((chunk: string | Uint8Array) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
      try {
        const logger = new Logger({ suite: 'log.test' });
        logger.debug('d');
        logger.info('i');
        logger.warn('w');
        logger.error('e');
        log.info('from the process-wide logger');
      } finally {
        process.stdout.write = stdoutWrite;
        process.stderr.write = stderrWrite;
      }
      const expectedOut = [
        ...(RANK[level] <= 10 ? ['DEBUG'] : []),
        ...(RANK[level] <= 20 ? ['INFO'] : []),
        ...(RANK[level] <= 30 ? ['WARNING'] : []),
        ...(RANK[level] <= 20 ? ['INFO'] : []),
      ];
      const expectedErr = RANK[level] <= 40 ? ['ERROR'] : [];
      for (const chunk of [...out, ...err]) assert.match(chunk, /^\{.*\}\n$/);
      assert.deepEqual(out.map((l) => JSON.parse(l).severity), expectedOut, `LOG_LEVEL=${level}`);
      assert.deepEqual(err.map((l) => JSON.parse(l).severity), expectedErr, `LOG_LEVEL=${level}`);
    });
  });

  describe('Logger line format (child process with its own LOG_LEVEL)', () => {
    /** Writes a fixed set of entries; the parent asserts on what reaches stdout and stderr. */
    const SCRIPT = `
      const { Logger, log, parseTrace } = require(${JSON.stringify(LOG_MODULE)});
      const xc = new Logger({ service: 'svc' }, parseTrace({ 'x-cloud-trace-context': '${TRACE_ID}/2241;o=1' }));
      xc.info('xc trace', { count: 3, authorization: 'Bearer abc', nested: { apiKey: 'k', list: ['whsec_x', 'ok'] } });
      const w3c = new Logger({}, parseTrace({ traceparent: '00-${W3C_TRACE_ID}-${W3C_SPAN_ID}-00' }));
      w3c.warn('w3c trace');
      log.debug('plain debug', { sig: 'sha1=${'ab'.repeat(20)}' });
      log.info('multi\\nline', { text: 'a\\nb' });
      const child = xc.child({ requestId: 'r-1', skipped: undefined, function: 'svc-fn' });
      const err = Object.assign(new Error('boom'), { code: 'ECONNRESET' });
      child.error('failed', { error: err, 'x-virtuoso-signature': 'sha1=00',
        httpRequest: { method: 'POST', url: '/commands?x=1', responseStatusCode: 500, userAgent: 'curl/8', authorization: 'Bearer t' } });
      function reportWithoutStack() { log.error('the managed export did not start', { error: { code: 7, message: 'PERMISSION_DENIED' } }); }
      reportWithoutStack();
    `;

    interface Run {
      code: number | null;
      stdout: Record<string, unknown>[];
      stderr: Record<string, unknown>[];
      rawStdout: string;
      rawStderr: string;
    }

    /** Runs SCRIPT with `env`; by default as the Cloud Run service `svc-k` at version `v-test`. */
    function run(env: Record<string, string>, service = true): Promise<Run> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--require', 'tsx/cjs', '--eval', SCRIPT], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...(service ? { K_SERVICE: 'svc-k', APP_VERSION: 'v-test' } : {}), ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let rawStdout = '';
        let rawStderr = '';
        child.stdout.on('data', (d: Buffer) => (rawStdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (rawStderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          try {
            const parse = (s: string) => s.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
            resolve({ code, stdout: parse(rawStdout), stderr: parse(rawStderr), rawStdout, rawStderr });
          } catch (e) {
            reject(new Error(`child output is not JSON lines: ${(e as Error).message}\nstdout: ${rawStdout}\nstderr: ${rawStderr}`));
          }
        });
      });
    }

    const PROJECT = 'log-project';
    let debugRun: Run;
    before(async function () {
      this.timeout(20_000);
      debugRun = await run({ GOOGLE_CLOUD_PROJECT: PROJECT, LOG_LEVEL: 'debug' });
    });

    it('writes one JSON object per line, and every line ends with a newline', () => {
      assert.equal(debugRun.code, 0, debugRun.rawStderr);
      assert.equal(debugRun.rawStdout.split('\n').length - 1, 4);
      assert.equal(debugRun.rawStderr.split('\n').length - 1, 2);
      assert.ok(debugRun.rawStdout.endsWith('\n') && debugRun.rawStderr.endsWith('\n'));
    });

    it('sends DEBUG, INFO and WARNING to stdout and ERROR to stderr', () => {
      assert.deepEqual(debugRun.stdout.map((e) => e.severity), ['INFO', 'WARNING', 'DEBUG', 'INFO']);
      assert.deepEqual(debugRun.stderr.map((e) => e.severity), ['ERROR', 'ERROR']);
    });

    it('carries severity, message, an ISO time and the redacted fields at the top level', () => {
      const [entry] = debugRun.stdout;
      assert.equal(entry.severity, 'INFO');
      assert.equal(entry.message, 'xc trace');
      assert.equal(new Date(String(entry.time)).toISOString(), entry.time);
      assert.equal(entry.count, 3);
      assert.equal(entry.authorization, REDACTED);
      assert.deepEqual(entry.nested, { apiKey: REDACTED, list: [REDACTED, 'ok'] });
      assert.equal(debugRun.stdout[2].sig, REDACTED);
    });

    it('puts labels under logging.googleapis.com/labels, merged by child(), and omits them when empty', () => {
      assert.deepEqual(debugRun.stdout[0]['logging.googleapis.com/labels'], { service: 'svc' });
      assert.deepEqual(debugRun.stderr[0]['logging.googleapis.com/labels'], { service: 'svc', requestId: 'r-1', function: 'svc-fn' });
      assert.ok(!('logging.googleapis.com/labels' in debugRun.stdout[1]));
      assert.ok(!('logging.googleapis.com/labels' in debugRun.stdout[2]));
    });

    it('sets the trace as projects/<project>/traces/<id> from X-Cloud-Trace-Context, with trace_sampled', () => {
      const [entry] = debugRun.stdout;
      assert.equal(entry['logging.googleapis.com/trace'], `projects/${PROJECT}/traces/${TRACE_ID}`);
      assert.equal(entry['logging.googleapis.com/trace_sampled'], true);
      assert.equal(debugRun.stderr[0]['logging.googleapis.com/trace'], `projects/${PROJECT}/traces/${TRACE_ID}`, 'child() keeps the trace');
    });

    // Regression (shared/log.ts parseTrace, fixed): X-Cloud-Trace-Context carries the span id in *decimal*;
    // LogEntry.spanId must be the 16-hex-digit form (Trace API v2), as traceparent gives it.
    // The decimal is written as-is, so entries never link to their span
    // (same bug reported upstream as googleapis/python-logging#942).
    it('writes the X-Cloud-Trace-Context span id as 16 hex digits (decimal 2241 → 00000000000008c1)', () => {
      assert.equal(debugRun.stdout[0]['logging.googleapis.com/spanId'], '00000000000008c1');
    });

    it('sets the trace and span from traceparent, with trace_sampled from its flags', () => {
      const entry = debugRun.stdout[1];
      assert.equal(entry.message, 'w3c trace');
      assert.equal(entry['logging.googleapis.com/trace'], `projects/${PROJECT}/traces/${W3C_TRACE_ID}`);
      assert.equal(entry['logging.googleapis.com/spanId'], W3C_SPAN_ID);
      assert.equal(entry['logging.googleapis.com/trace_sampled'], false);
    });

    it('has no trace fields without a trace', () => {
      for (const key of ['logging.googleapis.com/trace', 'logging.googleapis.com/spanId', 'logging.googleapis.com/trace_sampled']) {
        assert.ok(!(key in debugRun.stdout[2]), key);
      }
    });

    it('keeps newlines inside the JSON string, not the output', () => {
      const entry = debugRun.stdout[3];
      assert.equal(entry.message, 'multi\nline');
      assert.equal(entry.text, 'a\nb');
    });

    it('serializes an Error field with name, message and code, and redacts signature keys', () => {
      const [entry] = debugRun.stderr;
      assert.equal(entry.message, 'failed');
      assert.deepEqual(entry.error, { name: 'Error', message: 'boom', code: 'ECONNRESET' });
      assert.equal(entry['x-virtuoso-signature'], REDACTED);
    });

    it('writes an ERROR with a stack as an Error Reporting event: stack_trace, serviceContext, context.httpRequest', () => {
      const [entry] = debugRun.stderr;
      assert.match(String(entry.stack_trace), /^Error: boom\n\s+at /);
      assert.deepEqual(entry.serviceContext, { service: 'svc-k', version: 'v-test' });
      assert.deepEqual(entry.context, {
        httpRequest: { method: 'POST', url: '/commands?x=1', responseStatusCode: 500, userAgent: 'curl/8', authorization: REDACTED },
      });
      assert.equal(entry['@type'], undefined, 'a stack is enough for Error Reporting');
      assert.equal(entry.httpRequest, undefined, 'the request is under context, not a top-level field');
    });

    it('types an ERROR without a stack as a ReportedErrorEvent, located where log.error was called', () => {
      const entry = debugRun.stderr[1];
      assert.equal(entry['@type'], 'type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent');
      assert.equal(entry.message, 'the managed export did not start');
      assert.deepEqual(entry.serviceContext, { service: 'svc-k', version: 'v-test' });
      const location = (entry.context as { reportLocation: { filePath: string; lineNumber: number; functionName: string } }).reportLocation;
      assert.equal(location.functionName, 'reportWithoutStack');
      assert.ok(location.lineNumber > 0, JSON.stringify(location));
      assert.equal(entry.stack_trace, undefined);
    });

    it('names the service by the function label when K_SERVICE is not set', async () => {
      const r = await run({ GOOGLE_CLOUD_PROJECT: PROJECT, LOG_LEVEL: 'error', APP_VERSION: 'v2' }, false);
      assert.deepEqual(r.stderr[0].serviceContext, { service: 'svc-fn', version: 'v2' });
      assert.deepEqual(r.stderr[1].serviceContext, { service: 'virtuoso-api-cli', version: 'v2' });
    });

    it('filters by LOG_LEVEL: warn keeps WARNING and ERROR', async () => {
      const r = await run({ GOOGLE_CLOUD_PROJECT: PROJECT, LOG_LEVEL: 'warn' });
      assert.deepEqual(r.stdout.map((e) => e.message), ['w3c trace']);
      assert.deepEqual(r.stderr.map((e) => e.severity), ['ERROR', 'ERROR']);
    });

    it('filters by LOG_LEVEL: info drops DEBUG; error keeps only ERROR; silent writes nothing', async () => {
      const [info, error, silent] = await Promise.all(
        ['info', 'error', 'silent'].map((LOG_LEVEL) => run({ GOOGLE_CLOUD_PROJECT: PROJECT, LOG_LEVEL })),
      );
      assert.deepEqual(info.stdout.map((e) => e.severity), ['INFO', 'WARNING', 'INFO']);
      assert.equal(info.stderr.length, 2);
      assert.deepEqual([error.stdout.length, error.stderr.length], [0, 2]);
      assert.equal(silent.rawStdout + silent.rawStderr, '');
    });

    it('still logs (at info, with the env project) while the configuration is broken', async () => {
      const r = await run({ GOOGLE_CLOUD_PROJECT: PROJECT, LOG_LEVEL: 'bogus' });
      assert.deepEqual(r.stdout.map((e) => e.severity), ['INFO', 'WARNING', 'INFO']);
      assert.equal(r.stdout[0]['logging.googleapis.com/trace'], `projects/${PROJECT}/traces/${TRACE_ID}`);
      assert.equal(r.stderr.length, 2);
    });
  });
});
