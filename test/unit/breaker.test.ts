import assert from 'node:assert/strict';
import { BreakerOpenError, CircuitBreaker } from '../../shared/breaker';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('circuit breaker (shared/breaker.ts)', () => {
  const fail = (err: Error) => () => Promise.reject(err);
  const ok = () => Promise.resolve('ok');

  it('once open, fails calls at once without running them', async () => {
    const b = new CircuitBreaker('x', { failuresToOpen: 1, openMs: 200 });
    await assert.rejects(b.run(fail(new Error('slow'))), /slow/);
    assert.equal(b.state, 'open');
    let ran = false;
    await assert.rejects(b.run(async () => ((ran = true), 'x')), BreakerOpenError);
    assert.equal(ran, false);
  });

  it('opens after failuresToOpen failures in a row (a success in between resets the count)', async () => {
    const b = new CircuitBreaker('x', { failuresToOpen: 3, openMs: 200 });
    await assert.rejects(b.run(fail(new Error('1'))));
    await assert.rejects(b.run(fail(new Error('2'))));
    await b.run(ok);
    await assert.rejects(b.run(fail(new Error('1'))));
    await assert.rejects(b.run(fail(new Error('2'))));
    assert.equal(b.state, 'closed');
    await assert.rejects(b.run(fail(new Error('3'))));
    assert.equal(b.state, 'open');
  });

  it('lets one probe through after openMs: closes on success, reopens twice as long on failure, one probe at a time', async () => {
    const b = new CircuitBreaker('x', { failuresToOpen: 1, openMs: 100, maxOpenMs: 1000 });
    await assert.rejects(b.run(fail(new Error('down'))));
    await sleep(120);
    assert.equal(b.state, 'half-open');
    let release!: () => void;
    const probe = b.run(() => new Promise<never>((_, reject) => (release = () => reject(new Error('still down')))));
    await assert.rejects(b.run(ok), BreakerOpenError, 'a second call while the probe runs is skipped');
    release();
    await assert.rejects(probe, /still down/);
    await sleep(120);
    await assert.rejects(b.run(ok), BreakerOpenError, 'reopened for 200 ms this time');
    await sleep(120);
    assert.equal(await b.run(ok), 'ok');
    assert.equal(b.state, 'closed');
  });
});
