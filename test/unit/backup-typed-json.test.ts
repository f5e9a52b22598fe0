import assert from 'node:assert/strict';
import { Firestore, GeoPoint, Timestamp } from '@google-cloud/firestore';
import { decodeValue, encodeValue } from '../../shared/backup/typed-json';

// A client that never connects: decode only builds references with it.
const db = new Firestore({ projectId: 'unit' });

describe('typed JSON for backups (Firestore values that keep their types)', () => {
  it('encodes each Firestore type as a one-key tag, and plain values as they are', () => {
    assert.deepEqual(encodeValue(new Timestamp(1764165600, 123000000)), { $timestamp: { seconds: 1764165600, nanos: 123000000 } });
    assert.deepEqual(encodeValue(Buffer.from([0, 255])), { $bytes: 'AP8=' });
    assert.deepEqual(encodeValue(new GeoPoint(-33.9, 18.4)), { $geo: [-33.9, 18.4] });
    assert.deepEqual(encodeValue(db.doc('a/b/c/d')), { $ref: 'a/b/c/d' });
    assert.deepEqual(encodeValue(NaN), { $double: 'NaN' });
    assert.deepEqual(encodeValue(Infinity), { $double: 'Infinity' });
    assert.deepEqual(encodeValue({ s: 'x', n: 1.5, b: false, z: null, u: undefined, l: [1, { m: 'y' }] }), { s: 'x', n: 1.5, b: false, z: null, u: null, l: [1, { m: 'y' }] });
  });

  it('escapes a stored map whose keys start with "$", so it is never read as a tag', () => {
    const odd = { $ref: 'text', inner: { $bytes: 1 } };
    assert.deepEqual(encodeValue(odd), { $map: { $ref: 'text', inner: { $map: { $bytes: 1 } } } });
    assert.deepEqual(decodeValue(encodeValue(odd), db), odd);
  });

  it('decodes back to the same types and values', () => {
    const value = {
      at: new Timestamp(1764165600, 5),
      raw: Buffer.from('héllo'),
      where: new GeoPoint(1, 2),
      ref: db.doc('x/y'),
      nums: [0, -1, 2.25, NaN, -Infinity],
      nested: { deep: { list: ['a', { $geo: 'not a tag' }] } },
    };
    const back = decodeValue(JSON.parse(JSON.stringify(encodeValue(value))), db) as typeof value;
    assert.ok(back.at instanceof Timestamp && back.at.isEqual(value.at));
    assert.ok(Buffer.isBuffer(back.raw) && back.raw.equals(value.raw));
    assert.ok(back.where instanceof GeoPoint && back.where.isEqual(value.where));
    assert.equal(back.ref.path, 'x/y');
    assert.deepEqual(back.nums, [0, -1, 2.25, NaN, -Infinity]);
    assert.deepEqual(back.nested, value.nested);
  });

  it('takes only a real Timestamp for a timestamp: a map with a numeric "seconds" stays a map', () => {
    assert.deepEqual(encodeValue({ seconds: 30, unit: 's' }), { seconds: 30, unit: 's' });
    assert.deepEqual(encodeValue({ seconds: 30, nanoseconds: 0 }), { seconds: 30, nanoseconds: 0 });
    // Something with a toDate() but no numeric seconds (not Firestore's Timestamp) is a map too.
    class Dated {
      readonly label = 'x';
      toDate() {
        return new Date(0);
      }
    }
    assert.deepEqual(encodeValue(new Dated()), { label: 'x' });
  });

  it('encodes any Uint8Array as bytes, not only a Buffer', () => {
    assert.deepEqual(encodeValue(new Uint8Array([0, 255])), { $bytes: 'AP8=' });
  });

  it('encodes a map without a prototype (Object.create(null)) as a map', () => {
    assert.deepEqual(encodeValue(Object.assign(Object.create(null) as object, { a: 1 })), { a: 1 });
  });

  it('decodes null, alone or in a field, as null', () => {
    assert.equal(decodeValue(null, db), null);
    assert.deepEqual(decodeValue({ a: null, b: [null] }, db), { a: null, b: [null] });
  });

  it('reads only a one-key object as a tag: a tag name beside other keys is a plain map', () => {
    assert.deepEqual(decodeValue({ $ref: 'x/y', note: 'n' }, db), { $ref: 'x/y', note: 'n' });
    assert.deepEqual(decodeValue({ $bytes: 'AP8=', other: 1 }, db), { $bytes: 'AP8=', other: 1 });
    assert.deepEqual(decodeValue({ only: 'AP8=' }, db), { only: 'AP8=' });
  });

  it('refuses what Firestore cannot hold', () => {
    assert.throws(() => encodeValue(() => 1), /cannot back up a function/);
    assert.throws(() => encodeValue(Symbol('s')), /cannot back up a symbol/);
  });
});
