import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { archiveObjectName, decodeNdjsonGzip, encodeNdjsonGzip, manifestObjectName, utcHour } from '../../shared/archive/ndjson';

describe('archive objects (gzip NDJSON, names by source and UTC hour)', () => {
  it('round-trips records, one JSON value per line, through gzip', () => {
    const records = [{ id: 'a', data: { text: 'line\nbreak', n: 1 } }, { id: 'b', list: [1, [2, 3]] }, 'plain string', null];
    const bytes = encodeNdjsonGzip(records);
    assert.equal(bytes[0], 0x1f); // gzip magic
    assert.equal(bytes[1], 0x8b);
    assert.deepEqual(decodeNdjsonGzip(bytes), records);
    assert.deepEqual(decodeNdjsonGzip(encodeNdjsonGzip([])), []);
  });

  it('refuses bytes that are not gzip, and a line that is not JSON', () => {
    assert.throws(() => decodeNdjsonGzip(Buffer.from('{"id":1}\n')));
    assert.throws(() => decodeNdjsonGzip(gzipSync('{"id":1}\nnot json\n')), SyntaxError);
  });

  it('takes the day and hour in UTC', () => {
    assert.deepEqual(utcHour(new Date('2026-11-26T23:59:59.999+01:00')), { day: '2026-11-26', hour: '22' });
    assert.deepEqual(utcHour(new Date('2026-01-01T00:00:00Z')), { day: '2026-01-01', hour: '00' });
  });

  it('names an object after its source, hour and records, the same whatever their order', () => {
    const at = new Date('2026-11-26T14:05:07.123Z');
    const name = archiveObjectName('command-events', at, ['m2', 'm1', 'm3']);
    assert.match(name, /^logs\/command-events\/2026-11-26\/14\/20261126T140507123Z-3-[0-9a-f]{16}\.ndjson\.gz$/);
    assert.equal(archiveObjectName('command-events', at, ['m1', 'm3', 'm2']), name, 'a redelivered batch rewrites the same object');
    assert.notEqual(archiveObjectName('command-events', at, ['m1', 'm2']), name);
    assert.notEqual(archiveObjectName('test-events', at, ['m1', 'm2', 'm3']), name);
  });

  it('names a manifest after its objects, under logs/_manifests/{day}/', () => {
    const at = new Date('2026-11-26T14:05:07.123Z');
    const m = manifestObjectName('dead-letter', at, ['logs/a', 'logs/b']);
    assert.match(m, /^logs\/_manifests\/2026-11-26\/dead-letter-20261126T140507123Z-[0-9a-f]{16}\.json$/);
    assert.equal(manifestObjectName('dead-letter', at, ['logs/b', 'logs/a']), m);
    assert.notEqual(manifestObjectName('dead-letter', at, ['logs/a']), m);
  });
});
