import { strict as assert } from 'node:assert';
import type { DocumentReference } from '@google-cloud/firestore';
import { Recorder } from '../../shared/testruns/recorder';

/** A document reference whose `update` the test controls (the Firestore client's surface, not ours). */
function documentRef(update: (fields: Record<string, unknown>) => Promise<unknown>): DocumentReference {
  return { update } as unknown as DocumentReference;
}

/** Rejects when the promise has not settled within `ms` of a free event loop (a busy loop never lets the timer fire). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms))]);
}

describe('test runs: the progress recorder', () => {
  it('merges changes into few writes and flush() waits until they are written, with the lease renewed', async () => {
    const writes: Record<string, unknown>[] = [];
    const recorder = new Recorder(documentRef(async (f) => writes.push(f)), 60_000, 20);
    recorder.set({ 'ids.g0': '1' });
    recorder.set({ 'ids.g1': '2' });
    await within(recorder.flush(), 2_000);
    recorder.stop();
    assert.equal(writes.length, 1);
    assert.equal(writes[0]['ids.g0'], '1');
    assert.equal(writes[0]['ids.g1'], '2');
    assert.ok(Date.parse(String(writes[0].leaseUntil)) > Date.now() + 50_000, 'the write renews the lease');
  });

  it('flush() waits for the changes set before it, not for the recorder to fall idle while more keep coming', async () => {
    const writes: Record<string, unknown>[] = [];
    const recorder = new Recorder(documentRef(async (f) => {
      await new Promise((r) => setTimeout(r, 20));
      writes.push(f);
    }), 60_000, 100);
    // Steps being recorded all the time, as in a build: a change every 2 ms for 1.5 s.
    let setting = true;
    let n = 0;
    const ticker = setInterval(() => recorder.set({ 'progress.stepsCreated': ++n }), 2);
    setTimeout(() => {
      clearInterval(ticker);
      setting = false;
    }, 1_500);
    await new Promise((r) => setTimeout(r, 30));
    recorder.set({ 'ids.g0j0c1': '5001' });
    await within(recorder.flush(), 2_000);
    const stillSetting = setting;
    const upTo = writes.findIndex((w) => w['ids.g0j0c1'] === '5001');
    clearInterval(ticker);
    recorder.stop();
    assert.ok(upTo >= 0, 'the flushed change is written');
    assert.ok(stillSetting, 'the flush returned while changes were still being set');
    assert.ok(writes.length - 1 - upTo <= 1, 'the flush returned once the write holding its change was done');
  });

  it('after a failed write, a later change and flush() reject at once instead of spinning forever', async () => {
    let calls = 0;
    const recorder = new Recorder(documentRef(async () => {
      calls++;
      throw Object.assign(new Error('permission denied'), { code: 7 });
    }), 60_000, 5);
    recorder.set({ a: 1 });
    await assert.rejects(within(recorder.flush(), 2_000), /Firestore/);
    recorder.set({ b: 2 }); // e.g. the heartbeat, or the build recording one more step
    await assert.rejects(within(recorder.flush(), 2_000), /Firestore/);
    recorder.stop();
    assert.equal(calls, 1, 'nothing more is written after a failure');
    assert.equal(recorder.healthy(), false);
  });

  it('after abandon() nothing is written and flush() still returns', async () => {
    const writes: unknown[] = [];
    const recorder = new Recorder(documentRef(async (f) => writes.push(f)), 60_000, 5);
    recorder.abandon();
    recorder.set({ a: 1 });
    await within(recorder.flush(), 2_000);
    assert.deepEqual(writes, []);
  });
});
