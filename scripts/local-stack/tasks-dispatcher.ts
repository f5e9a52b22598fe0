/**
 * The local Cloud Tasks: a server speaking the Cloud Tasks REST API's `createTask` (what the real
 * `@google-cloud/tasks` client sends with `fallback: true`), which records each task and delivers
 * it like Cloud Tasks: a POST to the task's URL with the `X-CloudTasks-*` headers, retried on any
 * non-2xx with the queue's retry settings from shared/infra.ts (maxAttempts, min/max backoff,
 * doublings; Retry-After honoured). Names are deduplicated (409 ALREADY_EXISTS). Rate limits are
 * not simulated. `backoffScale` shrinks the retry backoff for tests (1 = real time); scheduled tasks wait in real time.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { queues, type QueueSpec } from '../../shared/infra';

export interface Attempt {
  status: number;
  at: string;
}

export interface RecordedTask {
  name: string;
  queue: string;
  url: string;
  body: string;
  headers: Record<string, string>;
  oidcToken?: { serviceAccountEmail?: string; audience?: string };
  createdAt: string;
  attempts: Attempt[];
  state: 'pending' | 'succeeded' | 'failed';
  /** When its first delivery is due (its scheduleTime). */
  dueAt?: number;
}

export interface TasksDispatcher {
  url: string;
  port: number;
  tasks: RecordedTask[];
  /** Resolves when every task due by now has succeeded or run out of attempts (scheduled ones are not waited for). */
  idle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

interface TaskJson {
  name?: string;
  scheduleTime?: string;
  httpRequest?: { url?: string; body?: string; headers?: Record<string, string>; oidcToken?: RecordedTask['oidcToken'] };
}

const byName = new Map<string, QueueSpec>(Object.values(queues).map((q) => [q.name, q]));

/** Cloud Tasks' backoff: doubling from minBackoff maxDoublings times, then linear, capped at maxBackoff. */
export function backoffSeconds(retry: QueueSpec['retry'], failedAttempts: number): number {
  const n = failedAttempts - 1;
  const doubled = retry.minBackoffSeconds * 2 ** Math.min(n, retry.maxDoublings);
  const linear = n > retry.maxDoublings ? (n - retry.maxDoublings) * retry.minBackoffSeconds * 2 ** retry.maxDoublings : 0;
  return Math.min(doubled + linear, retry.maxBackoffSeconds);
}

export async function startTasksDispatcher(options: { port?: number; backoffScale?: number } = {}): Promise<TasksDispatcher> {
  const scale = options.backoffScale ?? 1;
  const tasks: RecordedTask[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let inFlight = 0;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  async function deliver(task: RecordedTask, spec: QueueSpec): Promise<void> {
    inFlight++;
    let status = 0;
    let retryAfter: number | undefined;
    try {
      const res = await fetch(task.url, {
        method: 'POST',
        headers: {
          ...task.headers,
          'X-CloudTasks-QueueName': task.queue,
          'X-CloudTasks-TaskName': task.name.split('/').pop()!,
          'X-CloudTasks-TaskRetryCount': String(task.attempts.length),
          'X-CloudTasks-TaskExecutionCount': String(task.attempts.filter((a) => a.status > 0 && a.status < 500).length),
          'X-CloudTasks-TaskETA': String(Date.now() / 1000),
        },
        body: task.body,
        signal: AbortSignal.timeout(600_000),
      });
      status = res.status;
      const ra = Number(res.headers.get('retry-after'));
      retryAfter = Number.isFinite(ra) && ra > 0 ? ra : undefined;
      await res.arrayBuffer();
    } catch {
      status = 0; // unreachable or timed out
    } finally {
      inFlight--;
    }
    task.attempts.push({ status, at: new Date().toISOString() });
    if (status >= 200 && status < 300) {
      task.state = 'succeeded';
    } else if (task.attempts.length >= spec.retry.maxAttempts) {
      task.state = 'failed';
    } else {
      const wait = Math.max(backoffSeconds(spec.retry, task.attempts.length), retryAfter ?? 0);
      later(wait * 1000 * scale, () => void deliver(task, spec));
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const m = /^\/v2\/projects\/([^/]+)\/locations\/([^/]+)\/queues\/([^/]+)\/tasks(?:\?.*)?$/.exec(req.url ?? '');
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    if (req.method !== 'POST' || !m) return send(404, { error: { code: 404, status: 'NOT_FOUND', message: `No route ${req.method} ${req.url}` } });
    const spec = byName.get(m[3]);
    if (!spec) return send(404, { error: { code: 404, status: 'NOT_FOUND', message: `Queue ${m[3]} does not exist` } });
    const { task } = JSON.parse(body || '{}') as { task?: TaskJson };
    if (!task?.httpRequest?.url) return send(400, { error: { code: 400, status: 'INVALID_ARGUMENT', message: 'task.httpRequest.url is required' } });
    const name = task.name ?? `projects/${m[1]}/locations/${m[2]}/queues/${m[3]}/tasks/${randomUUID()}`;
    if (tasks.some((t) => t.name === name)) {
      return send(409, { error: { code: 409, status: 'ALREADY_EXISTS', message: `Requested entity already exists: ${name}` } });
    }
    const recorded: RecordedTask = {
      name,
      queue: spec.name,
      url: task.httpRequest.url,
      body: Buffer.from(task.httpRequest.body ?? '', 'base64').toString('utf8'),
      headers: task.httpRequest.headers ?? {},
      oidcToken: task.httpRequest.oidcToken,
      createdAt: new Date().toISOString(),
      attempts: [],
      state: 'pending',
    };
    tasks.push(recorded);
    // A scheduled task waits in real time (polls, deadlines); `backoffScale` shrinks only retry backoff.
    const delay = task.scheduleTime ? Math.max(0, Date.parse(task.scheduleTime) - Date.now()) : 0;
    recorded.dueAt = Date.now() + delay;
    later(delay, () => void deliver(recorded, spec));
    send(200, { name, scheduleTime: task.scheduleTime ?? new Date().toISOString(), httpRequest: task.httpRequest });
  };

  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => void handle(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    tasks,
    idle: async (timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      const due = (t: RecordedTask) => t.state === 'pending' && (t.attempts.length > 0 || (t.dueAt ?? 0) <= Date.now() + 50);
      while (tasks.some(due) || inFlight > 0) {
        if (Date.now() > deadline) throw new Error('tasks still pending');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
