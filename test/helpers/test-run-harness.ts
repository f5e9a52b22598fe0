/**
 * A harness for unit tests of a test run's build (shared/testruns/build.ts and operations.ts): an
 * in-memory Virtuoso (in-memory-virtuoso.ts), a recorder that keeps the run's document in memory
 * (what a resumed attempt reads back), claims in a map, and a logger that keeps what it was told.
 */
import assert from 'node:assert/strict';
import type { AppError } from '../../shared/errors';
import { Logger, type Fields } from '../../shared/log';
import { buildRun, type BuildInput, type BuildResult } from '../../shared/testruns/build';
import { parseDefinition, type TestDefinition } from '../../shared/testruns/definition';
import { buildPlan, type Plan } from '../../shared/testruns/plan';
import { recordedIds } from '../../shared/testruns/store';
import { valuesOf } from '../../shared/testruns/recorder';
import { InMemoryVirtuoso, timeout } from './in-memory-virtuoso';

export const ORG = 2242;

/** One goal: a reused first journey (navigation checkpoint with two steps, then Cart with two) and a second journey. */
export function definition(options: Record<string, unknown> = {}): TestDefinition {
  return parseDefinition({
    name: 'Run',
    project: 'Shop',
    options,
    goals: [
      {
        name: 'Store',
        url: 'https://shop.example.com',
        journeys: [
          {
            name: 'Buy',
            checkpoints: [
              { name: 'Home', steps: [{ click: 'Login' }, { key: 'Enter' }] },
              { name: 'Cart', steps: [{ click: 'Add' }, { key: 'Tab' }] },
            ],
          },
          { name: 'Search', checkpoints: [{ name: 'Find', steps: [{ key: 'Enter' }] }] },
        ],
      },
    ],
  });
}

/** Resolves to `p`'s value, or to 'still waiting' after `ms`. */
export async function within<T>(ms: number, p: Promise<T>): Promise<T | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The run's Firestore document, kept in memory: what a resumed attempt reads back. */
export class MemoryRecorder {
  doc: Record<string, unknown> = {};
  /** What the last flush made durable. */
  durable: Record<string, unknown> = {};
  abandoned = false;
  set(fields: Record<string, unknown>): void {
    if (!this.abandoned) Object.assign(this.doc, valuesOf({ ...fields }));
  }
  async flush(): Promise<void> {
    this.durable = { ...this.doc };
  }
  abandon(): void {
    this.abandoned = true;
  }
  /** What store.ts's recordedIds reads from the document: `ids.<key>` fields and `steps.<checkpoint>` lists. */
  ids(): Record<string, string> {
    const ids: Record<string, string> = {};
    const steps: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.doc)) {
      if (k.startsWith('ids.')) ids[k.slice(4)] = v as string;
      if (k.startsWith('steps.')) steps[k.slice(6)] = v as string;
    }
    return recordedIds({ ids, steps });
  }
  refused(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.doc).filter(([k]) => k.startsWith('refused.')).map(([k, v]) => [k.slice(8), v as string]));
  }
  executeSentAt(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.doc).filter(([k]) => k.startsWith('executeSentAt.')).map(([k, v]) => [k.slice(14), v as string]));
  }
}

/** A logger that keeps its entries instead of writing them. */
export class RecordingLogger extends Logger {
  readonly entries: { level: 'debug' | 'info' | 'warn' | 'error'; message: string; fields?: Fields }[] = [];
  override debug(message: string, fields?: Fields): void {
    this.entries.push({ level: 'debug', message, fields });
  }
  override info(message: string, fields?: Fields): void {
    this.entries.push({ level: 'info', message, fields });
  }
  override warn(message: string, fields?: Fields): void {
    this.entries.push({ level: 'warn', message, fields });
  }
  override error(message: string, fields?: Fields): void {
    this.entries.push({ level: 'error', message, fields });
  }
}

export interface Harness {
  api: InMemoryVirtuoso;
  recorder: MemoryRecorder;
  /** What the attempts logged. */
  log: RecordingLogger;
  claims: Map<string, string>;
  def: TestDefinition;
  plan: Plan;
  /** One attempt; a later one resumes from what the recorder holds. */
  attempt(overrides?: Partial<BuildInput>): Promise<BuildResult>;
}

const harnesses: InMemoryVirtuoso[] = [];

/** Closes the in-memory Virtuosos of the harnesses made so far (an afterEach). */
export function closeHarnesses(): void {
  for (const api of harnesses.splice(0)) api.close();
}

export function harness(def = definition(), execute = true): Harness {
  const api = new InMemoryVirtuoso();
  harnesses.push(api);
  const recorder = new MemoryRecorder();
  const claims = new Map<string, string>();
  const plan = buildPlan(def, { execute });
  const log = new RecordingLogger();
  let attempts = 0;
  return {
    api, recorder, log, claims, def, plan,
    attempt(overrides = {}) {
      attempts++;
      return buildRun({
        runId: 'run-1', def, plan, api, orgId: ORG,
        ids: recorder.ids(), refused: recorder.refused(), executeSentAt: recorder.executeSentAt(),
        resume: attempts > 1, recorder,
        // claims.ts: the first run to claim a goal owns it.
        claimGoal: async (goalId, runId) => (claims.get(goalId) ?? claims.set(goalId, runId).get(goalId)) === runId,
        concurrency: 4, stopReason: () => undefined, beforeExecute: async () => undefined,
        log,
        ...overrides,
      });
    },
  };
}

/** What Virtuoso holds for the project: goal names, and per journey its checkpoints (title: step actions). */
export function built(api: InMemoryVirtuoso) {
  const s = api.state;
  return {
    projects: [...s.projects.values()].map((p) => p.name),
    goals: [...s.goals.values()].map((g) => g.name),
    journeys: [...s.journeys.values()].map((j) => ({
      title: j.title,
      checkpoints: j.caseIds.map((id) => {
        const c = s.checkpoint(id);
        return `${c.title}: ${c.stepIds.map((sid) => s.step(sid).action).join(' ')}`;
      }),
    })),
  };
}

export const EXPECTED_BUILD = {
  projects: ['Shop'],
  goals: ['Store'],
  journeys: [
    { title: 'Buy', checkpoints: ['Navigation: NAVIGATE CLICK KEY', 'Cart: CLICK KEY'] },
    { title: 'Search', checkpoints: ['Navigation: NAVIGATE CLICK KEY', 'Find: KEY'] },
  ],
};

export async function rejected(p: Promise<unknown>): Promise<AppError | Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the build to fail');
}

/**
 * First attempt: the answer of the `nth` `call` is lost (Virtuoso acted); `between` runs; the
 * second attempt resumes and must finish, with every id in the document.
 */
export async function lostAnswer(call: string, { nth = 1, h = harness(), between }: { nth?: number; h?: Harness; between?: () => void } = {}) {
  let seen = 0;
  h.api.after = (c) => {
    if (c === call && ++seen === nth) throw timeout(c);
  };
  await rejected(h.attempt({ concurrency: 1 }));
  assert.ok(seen >= nth, `${call} was made ${nth} times`);
  between?.();
  const firstAttempt = h.api.calls.length;
  const result = await h.attempt({ concurrency: 1 });
  assert.equal(result.outcome, 'done');
  const ids = (result as { ids: Record<string, string> }).ids;
  assert.deepEqual(h.recorder.ids(), ids, 'the document holds every id, read back as keyed');
  return { h, ids, resumed: h.api.calls.slice(firstAttempt) };
}
