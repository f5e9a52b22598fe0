/**
 * logArchive on the real stack: the Pub/Sub emulator's archive subscriptions, the Firestore
 * emulator's command history, and the local Cloud Storage (scripts/local-stack/storage-server.ts).
 */
import assert from 'node:assert/strict';
import '../../functions/log-archive';
import { decodeNdjsonGzip } from '../../shared/archive/ndjson';
import { publishEvent, pubsub } from '../../shared/events';
import { db } from '../../shared/firestore';
import { archiveSubscriptions, collections, topics } from '../../shared/infra';
import { getObject, listObjects } from '../../shared/storage';
import { request, serve, type Served } from '../helpers/http';
import { pull } from '../helpers/pubsub';
import { useStack } from '../helpers/stack';
import { useEmptyStorage } from '../helpers/storage';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const DAY = 24 * 3600_000;

async function archive(fn: Served, body: unknown = {}) {
  return request(fn.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Every record of every object under `prefix`, with the object it is in. */
async function archived(prefix: string): Promise<{ object: string; record: Json }[]> {
  const out: { object: string; record: Json }[] = [];
  for (const o of await listObjects(prefix)) {
    for (const record of decodeNdjsonGzip(await getObject(o.name))) out.push({ object: o.name, record });
  }
  return out;
}

const sourceOf = (report: Json, source: string) => report.sources.find((s: Json) => s.source === source);

describe('logArchive (integration: Pub/Sub archive subscriptions, Firestore history → Cloud Storage)', function () {
  this.timeout(60_000);
  useStack();
  let fn: Served;
  const storage = useEmptyStorage();

  before(async () => {
    fn = await serve('logArchive');
  });
  after(() => fn.close());

  it('archives every waiting message by source and publish hour as gzip NDJSON, with a manifest, then acknowledges them', async () => {
    const sent: Record<string, string[]> = { [topics.commandEvents]: [], [topics.testEvents]: [] };
    for (let i = 0; i < 3; i++) {
      sent[topics.commandEvents].push((await publishEvent(topics.commandEvents, 'command.executed', { i }, { source: 'test' })).messageId);
    }
    for (let i = 0; i < 2; i++) {
      sent[topics.testEvents].push((await publishEvent(topics.testEvents, 'test.completed', { i }, { source: 'test' })).messageId);
    }
    // Not JSON: kept as base64.
    const raw = await pubsub().topic(topics.deadLetter).publishMessage({ data: Buffer.from([0xff, 0x00, 0x41]), attributes: { why: 'poison' } });

    const res = await archive(fn);
    assert.equal(res.status, 200, res.text);
    assert.equal(sourceOf(res.body, topics.commandEvents).records, 3);
    assert.equal(sourceOf(res.body, topics.testEvents).records, 2);
    assert.equal(sourceOf(res.body, topics.deadLetter).records, 1);
    assert.equal(sourceOf(res.body, topics.webhookEvents).records, 0);
    assert.equal(sourceOf(res.body, 'command-history').records, 0);
    for (const s of res.body.sources) assert.equal(s.drained, true, s.source);

    const now = new Date().toISOString();
    const hourPrefix = (source: string) => `logs/${source}/${now.slice(0, 10)}/`;
    for (const [topic, ids] of Object.entries(sent)) {
      const lines = await archived(hourPrefix(topic));
      assert.deepEqual(lines.map((l) => l.record.id).sort(), [...ids].sort(), topic);
      for (const { object, record } of lines) {
        assert.match(object, new RegExp(`^logs/${topic}/\\d{4}-\\d{2}-\\d{2}/\\d{2}/.+\\.ndjson\\.gz$`));
        assert.equal(record.source, topic);
        assert.equal(record.attributes.eventType, topic === topics.commandEvents ? 'command.executed' : 'test.completed');
        assert.equal(record.data.metadata.source, 'test');
        assert.equal(object.split('/')[3], record.publishTime.slice(11, 13), 'the object is in its publish hour');
      }
    }
    const [poison] = await archived(hourPrefix(topics.deadLetter));
    assert.equal(poison.record.id, raw);
    assert.equal(poison.record.dataBase64, Buffer.from([0xff, 0x00, 0x41]).toString('base64'));
    assert.equal(poison.record.data, undefined);

    // One manifest per archived batch, listing its objects with their sizes and digests.
    assert.equal(res.body.manifests.length, 3);
    const listed = new Set<string>();
    for (const name of res.body.manifests) {
      assert.match(name, /^logs\/_manifests\/\d{4}-\d{2}-\d{2}\/.+\.json$/);
      const manifest = JSON.parse((await getObject(name)).toString('utf8'));
      assert.equal(manifest.runId, res.body.runId);
      for (const o of manifest.objects) {
        const bytes = await getObject(o.name);
        assert.equal(bytes.length, o.bytes);
        assert.equal(decodeNdjsonGzip(bytes).length, o.records);
        assert.ok(o.md5, 'the stored MD5');
        listed.add(o.name);
      }
    }
    const objects = (await listObjects('logs/')).map((o) => o.name).filter((n) => !n.startsWith('logs/_manifests/'));
    assert.deepEqual([...listed].sort(), objects.sort(), 'every object is in a manifest');

    // Acknowledged: nothing is left on the archive subscriptions, and a second run archives nothing.
    for (const sub of archiveSubscriptions) assert.deepEqual(await pull(sub.name), [], sub.name);
    const again = await archive(fn);
    assert.equal(again.status, 200, again.text);
    assert.ok(again.body.sources.every((s: Json) => s.records === 0));
    assert.deepEqual(again.body.manifests, []);
  });

  it('acknowledges nothing when Storage fails (503 with Retry-After); the next run archives every message once', async () => {
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await publishEvent(topics.systemEvents, 'system.note', { i }, { source: 'test' })).messageId);
    storage.current().failWith = 503;
    const failed = await archive(fn, { sources: [topics.systemEvents] });
    assert.equal(failed.status, 503, failed.text);
    assert.ok(Number(failed.headers.get('retry-after')) >= 1);
    assert.equal(failed.body.error.code, 'unavailable');
    storage.current().failWith = undefined;
    assert.deepEqual(await listObjects('logs/'), []);
    const res = await archive(fn, { sources: [topics.systemEvents] });
    assert.equal(res.status, 200, res.text);
    assert.equal(sourceOf(res.body, topics.systemEvents).records, 4);
    const lines = await archived(`logs/${topics.systemEvents}/`);
    assert.deepEqual(lines.map((l) => l.record.id).sort(), ids.sort());
  });

  it('moves command history older than ARCHIVE_HISTORY_DAYS (30) into Storage and deletes it, keeping the newer', async () => {
    const history = db().collection(collections.commandHistory);
    const at = (daysAgo: number) => new Date(Date.now() - daysAgo * DAY).toISOString();
    const docs = {
      old1: { id: 'old1', tenantId: 'acme', userId: 'alice', command: 'list-projects', status: 'succeeded', createdAt: at(40), updatedAt: at(40), outputJson: '{"items":[]}' },
      old2: { id: 'old2', tenantId: 'acme', userId: 'bob', command: 'get-step', status: 'failed', createdAt: at(31), updatedAt: at(31) },
      fresh: { id: 'fresh', tenantId: 'acme', userId: 'alice', command: 'list-goals', status: 'succeeded', createdAt: at(29), updatedAt: at(29) },
    };
    for (const d of Object.values(docs)) await history.doc(d.userId).collection('commands').doc(d.id).set(d);

    const res = await archive(fn, { sources: ['command-history'] });
    assert.equal(res.status, 200, res.text);
    assert.equal(sourceOf(res.body, 'command-history').records, 2);
    assert.deepEqual(res.body.sources.map((s: Json) => s.source), ['command-history'], 'only the source asked for');

    const lines = await archived('logs/command-history/');
    assert.deepEqual(lines.map((l) => l.record.id).sort(), ['command_history/alice/commands/old1', 'command_history/bob/commands/old2']);
    for (const { object, record } of lines) {
      const original = docs[record.id.split('/').pop() as 'old1' | 'old2'];
      assert.equal(record.source, 'command-history');
      assert.deepEqual(record.data, original, 'the whole document is kept');
      assert.ok(object.startsWith(`logs/command-history/${original.createdAt.slice(0, 10)}/${original.createdAt.slice(11, 13)}/`), object);
    }
    assert.equal((await history.doc('alice').collection('commands').doc('old1').get()).exists, false);
    assert.equal((await history.doc('bob').collection('commands').doc('old2').get()).exists, false);
    assert.equal((await history.doc('alice').collection('commands').doc('fresh').get()).exists, true);
  });

  it('refuses an unknown source (400), a bad body (422 / 415) and other methods (405)', async () => {
    const unknown = await archive(fn, { sources: ['webhook-events', 'nope'] });
    assert.equal(unknown.status, 400, unknown.text);
    assert.match(unknown.body.error.message, /nope/);
    assert.match(unknown.body.error.message, /command-history/);
    const bad = await archive(fn, { maxSeconds: 0 });
    assert.equal(bad.status, 422, bad.text);
    const text = await request(fn.url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'go' });
    assert.equal(text.status, 415, text.text);
    const get = await request(fn.url);
    assert.equal(get.status, 405, get.text);
    // An empty body (as a scheduler without a payload sends) is a run of everything.
    const empty = await request(fn.url, { method: 'POST' });
    assert.equal(empty.status, 200, empty.text);
  });
});
