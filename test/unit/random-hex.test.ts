/** shared/random-hex.ts: pooled random ids for traces and spans. */
import assert from 'node:assert/strict';
import { randomHex } from '../../shared/random-hex';
import { continueTrace } from '../../shared/trace';

describe('randomHex (unit)', () => {
  it('gives the asked number of random bytes as lower-case hex, none repeated across several pool refills', () => {
    const seen = new Set<string>();
    // 3,000 × 8 bytes: about six 4 KiB pools, so ids cross refills and the pool's end.
    for (let i = 0; i < 3000; i++) {
      const id = randomHex(i % 3 === 0 ? 16 : 8);
      assert.match(id, i % 3 === 0 ? /^[0-9a-f]{32}$/ : /^[0-9a-f]{16}$/);
      assert.ok(!seen.has(id), `repeated id ${id}`);
      seen.add(id);
    }
  });

  it('uses every hex digit (the bytes are not a constant or a counter)', () => {
    const digits = new Set(Array.from({ length: 64 }, () => randomHex(16)).join(''));
    assert.equal(digits.size, 16);
  });

  it('refuses more than a pool holds', () => {
    assert.throws(() => randomHex(4097), RangeError);
  });

  it('starts a new trace with its ids when the caller sends none', () => {
    const a = continueTrace({});
    const b = continueTrace({});
    assert.match(a.traceId, /^[0-9a-f]{32}$/);
    assert.match(a.spanId ?? '', /^[0-9a-f]{16}$/);
    assert.notEqual(a.traceId, b.traceId);
  });
});
