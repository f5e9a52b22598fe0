/**
 * backup and restore on the real stack: the Firestore emulator and the local Cloud Storage
 * (scripts/local-stack/storage-server.ts).
 */
import assert from 'node:assert/strict';
import { GeoPoint, Timestamp } from '@google-cloud/firestore';
import '../../functions/backup';
import { DOCUMENTS_PER_OBJECT, listStoredBackups, OBJECT_BYTES, readManifest } from '../../shared/backup/portable';
import { resolveManifest, restoreBackup } from '../../shared/backup/restore';
import { encodeNdjsonGzip } from '../../shared/archive/ndjson';
import { collections, db } from '../../shared/firestore';
import { backupCollectionGroups } from '../../shared/infra';
import { getObject, listObjects, putObject } from '../../shared/storage';
import { request, serve, type Served } from '../helpers/http';
import { useStack } from '../helpers/stack';
import { useEmptyStorage } from '../helpers/storage';
import { TEST_ENV } from '../setup';

async function backup(fn: Served, body: unknown = {}) {
  return request(fn.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Empties the emulator's database (as losing the data would). */
async function wipeFirestore(): Promise<void> {
  const res = await fetch(`http://${TEST_ENV.FIRESTORE_EMULATOR_HOST}/emulator/v1/projects/${TEST_ENV.GOOGLE_CLOUD_PROJECT}/databases/(default)/documents`, { method: 'DELETE' });
  assert.equal(res.status, 200);
}

const SEED: Record<string, Record<string, unknown>> = {
  'api_keys/abc123': { keyHash: 'abc123', tenantId: 'acme', userId: 'alice', scopes: ['commands'], active: true, createdAt: new Date('2026-11-20T10:00:00.123Z'), revokedAt: null },
  'sessions/s1': { checkpointId: '1001', nextPosition: 3, expiresAt: new Date('2026-11-27T10:00:00Z') },
  'command_history/alice/commands/c1': {
    id: 'c1', command: 'get-step', status: 'succeeded', durationMs: 12.5, createdAt: '2026-11-25T10:00:00.000Z',
    input: { command: 'get-step 5', args: [1, 'two', { three: [3] }] },
    // Maps with keys that look like the backup's type tags, and values of every Firestore type.
    odd: { $ref: 'not a reference', $bytes: 7, nested: { $map: true } },
    bytes: Buffer.from([0, 1, 2, 250]),
    where: new GeoPoint(52.37, 4.89),
    owner: 'placeholder',
    notANumber: NaN,
    infinite: -Infinity,
  },
  'test_runs/r1': { id: 'r1', status: 'passed', tenantId: 'acme', createdAt: '2026-11-25T11:00:00.000Z' },
  'test_runs/r1/definition/source': { json: '{"project":"Shop"}' },
  'webhook_deliveries/d1': { key: 'd1', status: 'published', rawBody: Buffer.from('{"event":"EXECUTION"}'), expiresAt: new Date('2026-11-28T00:00:00Z') },
};

async function seed(): Promise<void> {
  for (const [path, data] of Object.entries(SEED)) {
    await db().doc(path).set(path.startsWith('command_history') ? { ...data, owner: db().doc('api_keys/abc123') } : data);
  }
}

describe('backup and restore (integration: Firestore emulator → Cloud Storage → Firestore)', function () {
  this.timeout(60_000);
  useStack();
  let fn: Served;
  const storage = useEmptyStorage();

  before(async () => {
    fn = await serve('backup');
  });
  after(() => fn.close());

  it('copies every collection group with its types; a restore into an empty database brings every document back exactly', async () => {
    await seed();
    const res = await backup(fn);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.kind, 'full');
    assert.equal(res.body.documents, Object.keys(SEED).length);
    assert.equal(res.body.stored, Object.keys(SEED).length);
    assert.deepEqual(Object.keys(res.body.groups).sort(), [...backupCollectionGroups].sort());
    assert.equal(res.body.groups.commands.documents, 1);
    assert.equal(res.body.groups.definition.documents, 1);
    assert.deepEqual(res.body.managedExport, { status: 'skipped', reason: 'the Firestore emulator has no managed export' });
    assert.match(res.body.manifest, new RegExp(`^backups/firestore/\\d{4}-\\d{2}-\\d{2}/${res.body.id}/manifest\\.json$`));

    // The manifest lists every object of the backup, with the right sizes.
    const manifest = await readManifest(res.body.manifest);
    const listed = Object.values(manifest.groups).flatMap((g) => [...g.objects, g.paths]);
    for (const o of listed) assert.equal((await getObject(o.name)).length, o.bytes, o.name);
    const inFolder = (await listObjects(res.body.manifest.replace('manifest.json', ''))).map((o) => o.name);
    assert.deepEqual(inFolder.sort(), [...listed.map((o) => o.name), res.body.manifest].sort());
    const record = (await db().collection(collections.backups).doc(res.body.id).get()).data()!;
    assert.equal(record.status, 'completed');
    assert.equal(record.manifest, res.body.manifest);

    const before = new Map<string, unknown>();
    for (const path of Object.keys(SEED)) before.set(path, (await db().doc(path).get()).data());
    await wipeFirestore();
    assert.equal((await db().doc('api_keys/abc123').get()).exists, false);

    const restored = await restoreBackup(res.body.manifest);
    assert.equal(restored.documents, Object.keys(SEED).length);
    assert.deepEqual(restored.missing, []);
    for (const path of Object.keys(SEED)) {
      const after = (await db().doc(path).get()).data();
      assert.ok(after, `${path} restored`);
      assert.deepEqual(after, before.get(path), path);
    }
    const c1 = (await db().doc('command_history/alice/commands/c1').get()).data()!;
    assert.ok(c1.where instanceof GeoPoint && c1.where.latitude === 52.37);
    assert.ok(Buffer.isBuffer(c1.bytes) && c1.bytes.equals(Buffer.from([0, 1, 2, 250])));
    assert.equal(c1.owner.path, 'api_keys/abc123');
    assert.ok(Number.isNaN(c1.notANumber));
    assert.equal(c1.infinite, -Infinity);
    assert.deepEqual(c1.odd, { $ref: 'not a reference', $bytes: 7, nested: { $map: true } });
    const key = (await db().doc('api_keys/abc123').get()).data()!;
    assert.ok(key.createdAt instanceof Timestamp);
    assert.equal(key.createdAt.toDate().toISOString(), '2026-11-20T10:00:00.123Z');
  });

  it('an incremental backup holds only what changed; restoring it brings back the newest version of each document, not the deleted ones', async () => {
    const keys = db().collection(collections.apiKeys);
    await keys.doc('a').set({ v: 1 });
    await keys.doc('b').set({ v: 1 });
    await keys.doc('c').set({ v: 1 });
    const full = await backup(fn);
    assert.equal(full.status, 200, full.text);
    assert.equal(full.body.groups.api_keys.stored, 3);

    await keys.doc('b').set({ v: 2 });
    await keys.doc('c').delete();
    await keys.doc('d').set({ v: 1 });
    const inc = await backup(fn, { incremental: true });
    assert.equal(inc.status, 200, inc.text);
    assert.equal(inc.body.kind, 'incremental');
    assert.equal(inc.body.previous, full.body.id);
    assert.equal(inc.body.groups.api_keys.documents, 3, 'a, b and d exist');
    assert.equal(inc.body.groups.api_keys.stored, 2, 'only b and d changed');
    assert.equal(inc.body.managedExport, undefined, 'the managed export goes with full backups');

    const dry = await restoreBackup(inc.body.manifest, { dryRun: true });
    assert.equal(dry.documents, 3);
    await keys.doc('b').set({ v: 99 });
    await wipeFirestore();
    // The database is gone, with the backups' records in it: the backup is found in Storage.
    assert.equal((await db().collection(collections.backups).get()).size, 0);
    assert.deepEqual((await listStoredBackups()).map((b) => b.id), [inc.body.id, full.body.id]);
    assert.equal(await resolveManifest('latest'), inc.body.manifest);
    assert.equal(await resolveManifest(full.body.id), full.body.manifest);
    await assert.rejects(resolveManifest('20200101T000000000Z-nope'), /No complete backup/);
    const restored = await restoreBackup(await resolveManifest('latest'));
    assert.deepEqual(restored.chain, [full.body.manifest, inc.body.manifest]);
    assert.equal(restored.groups.api_keys, 3);
    const now = Object.fromEntries((await keys.get()).docs.map((d) => [d.id, d.data().v]));
    assert.deepEqual(now, { a: 1, b: 2, d: 1 });
  });

  it('a restore refuses an object whose records differ from its manifest', async () => {
    await db().collection(collections.apiKeys).doc('a').set({ v: 1 });
    const res = await backup(fn);
    assert.equal(res.status, 200, res.text);
    const manifest = await readManifest(res.body.manifest);
    // The paths index of api_keys loses its line.
    await putObject(manifest.groups.api_keys.paths.name, encodeNdjsonGzip([]), { contentType: 'application/gzip' });
    await assert.rejects(restoreBackup(res.body.manifest), /holds 0 records, its manifest says 1/);
  });

  it('restores text whose characters span the chunks the restore decompresses, and several objects of a group', async () => {
    // 3- and 4-byte UTF-8 characters over more than one decompressed chunk (16 KiB each); more
    // documents than one object holds, so the restore reads a group in several objects.
    const wide = '€😀'.repeat(12_000);
    const count = DOCUMENTS_PER_OBJECT + 50;
    const writer = db().bulkWriter({ throttling: false });
    for (let i = 0; i < count; i++) void writer.set(db().doc(`idempotency/k${i}`), i === count - 1 ? { wide } : { n: i });
    await writer.close();
    const res = await backup(fn);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual((await readManifest(res.body.manifest)).groups.idempotency.objects.map((o) => o.records), [DOCUMENTS_PER_OBJECT, 50]);
    await wipeFirestore();
    const restored = await restoreBackup(res.body.manifest);
    assert.equal(restored.groups.idempotency, count);
    assert.equal((await db().doc(`idempotency/k${count - 1}`).get()).get('wide'), wide);
    assert.equal((await db().doc('idempotency/k17').get()).get('n'), 17);
  });

  it('large documents: a backup starts a new object at OBJECT_BYTES, however few they are, and a restore writes them all back', async () => {
    const big = 'x'.repeat(300 * 1024);
    const perObject = Math.ceil(OBJECT_BYTES / big.length); // the document that reaches the bound closes its object
    for (let i = 0; i < 2 * perObject + 1; i++) await db().doc(`idempotency/big${String(i).padStart(2, '0')}`).set({ big, i });
    const res = await backup(fn);
    assert.equal(res.status, 200, res.text);
    const objects = (await readManifest(res.body.manifest)).groups.idempotency.objects;
    assert.deepEqual(objects.map((o) => o.records), [perObject, perObject, 1]);
    await wipeFirestore();
    // BulkWriter puts 20 writes in a commit: 20 of these are over the emulator's 4 MiB (and near
    // Firestore's 10 MiB); the restore flushes by bytes, or it retried that commit until the timeout.
    const restored = await restoreBackup(res.body.manifest);
    assert.equal(restored.groups.idempotency, 2 * perObject + 1);
    assert.equal((await db().doc('idempotency/big00').get()).get('big'), big);
    assert.equal((await db().doc(`idempotency/big${String(2 * perObject).padStart(2, '0')}`).get()).get('i'), 2 * perObject);
  });

  it('answers 503 when Storage fails, and records the backup as failed', async () => {
    await db().collection(collections.apiKeys).doc('a').set({ v: 1 });
    storage.current().failWith = 503;
    const res = await backup(fn);
    assert.equal(res.status, 503, res.text);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    storage.current().failWith = undefined;
    const records = (await db().collection(collections.backups).get()).docs.map((d) => d.data());
    assert.equal(records.length, 1);
    assert.equal(records[0].status, 'failed');
    assert.match(records[0].error, /unavailable|Storage/i);
  });

  it('refuses a bad body (422) and other methods (405)', async () => {
    const bad = await backup(fn, { incremental: 'yes' });
    assert.equal(bad.status, 422, bad.text);
    const get = await request(fn.url);
    assert.equal(get.status, 405, get.text);
  });
});
