/**
 * shared/storage.ts with the real @google-cloud/storage client against the local stand-in
 * (scripts/local-stack/storage-server.ts), which keeps objects in a temporary folder.
 *
 * Config is memoized at the first getConfig() (and the mocha process's STORAGE_ENDPOINT belongs to
 * test/setup.ts's port, which other suites use), so the module runs in a child process (test/fixtures/storage-child.ts, loaded with tsx) with its own
 * environment: the stand-in's URL, a project, no credentials — and GCE_METADATA_HOST pointing at
 * the stand-in instead of METADATA_SERVER_DETECTION=none, so any metadata-server lookup would show
 * up among its recorded requests.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStorageServer, type StorageServer } from '../../scripts/local-stack/storage-server';
import { bucketName } from '../../shared/infra';
import type { ErrorReply } from '../fixtures/child-protocol';
import type { StorageRequest } from '../fixtures/storage-child';
import { ModuleChild } from '../helpers/module-child';

const PROJECT = 'storage-test-project';
const BUCKET = bucketName(PROJECT);
const PAGE = 2; // the stand-in's page size: listing five objects takes three requests

type Reply = { value: unknown } | { error: ErrorReply };

/** shared/storage.ts in its own process; each call sends one request and awaits its reply. */
class StorageChild extends ModuleChild<StorageRequest, Reply> {
  constructor(env: Record<string, string>) {
    super('storage-child.ts', env);
  }

  put = (name: string, data: Buffer | string, contentType = 'text/plain', metadata?: Record<string, string>) =>
    this.call({ op: 'put', name, base64: Buffer.from(data).toString('base64'), contentType, metadata });
  get = (name: string) => this.call({ op: 'get', name });
  exists = (name: string) => this.call({ op: 'exists', name });
  list = (prefix: string) => this.call({ op: 'list', prefix });
}

const valueOf = (reply: Reply) => {
  assert.ok('value' in reply, `expected a value, got ${JSON.stringify(reply)}`);
  return reply.value;
};
const bytesOf = (reply: Reply) => Buffer.from(valueOf(reply) as string, 'base64');
const errorOf = (reply: Reply) => {
  assert.ok('error' in reply, `expected an error, got ${JSON.stringify(reply)}`);
  return reply.error;
};
const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('base64');

function assertUnavailable(reply: Reply, causeCode?: unknown) {
  const error = errorOf(reply);
  assert.equal(error.isAppError, true, JSON.stringify(error));
  assert.equal(error.code, 'unavailable', JSON.stringify(error));
  assert.equal(error.status, 503);
  assert.equal(error.retryable, true);
  assert.equal(error.message, 'Cloud Storage is temporarily unavailable');
  if (causeCode !== undefined) assert.equal(error.causeCode, causeCode);
}

describe('storage (integration: real @google-cloud/storage client, local stand-in keeping objects in a folder)', () => {
  let dir: string;
  let server: StorageServer;
  let child: StorageChild;
  const perTest: StorageChild[] = [];

  const startChild = (endpoint: string) =>
    new StorageChild({
      GOOGLE_CLOUD_PROJECT: PROJECT,
      STORAGE_ENDPOINT: endpoint,
      GCE_METADATA_HOST: `127.0.0.1:${server.port}`,
      LOG_LEVEL: 'silent',
    });
  const objectRequests = () => server.requests.map((r) => ({ method: r.method, path: r.path, query: r.query }));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'storage-test-'));
    server = await startStorageServer({ dir, maxPageSize: PAGE });
    child = startChild(server.url);
  });
  after(async () => {
    await child.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    server.requests.length = 0;
    server.failWith = undefined;
    server.tamper = undefined;
  });
  afterEach(async function () {
    await Promise.all(perTest.splice(0).map((c) => c.stop()));
    // Every request the client made, in every test, went to the JSON API without credentials.
    for (const r of server.requests) {
      assert.match(r.path, /^\/(upload\/)?storage\/v1\/b\//, `unexpected request ${r.method} ${r.path}`);
      assert.equal(r.authorization, undefined, `credentials sent with ${r.method} ${r.path}`);
    }
  });

  it('uploads text in one multipart request and downloads the same bytes (a name with spaces, slashes and unicode)', async () => {
    const name = 'artifacts/test-results/run 1/résumé ✓ #1?%.txt';
    const text = 'Grüße ✓\r\n--boundary-looking line\r\n\r\nend';
    assert.deepEqual(valueOf(await child.put(name, text, 'text/plain; charset=utf-8')), {
      name,
      size: Buffer.byteLength(text),
      md5: md5(text),
    });
    assert.equal(bytesOf(await child.get(name)).toString('utf8'), text);
    assert.deepEqual(objectRequests(), [
      { method: 'POST', path: `/upload/storage/v1/b/${BUCKET}/o`, query: { uploadType: 'multipart', name } },
      { method: 'GET', path: `/storage/v1/b/${BUCKET}/o/${encodeURIComponent(name)}`, query: { alt: 'media' } },
    ]);
  });

  it('round-trips binary data byte for byte', async () => {
    const data = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('\r\n--\r\n\r\n'), randomBytes(200_000)]);
    const name = 'backups/firestore/2026-01-01/export.bin';
    assert.deepEqual(valueOf(await child.put(name, data, 'application/octet-stream')), { name, size: data.length, md5: md5(data) });
    const back = bytesOf(await child.get(name));
    assert.equal(back.length, data.length);
    assert.ok(back.equals(data), 'downloaded bytes differ');
  });

  it('keeps objects as files in the folder, with their metadata beside them, and replaces them on a second upload', async () => {
    const name = 'logs/2026-01-02/run 7.json';
    await child.put(name, '{"v":1}', 'application/json', { runId: 'r-7' });
    const file = join(dir, BUCKET, 'logs', '2026-01-02', 'run 7.json');
    assert.equal(readFileSync(file, 'utf8'), '{"v":1}');
    const meta = JSON.parse(readFileSync(join(dir, '.metadata', BUCKET, 'logs', '2026-01-02', 'run 7.json.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(meta.name, name);
    assert.equal(meta.bucket, BUCKET);
    assert.equal(meta.contentType, 'application/json');
    assert.deepEqual(meta.metadata, { runId: 'r-7' });
    assert.equal(meta.size, '7');
    assert.equal(meta.md5Hash, md5('{"v":1}'));

    valueOf(await child.put(name, '{"v":2,"longer":true}', 'application/json'));
    assert.equal(readFileSync(file, 'utf8'), '{"v":2,"longer":true}');
    assert.equal(bytesOf(await child.get(name)).toString(), '{"v":2,"longer":true}');
  });

  it('still serves the objects after the stand-in restarts on the same folder', async () => {
    const name = 'artifacts/reports/2026-01-03/summary.txt';
    valueOf(await child.put(name, 'kept on disk'));
    const port = server.port;
    await server.close();
    server = await startStorageServer({ dir, port, maxPageSize: PAGE });
    assert.equal(bytesOf(await child.get(name)).toString(), 'kept on disk');
    assert.equal(server.requests.length, 1);
  });

  it('lists only the objects under a prefix, in name order, following nextPageToken past the page size', async () => {
    const prefix = 'logs/2026-02-01/';
    const under = ['e.json', 'a.json', 'c/d.json', 'b.json', 'ü.json'].map((n) => prefix + n);
    for (const [i, name] of under.entries()) valueOf(await child.put(name, 'x'.repeat(i + 1), 'application/json'));
    valueOf(await child.put('logs/2026-02-011.json', 'sibling', 'application/json'));
    valueOf(await child.put('logs/2026-02-02/a.json', 'other day', 'application/json'));
    valueOf(await child.put('artifacts/logs/2026-02-01/a.json', 'not a prefix match', 'application/json'));
    server.requests.length = 0;

    const listed = valueOf(await child.list(prefix)) as { name: string; size: number; contentType?: string; updated?: string }[];
    assert.deepEqual(
      listed.map(({ name, size, contentType }) => ({ name, size, contentType })),
      [
        { name: `${prefix}a.json`, size: 2, contentType: 'application/json' },
        { name: `${prefix}b.json`, size: 4, contentType: 'application/json' },
        { name: `${prefix}c/d.json`, size: 3, contentType: 'application/json' },
        { name: `${prefix}e.json`, size: 1, contentType: 'application/json' },
        { name: `${prefix}ü.json`, size: 5, contentType: 'application/json' },
      ],
    );
    for (const o of listed) assert.ok(o.updated && Date.now() - Date.parse(o.updated) < 60_000, `updated ${o.updated}`);
    const pages = server.requests;
    assert.equal(pages.length, 3, JSON.stringify(pages));
    assert.ok(pages.every((r) => r.method === 'GET' && r.path === `/storage/v1/b/${BUCKET}/o` && r.query.prefix === prefix));
    assert.equal(pages[0].query.pageToken, undefined);
    assert.ok(pages[1].query.pageToken && pages[2].query.pageToken && pages[1].query.pageToken !== pages[2].query.pageToken);

    assert.deepEqual(valueOf(await child.list('logs/2026-03-')), []);
  });

  it('reports a missing object as AppError not_found, and objectExists answers false for it', async () => {
    const error = errorOf(await child.get('logs/never-written.txt'));
    assert.equal(error.isAppError, true, JSON.stringify(error));
    assert.equal(error.code, 'not_found');
    assert.equal(error.status, 404);
    assert.equal(error.retryable, false);
    assert.equal(error.message, 'Object logs/never-written.txt does not exist');
    assert.equal(valueOf(await child.exists('logs/never-written.txt')), false);
    valueOf(await child.put('logs/written.txt', 'here'));
    assert.equal(valueOf(await child.exists('logs/written.txt')), true);
  });

  it('reports an unreachable server as AppError unavailable (503, retryable) for every call', async function () {
    this.timeout(30_000); // reads are retried twice (about 6 s) before giving up
    const gone = await startStorageServer({ dir });
    await gone.close();
    const orphans = [0, 1, 2].map(() => startChild(gone.url));
    perTest.push(...orphans);
    const [put, get, list] = await Promise.all([orphans[0].put('logs/x.txt', 'x'), orphans[1].get('logs/x.txt'), orphans[2].list('logs/')]);
    assertUnavailable(put, 'ECONNREFUSED');
    assertUnavailable(get, 'ECONNREFUSED');
    assertUnavailable(list, 'ECONNREFUSED');
  });

  it('retries a 503 from the service (uploads too, and reads after an upload), then answers unavailable', async function () {
    this.timeout(30_000);
    server.failWith = 503;
    assertUnavailable(await child.put('logs/retried.txt', 'x'), 503);
    assert.equal(server.requests.length, 3, 'an upload is sent three times');
    server.requests.length = 0;
    // @google-cloud/storage's default strategy would have switched retries off for the whole client here.
    assertUnavailable(await child.get('logs/retried.txt'), 503);
    assert.equal(server.requests.length, 3, 'a download is sent three times');
    server.failWith = undefined;
    valueOf(await child.put('logs/retried.txt', 'recovered'));
    assert.equal(bytesOf(await child.get('logs/retried.txt')).toString(), 'recovered');
  });

  it('refuses an upload the service stored corrupted: the object is deleted and the error is retryable', async () => {
    const name = 'artifacts/corrupted.txt';
    server.tamper = (data) => Buffer.concat([data.subarray(0, -1), Buffer.from('!')]);
    const error = errorOf(await child.put(name, 'the real content'));
    assert.equal(error.code, 'unavailable', JSON.stringify(error));
    assert.equal(error.message, `Cloud Storage upload of ${name} did not verify`);
    assert.equal(error.causeCode, 'FILE_NO_UPLOAD');
    assert.deepEqual(
      server.requests.map((r) => r.method),
      ['POST', 'DELETE'],
    );
    assert.equal(existsSync(join(dir, BUCKET, 'artifacts', 'corrupted.txt')), false);
    server.tamper = undefined;
    assert.equal(valueOf(await child.exists(name)), false);
  });

  describe('the stand-in itself', () => {
    it('accepts uploadType=media and answers Google-style JSON errors', async () => {
      const res = await fetch(`${server.url}/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=${encodeURIComponent('logs/media upload.txt')}`, {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: 'a,b\n1,2\n',
      });
      assert.equal(res.status, 200);
      const resource = (await res.json()) as Record<string, string>;
      assert.equal(resource.name, 'logs/media upload.txt');
      assert.equal(resource.contentType, 'text/csv');
      assert.equal(resource.size, '8');
      assert.equal(bytesOf(await child.get('logs/media upload.txt')).toString(), 'a,b\n1,2\n');

      const missing = await fetch(`${server.url}/storage/v1/b/${BUCKET}/o/${encodeURIComponent('no/such.txt')}`);
      assert.equal(missing.status, 404);
      assert.deepEqual(await missing.json(), {
        error: {
          code: 404,
          message: `No such object: ${BUCKET}/no/such.txt`,
          errors: [{ message: `No such object: ${BUCKET}/no/such.txt`, domain: 'global', reason: 'notFound' }],
        },
      });
      const del = await fetch(`${server.url}/storage/v1/b/${BUCKET}/o/${encodeURIComponent('logs/media upload.txt')}`, { method: 'DELETE' });
      assert.equal(del.status, 204);
      assert.equal(existsSync(join(dir, BUCKET, 'logs', 'media upload.txt')), false);
    });
  });
});
