/** The README's architecture picture is the one scripts/architecture.ts draws from shared/infra.ts. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as infra from '../../shared/infra';
import { architectureMermaid, readmeBlock, readmeCopy } from '../../scripts/architecture';

describe('architecture picture (npm run architecture)', () => {
  it("is in the README as generated (else: npm run architecture -- --write)", () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    assert.equal(readmeCopy(readme), readmeBlock());
  });

  it('draws every function, queue and topic of infra.ts, the edge routes and the second region', () => {
    const m = architectureMermaid();
    for (const f of infra.functions) assert.match(m, new RegExp(`fn_${f.name}\\["${f.name}<br/>`), f.name);
    for (const q of Object.values(infra.queues)) assert.ok(m.includes(`queue ${q.name}`), q.name);
    for (const t of Object.values(infra.topics)) assert.ok(m.includes(`topic ${t}`), t);
    for (const r of infra.edge.routes) {
      assert.ok(m.includes(`lb -->|/${r}| fn_${r}`), r);
      assert.ok(m.includes(`lb -.->|/${r}| fn2_${r}`), r);
    }
    assert.ok(m.includes('q_commandExecution --> fn_commandWorker'));
    assert.ok(m.includes('t_webhook_events --> fn_testRunEvents'));
  });

  it('finds no copy in a README without the markers', () => {
    assert.equal(readmeCopy('# nothing here'), undefined);
  });
});
