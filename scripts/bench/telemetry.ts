/**
 * What tracing costs (issue 15 §2): the webhook bundle with TRACE_EXPORTER=none and with
 * TRACE_EXPORTER=otlp (to a local OTLP/HTTP receiver in this process), side by side in one run,
 * against the real local stack.
 *
 *   npx tsx scripts/bench/telemetry.ts [--runs=N] [--seconds=N]      (or npm run bench -- telemetry)
 *
 * - Cold start: spawn → first accepted signed delivery (202), the two settings alternating, N runs
 *   each after one discarded round. With otlp the first request is sampled, so its spans are made
 *   and exported: the SDK's load, its setup and the first export are all in the figure.
 * - CPU per request and latency: both processes warm, autocannon at 50 connections, rounds
 *   alternating; every request sampled (`traceparent` flag 01, a new trace each), the worst case:
 *   in production only the requests Cloud Run samples are traced. CPU is the function process's
 *   own (user + system, /proc), exports included; the receiver runs in this process.
 * Every delivery must be answered 202, and with otlp the receiver must have got spans of them.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { PubSub } from '@google-cloud/pubsub';
import { formatTable } from '../build';
import { startOtlpReceiver, type OtlpReceiver } from '../local-stack/otlp-receiver';
import { provisionPubsub } from '../local-stack/provision';
import { startStack } from '../local-stack/stack';
import { signVirtuoso } from '../../shared/webhooks/signature';
import { benchNodeArgs, cpuMs, firstResponse, httpRequest, median, percentile, spawnFunction } from './cold-start';
import { bundlesOn, currentRuntime } from './runtime';

const SECRET = 'bench-telemetry-secret';
const SETTINGS = ['none', 'otlp'] as const;
type Setting = (typeof SETTINGS)[number];

export interface TelemetryBenchOptions {
  runs?: number;
  seconds?: number;
  connections?: number;
  rounds?: number;
  log?: (line: string) => void;
}

export interface SettingResult {
  setting: Setting;
  coldStartMedianMs: number;
  coldStartP90Ms: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerRequest: number;
  requests: number;
}

export interface TelemetryBenchResult {
  none: SettingResult;
  otlp: SettingResult;
  /** Spans and export requests the receiver got during the load (otlp). */
  spansExported: number;
  exportRequests: number;
  table: string;
  summary: string[];
}

const traceparent = () => `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

function delivery(seq: number, run: string): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId: seq, run, projectId: 1, goalId: 2 });
  return { body, headers: { 'content-type': 'application/json', 'x-virtuoso-signature': signVirtuoso(body, SECRET), traceparent: traceparent() } };
}

function load(url: string, seconds: number, connections: number, seq: { n: number }): Promise<autocannon.Result> {
  const run = randomBytes(6).toString('hex');
  return autocannon({
    url,
    connections,
    duration: seconds,
    method: 'POST',
    requests: [{ setupRequest: (req) => ({ ...req, ...delivery(seq.n++, run) }) }],
  });
}

export async function telemetryBench(opts: TelemetryBenchOptions = {}): Promise<TelemetryBenchResult> {
  const runs = opts.runs ?? Number(process.env.COLD_START_RUNS ?? 10);
  const seconds = opts.seconds ?? 10;
  const connections = opts.connections ?? 50;
  const rounds = opts.rounds ?? 2;
  const log = opts.log ?? ((line: string) => console.log(line));

  log('telemetry: building the webhook bundle …');
  const [bundle] = await bundlesOn(currentRuntime, ['webhook']);
  const source = join(bundle.outfile, '..');
  log('telemetry: starting the local stack and an OTLP receiver …');
  const stack = await startStack({ projectId: 'bench-telemetry', redis: 'private' });
  let receiver: OtlpReceiver | undefined;
  try {
    receiver = await startOtlpReceiver();
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    const client = new PubSub({ projectId: stack.projectId, apiEndpoint: stack.env.PUBSUB_EMULATOR_HOST });
    try {
      await provisionPubsub(client, stack.projectId);
    } finally {
      await client.close();
    }
    const base = { ...stack.env, LOG_LEVEL: 'warn', APP_VERSION: 'bench', VIRTUOSO_WEBHOOK_SECRET: SECRET, SECRET_MANAGER_ENDPOINT: '', HEALTH_CACHE_MS: '0' };
    const envOf = (setting: Setting) => ({ ...base, TRACE_EXPORTER: setting, TRACE_OTLP_ENDPOINT: receiver!.tracesUrl });
    const seq = { n: Date.now() };
    const run = randomBytes(6).toString('hex');

    // Cold start, alternating.
    const cold: Record<Setting, number[]> = { none: [], otlp: [] };
    log(`telemetry: cold start, ${runs} runs each (+1 warm-up) …`);
    for (let round = 0; round <= runs; round++) {
      for (const setting of round % 2 ? SETTINGS : [...SETTINGS].reverse()) {
        const fn = await spawnFunction({ source, target: 'webhook', env: envOf(setting) });
        try {
          const exported = receiver.requests.length;
          const first = await firstResponse(fn, (url) => httpRequest(url, { method: 'POST', ...delivery(seq.n++, run) }), (r) => r.status === 202);
          if (round > 0) cold[setting].push(first.ms);
          // Not timed: the first request's spans arrive before the process is stopped (none: nothing to wait for).
          for (let waited = 0; setting === 'otlp' && receiver.requests.length === exported && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
        } finally {
          await fn.stop();
        }
      }
    }
    if (receiver.requests.length < runs + 1) throw new Error(`the otlp cold starts exported ${receiver.requests.length} times in ${runs + 1} starts: the measurement would not be of tracing`);

    // CPU per request and latency, both warm, rounds alternating.
    log(`telemetry: load, ${rounds} rounds of ${seconds} s at ${connections} connections each …`);
    const fns = Object.fromEntries(await Promise.all(SETTINGS.map(async (s) => [s, await spawnFunction({ source, target: 'webhook', env: envOf(s), execArgv: benchNodeArgs() })] as const)));
    const results: Record<Setting, { cpu: number; total: number; seconds: number; p50: number[]; p99: number[]; bad: number }> = {
      none: { cpu: 0, total: 0, seconds: 0, p50: [], p99: [], bad: 0 },
      otlp: { cpu: 0, total: 0, seconds: 0, p50: [], p99: [], bad: 0 },
    };
    let spansBefore = 0;
    let requestsBefore = 0;
    try {
      for (const s of SETTINGS) {
        await firstResponse(fns[s], (url) => httpRequest(url), (r) => r.status === 405);
        await load(fns[s].url, 3, connections, seq); // warm: connections, JIT, clients
      }
      spansBefore = receiver.spans().length;
      requestsBefore = receiver.requests.length;
      for (let round = 0; round < rounds; round++) {
        for (const s of round % 2 ? [...SETTINGS].reverse() : SETTINGS) {
          const pid = fns[s].child.pid;
          const before = cpuMs(pid);
          const r = await load(fns[s].url, seconds, connections, seq);
          // The idle flush of the last requests' spans belongs to them.
          await new Promise((resolve) => setTimeout(resolve, 300));
          const acc = results[s];
          acc.cpu += cpuMs(pid) - before;
          acc.total += r.requests.total;
          acc.seconds += r.duration;
          acc.p50.push(r.latency.p50);
          acc.p99.push(r.latency.p99);
          acc.bad += r.non2xx + r.errors + r.timeouts;
        }
        log(`  round ${round + 1}/${rounds} done`);
      }
    } finally {
      await Promise.all(SETTINGS.map((s) => fns[s].stop()));
    }
    for (const s of SETTINGS) if (results[s].bad) throw new Error(`${s}: ${results[s].bad} deliveries were not answered 202`);
    const spansExported = receiver.spans().length - spansBefore;
    if (!spansExported) throw new Error('otlp exported no span under load');

    const of = (s: Setting): SettingResult => ({
      setting: s,
      coldStartMedianMs: Math.round(median(cold[s])),
      coldStartP90Ms: Math.round(percentile(cold[s], 90)),
      requestsPerSecond: Math.round(results[s].total / results[s].seconds),
      // The worst round's, so a noisy round is not averaged away.
      p50Ms: Math.max(...results[s].p50),
      p99Ms: Math.max(...results[s].p99),
      cpuMsPerRequest: Math.round((results[s].cpu / results[s].total) * 100) / 100,
      requests: results[s].total,
    });
    const none = of('none');
    const otlp = of('otlp');
    const table = formatTable(
      ['TRACE_EXPORTER', 'cold start median ms', 'p90 ms', 'req/s', 'p50 ms', 'p99 ms', 'fn CPU ms/req', 'requests'],
      [none, otlp].map((r) => [r.setting, String(r.coldStartMedianMs), String(r.coldStartP90Ms), String(r.requestsPerSecond), String(r.p50Ms), String(r.p99Ms), r.cpuMsPerRequest.toFixed(2), String(r.requests)]),
      ['cold start median ms', 'p90 ms', 'req/s', 'p50 ms', 'p99 ms', 'fn CPU ms/req', 'requests'],
    );
    const exportRequests = receiver.requests.length - requestsBefore;
    log(`\nTracing cost, webhook bundle (node ${process.version}; every request sampled; ${spansExported} spans in ${exportRequests} export requests under load):\n${table}`);
    const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)} %`;
    const summary = [
      `tracing cold start (webhook, first signed delivery): none ${none.coldStartMedianMs} ms, otlp ${otlp.coldStartMedianMs} ms (${pct(otlp.coldStartMedianMs, none.coldStartMedianMs)})`,
      `tracing CPU per webhook request (every request sampled): none ${none.cpuMsPerRequest} ms, otlp ${otlp.cpuMsPerRequest} ms (${pct(otlp.cpuMsPerRequest, none.cpuMsPerRequest)}); ` +
        `p99 none ${none.p99Ms} ms, otlp ${otlp.p99Ms} ms (target p99 < 100 ms: ${otlp.p99Ms < 100 ? 'met' : 'NOT met'} with otlp); req/s none ${none.requestsPerSecond}, otlp ${otlp.requestsPerSecond}`,
    ];
    return { none, otlp, spansExported, exportRequests, table, summary };
  } finally {
    await receiver?.close();
    await stack.stop();
  }
}

function parseArgs(argv: string[]): TelemetryBenchOptions {
  const opts: TelemetryBenchOptions = {};
  for (const a of argv) {
    const m = /^--(runs|seconds|rounds|connections)=(\d+)$/.exec(a);
    if (!m) throw new Error(`Unknown option ${a} (usage: telemetry.ts [--runs=N] [--seconds=N] [--rounds=N] [--connections=N])`);
    opts[m[1] as 'runs' | 'seconds' | 'rounds' | 'connections'] = Number(m[2]);
  }
  return opts;
}

if (require.main === module) {
  telemetryBench(parseArgs(process.argv.slice(2))).then(
    (r) => {
      console.log(`\n${r.summary.join('\n')}`);
      process.exit(0);
    },
    (err: Error) => {
      console.error(`telemetry bench failed: ${err.stack ?? err.message}`);
      process.exit(1);
    },
  );
}
