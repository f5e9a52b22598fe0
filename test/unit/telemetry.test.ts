/**
 * The pure parts of tracing: which exporter a configuration means, the Virtuoso span's route
 * template, which endpoints get Google's token. (The SDK itself runs in its own process:
 * test/integration/telemetry-sdk.test.ts; in a deployed bundle: test/integration/telemetry.test.ts.)
 */
import assert from 'node:assert/strict';
import { loadConfig } from '../../shared/config';
import { exporterKind } from '../../shared/telemetry';
import { isGoogleEndpoint } from '../../shared/telemetry-sdk';
import { urlTemplate } from '../../shared/virtuoso/transport';

const config = (env: Record<string, string>) => loadConfig({ GOOGLE_CLOUD_PROJECT: 'p', ...env });

describe('telemetry configuration', () => {
  it('TRACE_EXPORTER=auto (the default) is otlp on Cloud Run (K_SERVICE) and none elsewhere; a value set is kept', () => {
    assert.equal(exporterKind(config({}), {}), 'none');
    assert.equal(exporterKind(config({}), { K_SERVICE: 'webhook' }), 'otlp');
    assert.equal(exporterKind(config({ TRACE_EXPORTER: 'none' }), { K_SERVICE: 'webhook' }), 'none');
    assert.equal(exporterKind(config({ TRACE_EXPORTER: 'console' }), {}), 'console');
  });

  it('refuses an unknown exporter and a TRACE_OTLP_ENDPOINT that is not an http(s) URL, naming the variable', () => {
    assert.throws(() => config({ TRACE_EXPORTER: 'jaeger' }), /TRACE_EXPORTER must be one of auto, none, console, otlp/);
    assert.throws(() => config({ TRACE_OTLP_ENDPOINT: 'localhost:4318' }), /TRACE_OTLP_ENDPOINT must be a http:\/\/ or https:\/\/ URL/);
  });

  it('sends the service account’s token to Google’s APIs only', () => {
    assert.equal(isGoogleEndpoint('https://telemetry.googleapis.com/v1/traces'), true);
    assert.equal(isGoogleEndpoint('http://127.0.0.1:4318/v1/traces'), false);
    assert.equal(isGoogleEndpoint('https://googleapis.com.evil.example/v1/traces'), false);
    assert.equal(isGoogleEndpoint('https://evilgoogleapis.com/v1/traces'), false);
  });
});

describe('Virtuoso span names (urlTemplate)', () => {
  it('replaces numeric and UUID path segments, keeps the route', () => {
    assert.equal(urlTemplate('/api/projects'), '/api/projects');
    assert.equal(urlTemplate('/api/projects/1234/goals'), '/api/projects/{id}/goals');
    assert.equal(urlTemplate('/api/testsuites/77/steps/9'), '/api/testsuites/{id}/steps/{id}');
    assert.equal(urlTemplate('/api/executions/0b6f3f5e-2a8e-4c1d-9f7e-1a2b3c4d5e6f/status'), '/api/executions/{id}/status');
    assert.equal(urlTemplate('/api/v2/projects'), '/api/v2/projects');
  });
});
