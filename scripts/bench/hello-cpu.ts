/**
 * The bare hello world's CPU per request, measured the way a bench drives its own function: N
 * requests one after another on one keep-alive connection (like a CLI session, or a worker's
 * calls), after a warm-up. CPU is the child's user + system time (/proc), so the load generator
 * is not counted. Ratios against it hold across machines (absolute figures differ about 3×).
 */
import { join } from 'node:path';
import { cpuMs, firstResponse, httpRequest, spawnFunction } from './cold-start';
import { helloBundleOn, type BenchRuntime } from './runtime';

export interface HelloCpu {
  requests: number;
  cpuMsPerRequest: number;
}

export async function helloCpuPerRequest(runtime: BenchRuntime, requests = 2000, warmup = 300): Promise<HelloCpu> {
  const hello = await helloBundleOn(runtime);
  const fn = await spawnFunction({ source: join(hello.outfile, '..'), target: 'hello', runtime });
  try {
    await firstResponse(fn, (url) => httpRequest(url), (r) => r.status === 200, 30_000);
    const once = async () => {
      const res = await fetch(fn.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"hello":"world"}' });
      await res.text();
    };
    for (let i = 0; i < warmup; i++) await once();
    const cpu0 = cpuMs(fn.child.pid);
    for (let i = 0; i < requests; i++) await once();
    const cpu = cpuMs(fn.child.pid) - cpu0;
    return { requests, cpuMsPerRequest: Math.round((cpu / requests) * 1000) / 1000 };
  } finally {
    await fn.stop();
  }
}
