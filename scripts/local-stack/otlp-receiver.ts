/**
 * A local OTLP/HTTP traces receiver: records every export request (`POST /v1/traces`, the JSON
 * encoding `@opentelemetry/exporter-trace-otlp-http` sends) and answers success, so tests and the
 * bench can point TRACE_EXPORTER=otlp at it (TRACE_OTLP_ENDPOINT=<url>/v1/traces) and read the
 * spans a function exported.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An OTLP `AnyValue` in JSON. */
type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
interface KeyValue {
  key: string;
  value: AnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: KeyValue[];
  status?: { code?: number; message?: string };
}
interface ExportRequest {
  resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[] }[];
}

/** One exported span, flattened. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  scope: string;
  resource: Record<string, string | number | boolean>;
}

export interface ExportRecord {
  headers: Record<string, string | string[] | undefined>;
  body: ExportRequest;
}

export interface OtlpReceiver {
  url: string;
  /** The traces endpoint, for TRACE_OTLP_ENDPOINT. */
  tracesUrl: string;
  requests: ExportRecord[];
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

const valueOf = (v: AnyValue): string | number | boolean =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue ?? '';
const flatten = (kvs: KeyValue[] = []) => Object.fromEntries(kvs.map((kv) => [kv.key, valueOf(kv.value)]));

export async function startOtlpReceiver(port = 0): Promise<OtlpReceiver> {
  const requests: ExportRecord[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      try {
        requests.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportRequest });
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"this receiver takes the JSON encoding only"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    tracesUrl: `${url}/v1/traces`,
    requests,
    spans: () =>
      requests.flatMap(({ body }) =>
        (body.resourceSpans ?? []).flatMap((rs) =>
          (rs.scopeSpans ?? []).flatMap((ss) =>
            (ss.spans ?? []).map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              kind: s.kind,
              attributes: flatten(s.attributes),
              statusCode: s.status?.code ?? 0,
              scope: ss.scope?.name ?? '',
              resource: flatten(rs.resource?.attributes),
            })),
          ),
        ),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
