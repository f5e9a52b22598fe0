import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { assertJsonBounds, jsonDepth, MAX_JSON_DEPTH, parseJsonObject } from '../../shared/json';

const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);

describe('JSON bounds (shared/json.ts)', () => {
  it('measures nesting exactly, brackets inside strings (escaped quotes too) not counted', () => {
    assert.equal(jsonDepth('{}'), 1);
    assert.equal(jsonDepth('"no [ nesting {"'), 0);
    assert.equal(jsonDepth(nested(10)), 10);
    assert.equal(jsonDepth('{"a":[{"b":[1,2]},{"c":"[[[[\\"]]]"}]}'), 4);
    assert.equal(jsonDepth(Buffer.from('[{"é ü":"[["},[[]]]')), 3);
    // A stray closer cannot hide what follows: depth never goes below zero.
    assert.equal(jsonDepth(']]]]' + nested(5)), 5);
  });

  it(`accepts ${MAX_JSON_DEPTH} levels and refuses ${MAX_JSON_DEPTH + 1} with a 400, before parsing`, () => {
    assert.doesNotThrow(() => assertJsonBounds(nested(MAX_JSON_DEPTH)));
    assert.throws(() => assertJsonBounds(nested(MAX_JSON_DEPTH + 1)), (e: AppError) => e.status === 400 && /deeper than 64/.test(e.message));
    // The webhook's case: 10,000 levels; unbalanced too (never parsed).
    assert.throws(() => parseJsonObject(`{"a":${'['.repeat(10_000)}`), (e: AppError) => e.status === 400 && e.code === 'bad_request');
    assert.throws(() => assertJsonBounds('{"a":1}', { maxBytes: 3 }), (e: AppError) => e.status === 413);
  });

  it('parseJsonObject: empty → 400 invalid_json naming the empty body, not JSON → 400, not an object → 422', () => {
    assert.throws(() => parseJsonObject(''), (e: AppError) => e.code === 'invalid_json' && /empty/.test(e.message));
    assert.throws(() => parseJsonObject('{x'), (e: AppError) => e.code === 'invalid_json');
    assert.throws(() => parseJsonObject('[1]'), (e: AppError) => e.status === 422);
    assert.deepEqual(parseJsonObject(Buffer.from('{"a":[1]}')), { a: [1] });
  });
});
