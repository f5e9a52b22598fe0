import assert from 'node:assert/strict';
import { cronMatches } from '../../scripts/local-stack/scheduler';
import { schedules } from '../../shared/infra';

const at = (iso: string) => new Date(iso);

describe('local scheduler cron', () => {
  it('matches steps, lists, ranges and exact values (UTC)', () => {
    assert.ok(cronMatches('*/5 * * * *', at('2026-11-26T10:15:00Z')));
    assert.ok(!cronMatches('*/5 * * * *', at('2026-11-26T10:16:00Z')));
    assert.ok(cronMatches('0 3 * * *', at('2026-11-26T03:00:30Z')));
    assert.ok(!cronMatches('0 3 * * *', at('2026-11-26T04:00:00Z')));
    assert.ok(cronMatches('0 1,13 * * *', at('2026-11-26T13:00:00Z')));
    assert.ok(cronMatches('0 9-17 * * 1-5', at('2026-11-26T12:00:00Z'))); // a Thursday
    assert.ok(!cronMatches('0 9-17 * * 1-5', at('2026-11-29T12:00:00Z'))); // a Sunday
    assert.ok(cronMatches('0 0 1 * *', at('2026-12-01T00:00:00Z')));
  });

  it('treats day-of-week 7 as Sunday', () => {
    assert.ok(cronMatches('0 0 * * 7', at('2026-11-29T00:00:00Z')));
    assert.ok(cronMatches('0 0 * * 0', at('2026-11-29T00:00:00Z')));
  });

  it('rejects malformed expressions', () => {
    assert.throws(() => cronMatches('* * *', new Date()), /five fields/);
    assert.throws(() => cronMatches('*/0 * * * *', new Date()), /bad cron field/);
    assert.throws(() => cronMatches('x * * * *', new Date()), /bad cron field/);
  });

  it('understands every schedule declared in infra.ts', () => {
    for (const s of schedules) assert.doesNotThrow(() => cronMatches(s.schedule, new Date()), s.name);
  });
});
