/**
 * A local stand-in for Cloud Scheduler: calls each job of shared/infra.ts on its cron schedule
 * (UTC; minute hour day-of-month month day-of-week with `*`, `*\/n`, lists and ranges).
 */
import type { ScheduleSpec } from '../../shared/infra';

function field(spec: string, min: number, max: number): Set<number> {
  const out = new Set<number>();
  for (const part of spec.split(',')) {
    const [range, stepRaw] = part.split('/');
    const step = stepRaw ? Number(stepRaw) : 1;
    const [lo, hi] = range === '*' ? [min, max] : range.includes('-') ? range.split('-').map(Number) : [Number(range), stepRaw ? max : Number(range)];
    if (![lo, hi, step].every(Number.isInteger) || step < 1) throw new Error(`bad cron field '${spec}'`);
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** Day of week 0–7, where 7 is Sunday too. */
function daysOfWeek(spec: string): Set<number> {
  const days = field(spec, 0, 7);
  if (days.has(7)) days.add(0);
  return days;
}

export function cronMatches(cron: string, at: Date): boolean {
  const [m, h, dom, mon, dow] = cron.trim().split(/\s+/);
  if (dow === undefined) throw new Error(`cron '${cron}' needs five fields`);
  return (
    field(m, 0, 59).has(at.getUTCMinutes()) &&
    field(h, 0, 23).has(at.getUTCHours()) &&
    field(dom, 1, 31).has(at.getUTCDate()) &&
    field(mon, 1, 12).has(at.getUTCMonth() + 1) &&
    daysOfWeek(dow).has(at.getUTCDay())
  );
}

/** Starts ticking at each minute boundary; returns a stop function. */
export function startScheduler(
  jobs: readonly ScheduleSpec[],
  urlOf: (job: ScheduleSpec) => string | undefined,
  report: (job: ScheduleSpec, outcome: string) => void,
): () => void {
  let timer: NodeJS.Timeout;
  const tick = () => {
    const now = new Date();
    for (const job of jobs) {
      const url = urlOf(job);
      if (!url || !cronMatches(job.schedule, now)) continue;
      fetch(url, {
        method: job.method,
        headers: { 'content-type': 'application/json', 'user-agent': 'Google-Cloud-Scheduler (local)' },
        body: job.body ? JSON.stringify(job.body) : undefined,
        signal: AbortSignal.timeout(60_000),
      }).then(
        (res) => report(job, `${res.status}`),
        (err: Error) => report(job, `failed: ${err.message}`),
      );
    }
    timer = setTimeout(tick, 60_000 - (Date.now() % 60_000) + 50);
  };
  timer = setTimeout(tick, 60_000 - (Date.now() % 60_000) + 50);
  return () => clearTimeout(timer);
}
