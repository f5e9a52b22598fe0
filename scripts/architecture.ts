/**
 * `npm run architecture`: the deployed topology as a Mermaid flowchart, drawn from shared/infra.ts
 * (the functions, their triggers and what each uses, the queues, topics, schedules, the edge and
 * the second region), so the picture cannot drift from what deploy makes. `-- --write` puts it in
 * README.md between its architecture markers; test/unit/architecture.test.ts checks the README's
 * copy is the generated one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as infra from '../shared/infra';

export const BEGIN = '<!-- architecture:begin (npm run architecture -- --write) -->';
export const END = '<!-- architecture:end -->';

const id = (kind: string, name: string) => `${kind}_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
const fnId = (name: string) => id('fn', name);
const unique = <T>(xs: Iterable<T>) => [...new Set(xs)];

export function architectureMermaid(): string {
  const fns = infra.functions as readonly infra.FunctionSpec[];
  const routes = infra.edge.routes as readonly string[];
  const cdn = infra.edge.cdn as readonly string[];
  const queueByKey = infra.queues as Record<string, infra.QueueSpec>;
  const lines = ['flowchart LR'];
  const add = (...l: string[]) => lines.push(...l.map((x) => `  ${x}`));

  add('callers(["api-cli, CI pipelines"])', 'virtuoso(["Virtuoso (webhooks)"])');
  add('subgraph edge["Global external HTTPS load balancer (--domain)"]');
  add(`  lb["forwarding rule :443 → HTTPS proxy (managed certificate) → URL map: each function at /function-name"]`);
  add(`  armor{{"Cloud Armor: ${infra.edge.armor.ratePerMinutePerIp}/min per IP, WAF ${infra.edge.armor.waf.map((w) => w.split('-')[0]).join(', ')}${infra.edge.armor.preview ? ' (preview)' : ''}, webhook allow-list"}}`);
  add(`  cdn[("Cloud CDN: ${cdn.join(', ')}")]`);
  add('end');
  add('callers --> lb', 'virtuoso --> lb', 'lb --- armor', 'lb --- cdn');

  add('subgraph primary["primary region: every function, queues, schedules, Memorystore"]');
  for (const f of fns) {
    const t = f.trigger;
    const how = t.kind === 'http' ? (t.public ? 'public HTTP' : 'private HTTP') : t.kind === 'task' ? 'Cloud Tasks' : 'Pub/Sub (Eventarc)';
    add(`  ${fnId(f.name)}["${f.name}<br/>${how}"]`);
  }
  for (const [key, q] of Object.entries(queueByKey)) add(`  ${id('q', key)}[/"queue ${q.name}"/]`);
  add(`  scheduler(["Cloud Scheduler: ${infra.schedules.length} jobs"])`);
  add(`  redis[("Memorystore ${infra.memorystore.instance}: the cache of ${fns.filter((f) => f.uses.redis).length} functions, optional")]`);
  add('end');

  add('subgraph secondary["second region (--secondary-region): the public functions"]');
  for (const r of routes) add(`  ${id('fn2', r)}["${r}"]`);
  add('end');

  add('subgraph global["multi-region / global"]');
  for (const t of Object.values(infra.topics)) add(`  ${id('t', t)}>"topic ${t}"]`);
  add('  firestore[("Firestore (nam5 / eur3 in multi-region mode)")]');
  add(`  bucket[("gs://PROJECT-${infra.buckets.data.suffix}")]`);
  add('  secrets[("Secret Manager")]');
  add('end');

  for (const r of routes) add(`lb -->|/${r}| ${fnId(r)}`, `lb -.->|/${r}| ${id('fn2', r)}`);
  for (const f of fns) {
    const from = fnId(f.name);
    for (const t of unique(f.uses.publishes ?? [])) add(`${from} --> ${id('t', t)}`);
    for (const q of unique(f.uses.enqueues ?? [])) add(`${from} --> ${id('q', q)}`);
    if (f.trigger.kind === 'task') for (const q of f.trigger.queues) add(`${id('q', q)} --> ${from}`);
    if (f.trigger.kind === 'pubsub') add(`${id('t', f.trigger.topic)} --> ${from}`);
    for (const sub of infra.subscriptions.filter((x) => (f.uses.pulls ?? []).includes(x.name))) add(`${id('t', sub.topic)} -.->|${sub.name}| ${from}`);
    if (f.uses.objects?.length || f.uses.firestoreExports) add(`${from} -.-> bucket`);
  }
  for (const target of unique(infra.schedules.map((s) => s.target))) add(`scheduler --> ${fnId(target)}`);
  const dbUsers = fns.filter((f) => f.uses.firestore).length;
  add(`primary -.->|${dbUsers} functions| firestore`, 'primary -.-> secrets', 'secondary -.-> firestore', 'secondary -.-> secrets', 'secondary -.-> redis');
  return `${lines.join('\n')}\n`;
}

/** The README block: the markers around a mermaid code block. */
export const readmeBlock = () => `${BEGIN}\n\`\`\`mermaid\n${architectureMermaid()}\`\`\`\n${END}`;

/** The README's copy of the block, or undefined when the markers are missing. */
export function readmeCopy(readme: string): string | undefined {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  return a < 0 || b < a ? undefined : readme.slice(a, b + END.length);
}

if (require.main === module) {
  if (process.argv.includes('--write')) {
    const file = join(__dirname, '..', 'README.md');
    const readme = readFileSync(file, 'utf8');
    const copy = readmeCopy(readme);
    if (!copy) {
      process.stderr.write(`architecture: README.md has no ${BEGIN} … ${END} block\n`);
      process.exitCode = 1;
    } else writeFileSync(file, readme.replace(copy, readmeBlock()));
  } else process.stdout.write(architectureMermaid());
}
