/**
 * Cloud Tasks: enqueueing work for the private workers with the real `@google-cloud/tasks` client.
 * Task names are hashes (sequential names slow every queue; a name is deduped for about an hour),
 * so enqueueing the same work twice creates one task. In production the task carries an OIDC token
 * of the invoker service account; locally the client talks REST to the local dispatcher
 * (CLOUD_TASKS_ENDPOINT), which delivers with Cloud Tasks' headers and the queue's retry settings.
 */
import { hash } from 'node:crypto';
import type { CloudTasksClient } from '@google-cloud/tasks';
import { getConfig } from './config';
import { withDeadline } from './deadline';
import { dependencyError, unavailable } from './errors';
import { queues } from './infra';
import { standInOptions } from './stand-in';
import { traced, type SpanSpec } from './telemetry';
import { traceHeaders } from './trace';

let client: CloudTasksClient | undefined;

function tasksClient(): CloudTasksClient {
  if (!client) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { CloudTasksClient: Client } = require('@google-cloud/tasks') as typeof import('@google-cloud/tasks');
    const endpoint = getConfig().cloudTasksEndpoint;
    if (endpoint) {
      client = new Client(standInOptions(endpoint) as ConstructorParameters<typeof Client>[0]);
    } else {
      client = new Client();
    }
  }
  return client;
}

/** `sha256` of the parts: the task's name within its queue. */
export const taskId = (...parts: string[]) => hash('sha256', parts.join('|'), 'hex');
const ALREADY_EXISTS = 6;
const HTTP_CONFLICT = 409;

export interface EnqueueOptions {
  queue: keyof typeof queues;
  /** Hash of what makes this work unique (e.g. tenant and command id). */
  id: string;
  url: string;
  body: unknown;
  delaySeconds?: number;
  /** How long the worker may take per attempt (Cloud Tasks: 15 s – 30 min). */
  dispatchDeadlineSeconds?: number;
}

/**
 * Creates the task; an existing task of the same name counts as enqueued. Returns its full name.
 * Answers within DEPENDENCY_DEADLINE_MS or fails `unavailable`; a create given up may still land,
 * which the workers tolerate (a task for work that is gone, or done, is acknowledged and ignored).
 */
export async function enqueueTask(options: EnqueueOptions): Promise<string> {
  const { projectId, region, tasksRegion, tasksInvokerServiceAccount, dependencyDeadlineMs } = getConfig();
  const parent = `projects/${projectId}/locations/${tasksRegion ?? region}/queues/${queues[options.queue].name}`;
  const name = `${parent}/tasks/${options.id}`;
  await traced(() => createTaskSpan(options.queue, options.id), async () => {
    try {
      const created = tasksClient().createTask({
        parent,
        task: {
          name,
          httpRequest: {
            httpMethod: 'POST',
            url: options.url,
            // The trace goes on to the worker (shared/trace.ts).
            headers: { 'Content-Type': 'application/json', ...traceHeaders() },
            body: Buffer.from(JSON.stringify(options.body)),
            ...(tasksInvokerServiceAccount ? { oidcToken: { serviceAccountEmail: tasksInvokerServiceAccount, audience: new URL(options.url).origin } } : {}),
          },
          ...(options.delaySeconds ? { scheduleTime: { seconds: Math.floor(Date.now() / 1000) + options.delaySeconds } } : {}),
          dispatchDeadline: { seconds: options.dispatchDeadlineSeconds ?? 600 },
        },
      }, { timeout: dependencyDeadlineMs });
      await withDeadline(created, dependencyDeadlineMs, () => unavailable(`Cloud Tasks did not answer within ${dependencyDeadlineMs} ms`, 5));
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== ALREADY_EXISTS && code !== HTTP_CONFLICT) throw dependencyError('Cloud Tasks', err);
    }
  });
  return name;
}

/** A producer span per createTask (RPC attributes; the task's name is a hash, no secret). */
function createTaskSpan(queue: keyof typeof queues, id: string): SpanSpec {
  const endpoint = getConfig().cloudTasksEndpoint;
  return {
    name: 'google.cloud.tasks.v2.CloudTasks/CreateTask',
    kind: 'producer',
    attributes: {
      'rpc.system': endpoint ? 'http' : 'grpc',
      'rpc.service': 'google.cloud.tasks.v2.CloudTasks',
      'rpc.method': 'CreateTask',
      'server.address': endpoint ? new URL(endpoint).hostname : 'cloudtasks.googleapis.com',
      'messaging.destination.name': queues[queue].name,
      'gcp.cloud_tasks.task.id': id,
    },
  };
}
