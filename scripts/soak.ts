/**
 * Soak: 10,000 mixed good and bad requests against the webhook, commands and testRuns bundles,
 * each under the Functions Framework in its own process (as deployed) against the local stack
 * (emulators, a private Redis, the Virtuoso sandbox) on free ports, and their resident memory
 * (VmRSS) sampled throughout. Shows that memory settles: the end level within 20 % of the level
 * after the warm-up, each measured after a full garbage collection (asked of each function through
 * its inspector, `--inspect=127.0.0.1:0`): an idle process does not collect by itself, so its RSS
 * alone shows what V8 has not yet had a reason to give back, not what is held. Not part of `npm test`.
 *
 *   npm run soak [-- --requests=10000 --warmup=1000 --concurrency=10]
 *
 * The mix (weights in MIX): signed webhooks (new, duplicate), 10,000-deep JSON webhooks, bad
 * signatures, oversized bodies; read and write commands, history pages, unknown and 1,600-character
 * ids, forged page tokens, deep JSON, empty and broken bodies; dry-run test definitions, 100,000-deep
 * YAML, block-nested YAML, text/plain, 20,000 variables; 17 KB headers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBundles } from './build';
import { firstResponse, httpRequest, spawnFunction, type HttpResponse, type RunningFunction } from './bench/cold-start';
import { provisionPubsub } from './local-stack/provision';
import { startStack } from './local-stack/stack';
import { startSandbox } from './virtuoso-sandbox/server';
import { connect } from 'node:net';

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const REQUESTS = arg('requests', 10_000);
const WARMUP = arg('warmup', 1000);
const CONCURRENCY = arg('concurrency', 10);
const SAMPLE_EVERY = 500;
const SETTLE_MS = 15_000;
const WEBHOOK_SECRET = 'soak-webhook-secret';
const ORG_ID = 2242;
const TOKEN = 'soak-virtuoso-token';
const KEYS = 40; // the rate limit is 1,000 a minute per user and endpoint

type Kind = { name: string; target: 'webhook' | 'commands' | 'testRuns'; weight: number; expect: number[]; send: (url: string, i: number) => Promise<HttpResponse> };

/** Asks a process started with `--inspect` for a full garbage collection, then for its memory figures. */
async function collect(fn: RunningFunction): Promise<{ heapUsedMb: number }> {
  const url = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(fn.output())?.[0];
  if (!url) throw new Error(`${fn.target}: no inspector URL in its output`);
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<{ result?: { result?: { value?: string } } }>((resolve) => {
      const mine = ++id;
      ws.addEventListener('message', function listen(e: MessageEvent) {
        const m = JSON.parse(String(e.data)) as { id?: number };
        if (m.id !== mine) return;
        ws.removeEventListener('message', listen);
        resolve(m as never);
      });
      ws.send(JSON.stringify({ id: mine, method, params }));
    });
  await call('HeapProfiler.collectGarbage');
  const usage = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())' });
  ws.close();
  return { heapUsedMb: Math.round((JSON.parse(usage.result?.result?.value ?? '{}') as { heapUsed: number }).heapUsed / 1048576) };
}

function rssMb(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** Bytes on a raw connection (a request no HTTP client sends), answered status. */
function raw(url: string, text: string): Promise<HttpResponse> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    let got = '';
    const s = connect({ host: '127.0.0.1', port: Number(port) }, () => s.write(text));
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0), headers: {}, text: got }));
  });
}

async function main(): Promise<void> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`soak: ${REQUESTS} requests (${WARMUP} warm-up), ${CONCURRENCY} at a time; building bundles …`);
  const [bundles, stack] = await Promise.all([buildBundles(['webhook', 'commands', 'test-runs']), startStack({ projectId: 'soak-project', redis: 'private' })]);
  Object.assign(process.env, stack.env, { LOG_LEVEL: 'silent' });
  const { pubsub } = await import('../shared/events');
  await provisionPubsub(pubsub(), stack.projectId);
  const { newApiKey, storeApiKey } = await import('../shared/auth');
  const { signVirtuoso } = await import('../shared/webhooks/signature');
  const sandbox = await startSandbox({ organizationId: ORG_ID, token: TOKEN });
  const env = {
    ...stack.env,
    LOG_LEVEL: 'error',
    SECRET_MANAGER_ENDPOINT: '',
    VIRTUOSO_WEBHOOK_SECRET: WEBHOOK_SECRET,
    VIRTUOSO_BASE_URL: sandbox.url,
    VIRTUOSO_ORG_ID: String(ORG_ID),
    VIRTUOSO_API_KEY: TOKEN,
  };
  const source = (bundle: string) => join(bundles.find((b) => b.bundle === bundle)!.outfile, '..');
  const execArgv = ['--inspect=127.0.0.1:0'];
  const fns: Record<Kind['target'], RunningFunction> = {
    webhook: await spawnFunction({ source: source('webhook'), target: 'webhook', env, execArgv }),
    commands: await spawnFunction({ source: source('commands'), target: 'commands', env, execArgv }),
    testRuns: await spawnFunction({ source: source('test-runs'), target: 'testRuns', env, execArgv }),
  };
  try {
    for (const f of Object.values(fns)) await firstResponse(f, (url) => httpRequest(url, { method: 'PUT' }), (r) => r.status === 405 || r.status === 401, 60_000);
    const keys: string[] = [];
    for (let i = 0; i < KEYS; i++) {
      const k = newApiKey({ tenantId: 'soak', userId: `user-${i}`, scopes: ['commands', 'test-runs'] });
      // Setup, not under test: a cold emulator on a busy machine may miss the first deadlines.
      for (let attempt = 1; ; attempt++) {
        try {
          await storeApiKey(k.record);
          break;
        } catch (err) {
          if (attempt >= 5) throw err;
        }
      }
      keys.push(k.key);
    }
    const auth = (i: number, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${keys[i % KEYS]}`, ...extra });
    const json = { 'content-type': 'application/json' };
    const yaml = { 'content-type': 'application/yaml' };
    const webhookBody = (i: number) => JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId: 1_000_000 + i, projectId: 1, goalId: 2 });
    const signedPost = (url: string, body: string, secret = WEBHOOK_SECRET) =>
      httpRequest(url, { method: 'POST', headers: { ...json, 'x-virtuoso-signature': signVirtuoso(body, secret) }, body });
    const definition = 'name: Soak\nproject: Soak\ngoals:\n  - name: G\n    url: https://a.example.com\n    journeys:\n      - name: J\n        checkpoints:\n          - name: C\n            steps:\n              - click: Buy\n              - write: {selector: "input[name=email]", text: a@b.c}\n';
    const deepWebhook = `{"event":"EXECUTION","x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const deepYaml = '['.repeat(100_000);
    const commandIds: string[] = [];

    const MIX: Kind[] = [
      { name: 'webhook: signed, new', target: 'webhook', weight: 14, expect: [202], send: (url, i) => signedPost(url, webhookBody(i)) },
      { name: 'webhook: duplicate', target: 'webhook', weight: 4, expect: [200, 202], send: (url) => signedPost(url, webhookBody(0)) },
      { name: 'webhook: 10,000-deep JSON, signed', target: 'webhook', weight: 4, expect: [400], send: (url) => signedPost(url, deepWebhook) },
      { name: 'webhook: wrong signature', target: 'webhook', weight: 4, expect: [401], send: (url, i) => signedPost(url, webhookBody(i), 'wrong') },
      { name: 'webhook: 300 KB body', target: 'webhook', weight: 2, expect: [413], send: (url) => signedPost(url, JSON.stringify({ pad: 'x'.repeat(300 * 1024) })) },
      { name: 'commands: read (cached)', target: 'commands', weight: 10, expect: [200], send: (url, i) => httpRequest(`${url}/commands`, { method: 'POST', headers: auth(i, json), body: JSON.stringify({ command: `list-projects --limit ${1 + (i % 5)}` }) }) },
      {
        name: 'commands: write', target: 'commands', weight: 6, expect: [200],
        send: async (url, i) => {
          const r = await httpRequest(`${url}/commands`, { method: 'POST', headers: auth(i, json), body: JSON.stringify({ command: `create-project "Soak ${process.pid} ${i}"` }) });
          if (r.status === 200 && commandIds.length < 1000) commandIds.push((JSON.parse(r.text) as { id: string }).id);
          return r;
        },
      },
      { name: 'commands: history page', target: 'commands', weight: 4, expect: [200], send: (url, i) => httpRequest(`${url}/commands?limit=20`, { headers: auth(i) }) },
      { name: 'commands: one command', target: 'commands', weight: 3, expect: [200, 404], send: (url, i) => httpRequest(`${url}/commands/${commandIds[i % Math.max(1, commandIds.length)] ?? '00000000-0000-4000-8000-000000000000'}`, { headers: auth(i) }) },
      { name: 'commands: 1,600-character id', target: 'commands', weight: 3, expect: [404], send: (url, i) => httpRequest(`${url}/commands/${'x'.repeat(1600)}`, { headers: auth(i) }) },
      { name: 'commands: forged pageToken', target: 'commands', weight: 3, expect: [400], send: (url, i) => httpRequest(`${url}/commands?pageToken=garbage${i}`, { headers: auth(i) }) },
      { name: 'commands: deep JSON', target: 'commands', weight: 3, expect: [400], send: (url, i) => httpRequest(`${url}/commands`, { method: 'POST', headers: auth(i, json), body: `{"command":${'['.repeat(20_000)}` }) },
      { name: 'commands: not JSON / empty', target: 'commands', weight: 3, expect: [400], send: (url, i) => httpRequest(`${url}/commands`, { method: 'POST', headers: auth(i, json), body: i % 2 ? '{"command":' : '' }) },
      { name: 'commands: no API key', target: 'commands', weight: 2, expect: [401], send: (url) => httpRequest(`${url}/commands`) },
      { name: 'testRuns: dry run', target: 'testRuns', weight: 8, expect: [200], send: (url, i) => httpRequest(`${url}/test-runs?dryRun=true`, { method: 'POST', headers: auth(i, yaml), body: definition }) },
      { name: 'testRuns: list', target: 'testRuns', weight: 3, expect: [200], send: (url, i) => httpRequest(`${url}/test-runs`, { headers: auth(i) }) },
      { name: 'testRuns: 100,000-deep YAML', target: 'testRuns', weight: 4, expect: [400], send: (url, i) => httpRequest(`${url}/test-runs`, { method: 'POST', headers: auth(i, yaml), body: deepYaml }) },
      { name: 'testRuns: 100,000 nested "- "', target: 'testRuns', weight: 2, expect: [400], send: (url, i) => httpRequest(`${url}/test-runs`, { method: 'POST', headers: auth(i, yaml), body: '- '.repeat(100_000) + 'x' }) },
      { name: 'testRuns: text/plain', target: 'testRuns', weight: 2, expect: [415], send: (url, i) => httpRequest(`${url}/test-runs`, { method: 'POST', headers: auth(i, { 'content-type': 'text/plain' }), body: definition }) },
      {
        name: 'testRuns: 20,000 variables', target: 'testRuns', weight: 2, expect: [422],
        send: (url, i) => httpRequest(`${url}/test-runs?dryRun=true`, { method: 'POST', headers: auth(i, json), body: JSON.stringify({ definition, variables: Object.fromEntries(Array.from({ length: 20_000 }, (_, v) => [`v${v}`, 'x'])) }) }),
      },
      { name: 'any: 17 KB of headers', target: 'commands', weight: 2, expect: [431], send: (url) => raw(url, `GET /commands HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`) },
    ];
    const total = MIX.reduce((s, k) => s + k.weight, 0);
    const pick = (i: number) => {
      let r = (i * 7919) % total; // deterministic spread over the mix
      for (const k of MIX) if ((r -= k.weight) < 0) return k;
      return MIX[0];
    };

    const stats = new Map<string, { count: number; unexpected: Map<number, number>; ms: number[] }>();
    const samples: { at: number; rss: Record<string, number> }[] = [];
    const sample = (at: number) => samples.push({ at, rss: Object.fromEntries(Object.entries(fns).map(([k, f]) => [k, rssMb(f.child.pid)])) });
    /** After a full collection in each function: RSS and V8's heap in use. */
    const collected = async () => {
      const out: Record<string, { rss: number; heap: number }> = {};
      for (const [k, f] of Object.entries(fns)) {
        const { heapUsedMb } = await collect(f);
        out[k] = { rss: rssMb(f.child.pid), heap: heapUsedMb };
      }
      return out;
    };
    let afterWarmup: Record<string, { rss: number; heap: number }> | undefined;
    let warmupCollected: Promise<void> | undefined;
    let next = 0;
    let done = 0;
    const started = performance.now();
    sample(0);
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const i = next++;
          const kind = pick(i);
          const t0 = performance.now();
          let status = 0;
          try {
            status = (await kind.send(fns[kind.target].url, i)).status;
          } catch {
            status = -1;
          }
          const s = stats.get(kind.name) ?? stats.set(kind.name, { count: 0, unexpected: new Map(), ms: [] }).get(kind.name)!;
          s.count++;
          s.ms.push(performance.now() - t0);
          if (!kind.expect.includes(status)) s.unexpected.set(status, (s.unexpected.get(status) ?? 0) + 1);
          done++;
          if (done === WARMUP || done % SAMPLE_EVERY === 0) sample(done);
          if (done === WARMUP) warmupCollected = collected().then((c) => void (afterWarmup = c));
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await warmupCollected;
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    sample(REQUESTS + 1);
    const atEnd = await collected();

    const pct = (xs: number[], p: number) => {
      const s = [...xs].sort((a, b) => a - b);
      return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
    };
    log(`\n${REQUESTS} requests in ${seconds.toFixed(0)} s (${(REQUESTS / seconds).toFixed(0)} req/s)\n`);
    log('| request | count | unexpected answers | p50 ms | p99 ms |');
    log('|---|---|---|---|---|');
    let unexpected = 0;
    for (const kind of MIX) {
      const s = stats.get(kind.name);
      if (!s) continue;
      const bad = [...s.unexpected].map(([code, n]) => `${n}× ${code}`).join(', ');
      unexpected += [...s.unexpected.values()].reduce((a, b) => a + b, 0);
      log(`| ${kind.name} → ${kind.expect.join('/')} | ${s.count} | ${bad || '0'} | ${pct(s.ms, 50)} | ${pct(s.ms, 99)} |`);
    }
    const warm = samples.find((s) => s.at === WARMUP) ?? samples[1];
    const end = samples.at(-1)!;
    log('\n| function | RSS at start | after warm-up | peak | 15 s after the last request | after a full GC: warm-up → end (RSS) | heap in use after a full GC: warm-up → end | end / warm-up (RSS after GC) |');
    log('|---|---|---|---|---|---|---|---|');
    let settled = true;
    for (const name of Object.keys(fns)) {
      const peak = Math.max(...samples.map((s) => s.rss[name]));
      const w = afterWarmup![name];
      const e = atEnd[name];
      const ratio = e.rss / w.rss;
      settled &&= ratio <= 1.2;
      log(`| ${name} | ${samples[0].rss[name]} MB | ${warm.rss[name]} MB | ${peak} MB | ${end.rss[name]} MB | ${w.rss} → ${e.rss} MB | ${w.heap} → ${e.heap} MB | ${(ratio * 100).toFixed(0)} % |`);
    }
    log(`\nRSS samples (MB) every ${SAMPLE_EVERY} requests: ${samples.map((s) => `${s.at}: ${Object.values(s.rss).join('/')}`).join('; ')}`);
    log(`\n${unexpected} unexpected answers; memory ${settled ? 'settled within 20 % of its post-warm-up level' : 'did NOT settle within 20 %'}`);
    if (unexpected || !settled) process.exitCode = 1;
  } finally {
    await Promise.all(Object.values(fns).map((f) => f.stop()));
    await sandbox.close();
    await stack.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`soak failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
