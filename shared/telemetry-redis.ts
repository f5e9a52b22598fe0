/**
 * Redis spans from node-redis's own instrumentation: the client publishes every command on the
 * `node-redis:command` diagnostics TracingChannel (a no-op while nobody subscribes), with its name,
 * database and server. Subscribed only when tracing is on (shared/telemetry-sdk.ts). A span per
 * command, named after it (`GET`, `MGET`, `INCR`), attributes per the database semantic
 * conventions; the command's arguments (keys hold session ids and key hashes) are left out.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import type { Span, Tracer } from '@opentelemetry/api';

/** What node-redis publishes for a command (@redis/client, lib/client/index.js `#commandTraceContext`). */
interface CommandContext {
  command?: string;
  database?: number;
  serverAddress?: string;
  serverPort?: number;
  error?: unknown;
}

export const REDIS_COMMAND_CHANNEL = 'node-redis:command';

export function subscribeRedisCommands(api: typeof import('@opentelemetry/api'), tracer: Tracer): () => void {
  const channel = tracingChannel<unknown, CommandContext>(REDIS_COMMAND_CHANNEL);
  const spans = new WeakMap<object, Span>();
  const finish = (ctx: CommandContext) => {
    const span = spans.get(ctx);
    if (!span) return;
    spans.delete(ctx);
    if (ctx.error !== undefined) {
      const e = ctx.error as { name?: unknown; message?: unknown };
      span.setAttribute('error.type', typeof e?.name === 'string' ? e.name : 'Error');
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: typeof e?.message === 'string' ? e.message.slice(0, 200) : undefined });
    }
    span.end();
  };
  const handlers = {
    // Published synchronously inside the caller's `sendCommand`: the active context is the caller's.
    start(ctx: CommandContext) {
      const command = String(ctx.command ?? 'COMMAND');
      const span = tracer.startSpan(command, {
        kind: api.SpanKind.CLIENT,
        attributes: {
          'db.system.name': 'redis',
          'db.operation.name': command,
          ...(ctx.database === undefined ? {} : { 'db.namespace': String(ctx.database) }),
          ...(ctx.serverAddress ? { 'server.address': ctx.serverAddress } : {}),
          ...(ctx.serverPort ? { 'server.port': ctx.serverPort } : {}),
        },
      });
      spans.set(ctx, span);
    },
    // `end` follows the synchronous part; with an error there, nothing asynchronous follows.
    end(ctx: CommandContext) {
      if (ctx.error !== undefined) finish(ctx);
    },
    asyncStart() {},
    asyncEnd: finish,
    error() {},
  };
  channel.subscribe(handlers);
  return () => channel.unsubscribe(handlers);
}
