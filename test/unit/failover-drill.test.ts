/** The failover drill (scripts/failover-drill.ts): its steps in order, each resource checked against the deploy plan. */
import assert from 'node:assert/strict';
import * as infra from '../../shared/infra';
import { failoverDrill, formatDrill, main, unknownReferences, type DrillStep } from '../../scripts/failover-drill';
import { edgeNames } from '../../scripts/deploy-plan-edge';

const OPTS = { projectId: 'demo-project', region: 'us-central1', secondaryRegion: 'us-east1', edge: { domain: 'api.example.com' } };

describe('failover drill', () => {
  const steps = failoverDrill(OPTS);
  const first = (test: (s: DrillStep) => boolean) => steps.findIndex(test);
  const last = (test: (s: DrillStep) => boolean) => steps.length - 1 - [...steps].reverse().findIndex(test);
  const cmd = (s: DrillStep) => (s.command ?? []).join(' ');

  it('goes: check the second region, eject the lost one, verify, move queues and schedules, smoke check, fail back', () => {
    const phases = steps.map((s) => s.phase).filter((p, i, all) => p !== all[i - 1]);
    assert.deepEqual(phases, ['check', 'eject', 'verify', 'switch', 'verify', 'failback']);
    const ejects = steps.filter((s) => s.phase === 'eject');
    assert.deepEqual(ejects.map((s) => s.command![4]), infra.edge.routes.map((fn) => edgeNames.backend(fn)));
    for (const s of ejects) assert.match(cmd(s), /remove-backend .* --network-endpoint-group-region=us-central1/);
    const pauses = first((s) => /scheduler jobs pause|tasks queues pause/.test(cmd(s)));
    const converge = first((s) => cmd(s).startsWith('./deploy.sh') && cmd(s).includes('--region=us-east1'));
    assert.ok(last((s) => s.phase === 'eject') < pauses && pauses < converge, 'the old region stops its scheduled work before the new one takes it');
    assert.ok(!cmd(steps[converge]).includes('--secondary-region'), 'a single-region plan: the lost region is not touched');
    const smoke = first((s) => cmd(s).startsWith('npm run smoke'));
    assert.ok(converge < smoke && smoke < first((s) => s.phase === 'failback'));
    assert.match(cmd(steps[first((s) => s.phase === 'failback')]), /--region=us-central1 --secondary-region=us-east1/);
  });

  it('names only resources the deploy plan makes', () => {
    assert.deepEqual(unknownReferences(steps, OPTS), []);
    assert.ok(steps.reduce((n, s) => n + s.refers.length, 0) > 30);
  });

  it('reports a step naming a resource the plan does not make (the check can fail)', () => {
    const wrong = steps.map((s, i) => (i === 4 ? { ...s, refers: [{ kind: 'neg' as const, name: edgeNames.neg('health', 'europe-west1'), region: 'europe-west1', plan: 'multi' as const }] } : s));
    assert.deepEqual(unknownReferences(wrong, OPTS), [`step 5 (${steps[4].say}): neg virtuoso-api-health-europe-west1 in europe-west1 is not in the multi-region plan`]);
  });

  it('needs a second region and the edge', () => {
    assert.throws(() => failoverDrill({ ...OPTS, secondaryRegion: undefined }), /needs a second region/);
    assert.throws(() => failoverDrill({ ...OPTS, edge: undefined }), /needs the edge/);
  });

  it('prints numbered steps under their phase, each with its command', () => {
    const text = formatDrill(steps);
    assert.match(text, /^## Check the second region serves\n 1\. health is deployed and ACTIVE in us-east1\n {4}gcloud functions describe health/);
    assert.equal((text.match(/^ ?\d+\. /gm) ?? []).length, steps.length);
  });

  it('answers bad usage with its usage and status 2, and --help with status 0, never a stack trace', () => {
    const written: string[] = [];
    const streams = [process.stdout, process.stderr] as const;
    const originals = streams.map((st) => st.write);
    for (const st of streams) st.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof st.write;
    let bad: number, help: number;
    try {
      bad = main(['--bogus']);
      help = main(['--help']);
    } finally {
      streams.forEach((st, i) => (st.write = originals[i]));
    }
    assert.equal(bad, 2);
    assert.equal(help, 0);
    assert.match(written.join(''), /Unknown option '--bogus'\nusage: npm run drill:failover/);
    assert.doesNotMatch(written.join(''), /\n\s+at /);
  });
});
