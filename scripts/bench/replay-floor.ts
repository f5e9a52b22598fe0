/**
 * The CPU floor of testRunWorker's Virtuoso calls: a bare Node HTTP client, in a process of its
 * own, making the calls a build made — the same methods, paths, request bodies and answers, as many
 * in flight as the worker allows — and nothing else (no plan, no progress writes, no bookkeeping),
 * in a process with what the Functions Framework loads into every function's (its `domain` module).
 * Like the worker's client (shared/virtuoso/transport.ts) it uses node:http with a keep-alive agent,
 * sends each body as JSON.stringify of an object and parses each answer with JSON.parse.
 *
 * The bench process serves the recorded answers (`startReplayServer`, after the same latency as the
 * sandbox); the client child replays the whole build twice to warm up, then three times measured,
 * and prints the median of its own CPU per replay (process.cpuUsage): loading and warming are not
 * counted.
 *
 *   node --import tsx scripts/bench/replay-floor.ts <exchanges.json> <server url> <concurrency>
 */
import { readFileSync } from 'node:fs';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReceivedRequest } from '../virtuoso-sandbox/faults';

export interface Exchange {
  method: string;
  /** Path and query, as the worker sent them. */
  url: string;
  body?: string;
  status: number;
  answer: string;
}

/** The exchanges of a recorded build, in the order the sandbox received them. */
export function exchangesOf(received: readonly ReceivedRequest[]): Exchange[] {
  return received
    .filter((r) => r.answer)
    .map((r) => ({ method: r.method, url: `${r.path}${r.query ? `?${r.query}` : ''}`, ...(r.body ? { body: r.body } : {}), status: r.answer!.status, answer: r.answer!.text }));
}

/** Answers the i-th exchange's request (header `x-replay`) with its recorded answer, after `latencyMs`. */
export async function startReplayServer(exchanges: Exchange[], latencyMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = http.createServer((req, res) => {
    const x = exchanges[Number(req.headers['x-replay'])];
    req.resume();
    req.on('end', () => {
      void sleep(latencyMs).then(() => {
        if (!x) return void res.writeHead(404).end();
        res.writeHead(x.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(x.answer)) });
        res.end(x.answer);
      });
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The client side: every exchange once, `concurrency` at a time. */
async function replay(exchanges: Exchange[], bodies: unknown[], base: string, agent: http.Agent, concurrency: number): Promise<void> {
  let next = 0;
  const one = (i: number) =>
    new Promise<unknown>((resolve, reject) => {
      const x = exchanges[i];
      const body = bodies[i] === undefined ? undefined : Buffer.from(JSON.stringify(bodies[i]));
      const req = http.request(new URL(`${base}${x.url}`), {
        method: x.method,
        agent,
        headers: {
          Authorization: 'Bearer replay-token',
          Accept: 'application/json',
          'X-Virtuoso-Client-ID': 'virtuoso-api-cli-functions',
          'X-Virtuoso-Client-Name': 'virtuoso-api-cli-functions',
          'x-replay': String(i),
          ...(body ? { 'Content-Type': 'application/json', 'Content-Length': String(body.length) } : {}),
        },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve(text ? JSON.parse(text) : undefined);
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: Math.min(concurrency, exchanges.length) }, async () => {
      while (next < exchanges.length) await one(next++);
    }),
  );
}

const WARM_UP = 2;
const MEASURED = 3;

if (require.main === module) {
  // What the Functions Framework puts in every function's process, the worker's included: its
  // function_wrappers.js loads Node's `domain` module, which wraps every EventEmitter's init and
  // emit (each request, response and socket) whether or not a domain is ever entered. No function
  // can run without it, so neither does the floor.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('node:domain');
  const [file, base, concurrency] = process.argv.slice(2);
  const exchanges = JSON.parse(readFileSync(file, 'utf8')) as Exchange[];
  // The worker sends objects: each body is parsed here, outside the measurement, and stringified per call.
  const bodies = exchanges.map((x) => (x.body ? JSON.parse(x.body) : undefined));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  void (async () => {
    // As warm as the worker is by its measured builds (it has built at least twice): two replays
    // to warm up, then the median of three.
    const cpu: number[] = [];
    for (let i = 0; i < WARM_UP + MEASURED; i++) {
      const before = process.cpuUsage();
      await replay(exchanges, bodies, base, agent, Number(concurrency));
      const used = process.cpuUsage(before);
      if (i >= WARM_UP) cpu.push((used.user + used.system) / 1000);
    }
    cpu.sort((a, b) => a - b);
    console.log(JSON.stringify({ calls: exchanges.length, cpuMs: cpu[Math.floor(cpu.length / 2)], replays: cpu }));
    agent.destroy();
  })();
}
