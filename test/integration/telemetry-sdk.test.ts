/**
 * shared/telemetry.ts in a process of its own (test/fixtures/telemetry-child.ts), per exporter
 * setting: `none` evaluates no OpenTelemetry package at all; `auto` is `otlp` only where K_SERVICE
 * is set; with `otlp` to a local receiver, Cloud Storage calls are client spans (a failed one with
 * error status), and a call made inside a span sends that span's id as its `traceparent` parent.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOtlpReceiver, type OtlpReceiver } from '../../scripts/local-stack/otlp-receiver';
import { startStorageServer, type StorageServer } from '../../scripts/local-stack/storage-server';
import type { ErrorReply } from '../fixtures/child-protocol';
import type { TelemetryRequest } from '../fixtures/telemetry-child';
import { ModuleChild } from '../helpers/module-child';

type Reply = { value: unknown } | { error: ErrorReply };
const valueOf = <T>(reply: Reply): T => {
  assert.ok('value' in reply, `expected a value, got ${JSON.stringify(reply)}`);
  return reply.value as T;
};

const BASE_ENV = { GOOGLE_CLOUD_PROJECT: 'telemetry-project', METADATA_SERVER_DETECTION: 'none', LOG_LEVEL: 'silent', APP_VERSION: 'test' };

async function withChild<T>(env: Record<string, string>, fn: (child: ModuleChild<TelemetryRequest, Reply>) => Promise<T>): Promise<T> {
  const child = new ModuleChild<TelemetryRequest, Reply>('telemetry-child.ts', { ...BASE_ENV, ...env });
  try {
    return await fn(child);
  } finally {
    await child.stop();
  }
}

const started = (child: ModuleChild<TelemetryRequest, Reply>) => child.call({ op: 'start' }).then((r) => valueOf<{ on: boolean; loaded: string[] }>(r));

describe('telemetry setup (shared/telemetry.ts in its own process)', function () {
  this.timeout(60_000);
  let receiver: OtlpReceiver;
  beforeEach(async () => (receiver = await startOtlpReceiver()));
  afterEach(() => receiver.close());

  it('TRACE_EXPORTER=none evaluates no OpenTelemetry package; console and otlp start the SDK', async () => {
    const none = await withChild({ TRACE_EXPORTER: 'none' }, started);
    assert.deepEqual(none, { on: false, loaded: [] });
    for (const kind of ['console', 'otlp']) {
      const on = await withChild({ TRACE_EXPORTER: kind, TRACE_OTLP_ENDPOINT: receiver.tracesUrl }, started);
      assert.equal(on.on, true, kind);
      assert.ok(on.loaded.includes('@opentelemetry/sdk-trace') && on.loaded.includes('@opentelemetry/api'), `${kind}: ${on.loaded.join(', ')}`);
    }
  });

  it('auto (the default) is otlp where K_SERVICE is set, and off elsewhere', async () => {
    const local = await withChild({ TRACE_OTLP_ENDPOINT: receiver.tracesUrl }, started);
    assert.deepEqual(local, { on: false, loaded: [] });
    const cloudRun = await withChild({ K_SERVICE: 'commands', TRACE_OTLP_ENDPOINT: receiver.tracesUrl }, started);
    assert.equal(cloudRun.on, true);
  });

  it('a call made inside a span names that span as the traceparent’s parent', async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const sent = await withChild({ TRACE_EXPORTER: 'otlp', TRACE_OTLP_ENDPOINT: receiver.tracesUrl }, async (child) => {
      const tp = valueOf<string>(await child.call({ op: 'probe', traceparent: `00-${traceId}-${parentId}-01` }));
      valueOf(await child.call({ op: 'stop' }));
      return tp;
    });
    const [probe] = receiver.spans().filter((s) => s.name === 'probe');
    assert.ok(probe, JSON.stringify(receiver.spans()));
    assert.equal(probe.traceId, traceId);
    assert.equal(probe.parentSpanId, parentId);
    assert.equal(sent, `00-${traceId}-${probe.spanId}-01`);
  });

  it('a Virtuoso request carries the trace, with its client span as parent when tracing is on, a hop id of its own when off', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"success":false}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/projects/42/goals`;
    try {
      const traceId = randomBytes(16).toString('hex');
      const parentId = randomBytes(8).toString('hex');
      for (const kind of ['otlp', 'none']) {
        await withChild({ TRACE_EXPORTER: kind, TRACE_OTLP_ENDPOINT: receiver.tracesUrl }, async (child) => {
          assert.equal(valueOf(await child.call({ op: 'virtuoso', traceparent: `00-${traceId}-${parentId}-01`, url })), 404);
          valueOf(await child.call({ op: 'stop' }));
        });
      }
      const [call, ...others] = receiver.spans();
      assert.equal(others.length, 0, 'only the otlp child exports');
      assert.equal(call.name, 'GET /api/projects/{id}/goals');
      assert.equal(call.parentSpanId, parentId);
      assert.equal(call.attributes['http.response.status_code'], 404);
      assert.equal(call.statusCode, 2);
      assert.equal(call.attributes['url.full'], url);
      const [traced, untraced] = seen.map((h) => h.traceparent);
      assert.equal(traced, `00-${traceId}-${call.spanId}-01`);
      assert.match(String(untraced), new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      assert.ok(!String(untraced).includes(parentId) && !String(untraced).includes(call.spanId));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  describe('Cloud Storage spans', () => {
    let storage: StorageServer;
    let dir: string;
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'telemetry-storage-'));
      storage = await startStorageServer({ dir });
    });
    afterEach(async () => {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('an upload and a failed download, each a client span under the caller’s, the failure with error status', async () => {
      const traceId = randomBytes(16).toString('hex');
      const parentId = randomBytes(8).toString('hex');
      const name = `reports/${randomBytes(4).toString('hex')}.txt`;
      await withChild({ TRACE_EXPORTER: 'otlp', TRACE_OTLP_ENDPOINT: receiver.tracesUrl, STORAGE_ENDPOINT: storage.url }, async (child) => {
        assert.deepEqual(valueOf(await child.call({ op: 'storage', traceparent: `00-${traceId}-${parentId}-01`, name })), { missing: 'not_found' });
        valueOf(await child.call({ op: 'stop' }));
      });
      const spans = receiver.spans().filter((s) => s.traceId === traceId);
      const insert = spans.find((s) => s.name === 'storage.objects.insert');
      const get = spans.find((s) => s.name === 'storage.objects.get');
      assert.ok(insert && get, JSON.stringify(spans));
      for (const s of [insert, get]) {
        assert.equal(s.kind, 3);
        assert.equal(s.parentSpanId, parentId);
        assert.equal(s.attributes['gcp.storage.bucket'], 'telemetry-project-virtuoso-data');
        assert.equal(s.attributes['server.address'], '127.0.0.1');
      }
      assert.equal(insert.attributes['gcp.storage.object'], name);
      assert.equal(insert.statusCode, 0);
      assert.equal(get.statusCode, 2);
      assert.equal(get.attributes['error.type'], 'not_found');
    });
  });
});
