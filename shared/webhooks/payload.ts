/**
 * Webhook bodies: JSON, or form-encoded with the JSON in a `payload` field (Virtuoso's two
 * content types). Virtuoso's payload schema is only partly known, so any JSON object is accepted
 * and what is present is extracted for routing; the raw payload is always kept.
 */
import { unprocessable } from '../errors';
import { parseJsonObject } from '../json';

export const WEBHOOK_MEDIA_TYPES = ['application/json', 'application/x-www-form-urlencoded'] as const;

export function parseWebhookBody(rawBody: Buffer, mediaType: string | undefined): Record<string, unknown> {
  if (mediaType === 'application/x-www-form-urlencoded') {
    const payload = new URLSearchParams(rawBody.toString('utf8')).get('payload');
    if (payload === null) throw unprocessable("Form-encoded webhooks carry the JSON in a 'payload' field");
    return parseJsonObject(payload);
  }
  return parseJsonObject(rawBody);
}

export interface WebhookSummary {
  event?: string;
  executionId?: string;
  status?: string;
  projectId?: string;
  goalId?: string;
  journeyId?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Dotted paths, split once (the summary is taken on every delivery). */
const paths = (...dotted: string[]): readonly (readonly string[])[] => dotted.map((p) => p.split('.'));

/** The first value found at any of the paths, as a string (ids may be numbers). */
function pick(payload: Obj, candidates: readonly (readonly string[])[]): string | undefined {
  for (const path of candidates) {
    let v: unknown = payload;
    for (const part of path) v = isObj(v) ? v[part] : undefined;
    if (typeof v === 'string' && v.trim()) return v.trim().slice(0, 200);
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  }
  return undefined;
}

const SUMMARY_PATHS = {
  event: paths('event', 'eventType', 'event_type', 'type', 'action'),
  executionId: paths('executionId', 'jobId', 'job_id', 'execution_id', 'job.id', 'execution.id', 'item.jobId', 'item.id'),
  status: paths('status', 'state', 'executionStatus', 'job.status', 'execution.status', 'item.status'),
  projectId: paths('projectId', 'project_id', 'project.id', 'job.projectId', 'execution.projectId'),
  goalId: paths('goalId', 'goal_id', 'goal.id', 'job.goalId', 'execution.goalId'),
  journeyId: paths('journeyId', 'suiteId', 'testsuiteId', 'journey.id'),
} as const;

export function summarize(payload: Obj): WebhookSummary {
  const summary: Record<string, string> = {};
  for (const [field, candidates] of Object.entries(SUMMARY_PATHS)) {
    const v = pick(payload, candidates);
    if (v !== undefined) summary[field] = v;
  }
  return summary as WebhookSummary;
}
