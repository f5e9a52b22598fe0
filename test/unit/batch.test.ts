import assert from 'node:assert/strict';
import { runOrderedBatch, type BatchItemResult } from '../../shared/commands/batch';

const commands = (n: number) => Array.from({ length: n }, (_, i) => ({ command: `list-projects --limit ${i + 1}` }));

describe('ordered batch runner (shared/commands/batch.ts)', () => {
  const runner = (failAt: Set<number>, seen: number[]) => ({
    run: async (_item: unknown, index: number): Promise<BatchItemResult> => {
      seen.push(index);
      return failAt.has(index) ? { index, command: 'c', status: 'failed', error: { code: 'x', message: 'm', status: 422 } } : { index, command: 'c', status: 'succeeded', output: index };
    },
  });

  it('runs in order; after a failure the rest are skipped, or run with stopOnError false', async () => {
    const seen: number[] = [];
    const out = await runOrderedBatch({ commands: commands(4) }, [], runner(new Set([1]), seen));
    assert.deepEqual(seen, [0, 1]);
    assert.deepEqual(out.results.map((r) => r.status), ['succeeded', 'failed', 'skipped', 'skipped']);
    assert.equal(out.status, 'partial');
    const all: number[] = [];
    const on = await runOrderedBatch({ commands: commands(3), stopOnError: false }, [], runner(new Set([0]), all));
    assert.deepEqual(all, [0, 1, 2]);
    assert.equal(on.status, 'partial');
  });

  it('resumes after the results it is given, and keeps each result before its bookkeeping step can fail', async () => {
    const seen: number[] = [];
    const results: BatchItemResult[] = [{ index: 0, command: 'c', status: 'succeeded' }];
    await assert.rejects(
      runOrderedBatch({ commands: commands(3) }, results, {
        ...runner(new Set(), seen),
        after: async (r) => {
          if (r.length === 2) throw new Error('record failed');
        },
      }),
      /record failed/,
    );
    assert.deepEqual(seen, [1]);
    assert.equal(results.length, 2, 'the result whose record failed is kept for the retry');
    const out = await runOrderedBatch({ commands: commands(3) }, results, runner(new Set(), seen));
    assert.deepEqual(seen, [1, 2]);
    assert.equal(out.status, 'succeeded');
  });
});
