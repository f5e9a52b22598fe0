/**
 * The CLI's output formats (VIRTUOSO_API.md §2.1), for a command's answer: `json` (the record as
 * is), `yaml`, `human` (short text for people), and `ai` (JSON for assistants: command, result,
 * message, step_details, context, next_steps).
 */

import { isPlainObject } from '../json';
import { yaml } from '../yaml';
import { OUTPUT_FORMATS, type OutputFormat } from './cli';

export { OUTPUT_FORMATS, type OutputFormat };

export interface Answer {
  id: string;
  status: string;
  command: string;
  output?: unknown;
  /** Flags accepted without effect, and why. */
  notes?: string[];
  error?: { code: string; message: string; status: number };
}

export interface Rendered {
  contentType: string;
  text: string;
}

type Obj = Record<string, unknown>;

function isStep(out: unknown): out is Obj & { id: string; type: string; checkpointId: string; position: unknown } {
  return isPlainObject(out) && typeof out.type === 'string' && 'checkpointId' in out;
}

/** A one-line summary for people. */
export function message(a: Answer): string {
  if (a.status === 'failed') return `${a.command} failed: ${a.error?.message ?? 'unknown error'}`;
  if (a.status === 'queued' || a.status === 'running') return `${a.command} is ${a.status} (command ${a.id})`;
  const out = a.output;
  if (isStep(out)) {
    return `Created ${out.type} step ${out.id} at position ${String(out.position)} in checkpoint ${out.checkpointId}${out.selector ? ` (selector: ${String(out.selector)})` : ''}`;
  }
  if (Array.isArray(out)) return `${out.length} result(s)`;
  if (isPlainObject(out) && out.status === 'partial') return `${a.command} partly done: ${String(out.error ?? '')}`;
  return `${a.command} succeeded`;
}

/** What a user usually does next, in CLI form. */
function nextSteps(a: Answer): string[] {
  const o = isPlainObject(a.output) ? a.output : {};
  switch (a.command) {
    case 'create-project':
      return [`create-goal ${String(o.project_id)} "<goal name>" --url <starting url>`];
    case 'create-goal':
      return [`list-journeys ${String(o.goal_id)} ${String(o.snapshot_id)}`, `create-journey ${String(o.goal_id)} ${String(o.snapshot_id)} "<journey name>"`];
    case 'create-journey':
      return [`create-checkpoint ${String(o.journey_id)} ${String(o.goal_id)} <snapshot id> "<checkpoint name>"`];
    case 'create-checkpoint':
      return [`step-navigate to ${String(o.checkpoint_id)} <url>`, `step-interact click ${String(o.checkpoint_id)} "<element>"`];
    default:
      return isStep(a.output) ? [`list-checkpoint-steps ${a.output.checkpointId}`] : [];
  }
}

function human(a: Answer): string {
  const lines = [message(a), ...(a.notes ?? []).map((n) => `  note: ${n}`)];
  const out = a.output;
  if (Array.isArray(out)) {
    for (const row of out) lines.push(`  ${isPlainObject(row) ? Object.values(row).map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join('  ') : String(row)}`);
  } else if (isPlainObject(out) && !isStep(out)) {
    for (const [k, v] of Object.entries(out)) if (k !== 'status') lines.push(`  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
  return `${lines.join('\n')}\n`;
}

function ai(a: Answer): Obj {
  const out = a.output;
  return {
    command: a.command,
    result: a.status === 'succeeded' ? 'success' : a.status === 'failed' ? 'error' : a.status,
    message: message(a),
    ...(isStep(out)
      ? {
          step_details: { id: out.id, type: out.type, position: out.position, selector: out.selector, meta: out.meta },
          context: { checkpoint_id: out.checkpointId, position: out.position },
        }
      : { data: out ?? null }),
    ...(a.error ? { error: a.error } : {}),
    ...(a.notes?.length ? { notes: a.notes } : {}),
    next_steps: nextSteps(a),
  };
}

export function render(a: Answer, format: OutputFormat): Rendered {
  switch (format) {
    case 'yaml':
      return { contentType: 'application/yaml; charset=utf-8', text: yaml().stringify(a) };
    case 'human':
      return { contentType: 'text/plain; charset=utf-8', text: human(a) };
    case 'ai':
      return { contentType: 'application/json; charset=utf-8', text: JSON.stringify(ai(a)) };
    default:
      return { contentType: 'application/json; charset=utf-8', text: JSON.stringify(a) };
  }
}
