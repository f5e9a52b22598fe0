/**
 * Runs one command — CLI string or structured JSON — against Virtuoso: step commands through the
 * step catalogue (checkpoint and position from the input or the session), the others through the
 * command catalogue. Virtuoso's refusals are mapped into the taxonomy once (virtuosoToAppError).
 * Read commands are served from `api:response:{command}:{paramsHash}` for 5 minutes, unless a write
 * through this API touched what they read since (read-cache.ts).
 */
import { hash } from 'node:crypto';
import type { Principal } from '../auth';
import type { AddWrite } from '../firestore';
import { cacheKeys } from '../cache';
import { getConfig } from '../config';
import { unprocessable } from '../errors';
import { virtuoso, VirtuosoApiError, virtuosoToAppError } from '../virtuoso';
import { Noted, type CommandContext, type TestRunPort } from '../virtuoso/commands';
import type { StepRequest } from '../virtuoso/step-commands';
import { APPEND, createStepBody } from '../virtuoso/steps';
import { parseDefinition } from '../testruns/definition';
import { queueRun, runIdFor } from '../testruns/submit';
import { commandName, parseCommand, type CommandInput } from './parse';
import { argumentTags, answerTags, cachedRead, markWritten, ORG_TAG } from './read-cache';
import { takePosition } from './sessions';
import { recordStepOwner, stepOwners, stepOwnerWrite } from './step-claims';

export { commandName, type CommandInput };

/**
 * Whether a command only reads (a catalogue read command, or a command's help): running it again
 * changes nothing, so it needs no protection against being run twice. A command that cannot be
 * read is not one (it is refused before anything runs anyway).
 */
export function isReadCommand(input: CommandInput): boolean {
  try {
    const parsed = parseCommand(input);
    return parsed.kind === 'help' || (parsed.kind === 'command' && parsed.command.read === true);
  } catch {
    return false;
  }
}

export interface StepResult {
  id: string;
  checkpointId: string;
  type: string;
  position: number | 'last';
  selector?: string;
  value?: string;
  meta?: Record<string, unknown>;
}

export interface RunOptions {
  /** Who creates steps (a command id, `id#index` in a batch): recorded with every step created. */
  owner?: string;
  /**
   * For work that may be attempted more than once (queued commands): before creating a step, the
   * ids of the identical steps already in the checkpoint are remembered. A later attempt adopts a
   * new identical step only if it is its own (recorded owner) or has no owner recorded (created,
   * then the answer was lost) — never one another command created — so a crash or a timed-out
   * answer neither duplicates a step nor loses one.
   */
  stepGuard?: { before?: string[]; remember(ids: string[]): Promise<void> };
  /** Told the id of each step this command created (not adopted). */
  onCreated?: (stepId: string) => void;
}

/**
 * Runs a command and gives the owner record of any step it created, for the caller to write with
 * its own writes: `ownerWrite` to add to the caller's batch (the sync path: one commit for the
 * history and the owner), or `recordOwner` to write it on its own.
 */
export async function runOwned(
  input: CommandInput,
  principal: Principal,
  owner: string,
  options: Omit<RunOptions, 'owner' | 'onCreated'> = {},
): Promise<{ command: string; output: unknown; notes?: string[]; recordOwner: () => Promise<void>; ownerWrite?: AddWrite; createdStepId?: string }> {
  let created: string | undefined;
  const result = await runCommand(input, principal, { ...options, owner, onCreated: (id) => (created = id) });
  return {
    ...result,
    recordOwner: async () => (created ? recordStepOwner(created, owner, principal.tenantId) : undefined),
    ...(created ? { ownerWrite: stepOwnerWrite(created, owner, principal.tenantId), createdStepId: created } : {}),
  };
}

/** What a command answered: its catalogue name, its output, and what was accepted without effect. */
export interface Ran {
  command: string;
  output: unknown;
  notes?: string[];
}

export async function runCommand(input: CommandInput, principal: Principal, options: RunOptions = {}): Promise<Ran> {
  try {
    return await dispatch(input, principal, options);
  } catch (err) {
    throw err instanceof VirtuosoApiError ? virtuosoToAppError(err) : err;
  }
}

/**
 * Starts test runs for the commands that do (run-test, yaml run), as the caller's tenant. Each run's
 * id comes from the command (its owner id) and the run's place among the command's runs, so a
 * retried attempt of a queued command finds the runs an earlier attempt started instead of
 * starting them again.
 */
function testRunPort(principal: Principal, owner: string | undefined): TestRunPort {
  let n = 0;
  return {
    async queue(source, o) {
      const def = parseDefinition(source, { variables: o.variables, projectName: o.projectName });
      const id = owner ? runIdFor(principal.tenantId, `${owner}#run${n++}`) : undefined;
      const run = await queueRun(principal, def, { execute: o.execute, variables: o.variables, ...(id ? { id } : {}) });
      return { id: run.id, name: run.name, status: run.status, statusUrl: `/test-runs/${run.id}`, totals: run.totals };
    },
  };
}

async function dispatch(input: CommandInput, principal: Principal, options: RunOptions): Promise<Ran> {
  const parsed = parseCommand(input);
  const notes = (more: readonly string[] = []) => (parsed.notes.length || more.length ? { notes: [...parsed.notes, ...more] } : {});
  if (parsed.kind === 'help') return { command: parsed.name, output: parsed.help, ...notes() };
  if (parsed.kind === 'step') {
    const step = parsed.step;
    let created: StepResult | undefined;
    try {
      created = await createStep(step, input.sessionId, principal, options);
      return { command: parsed.name, output: created, ...notes() };
    } finally {
      // Also when it failed: the step may exist all the same (a lost answer).
      const checkpointId = created?.checkpointId ?? step.checkpointId;
      await markWritten([...(checkpointId ? [`checkpoint:${checkpointId}`] : []), ...(created ? [`step:${created.id}`] : [])]);
    }
  }
  const { command, args, flags } = parsed;
  const config = getConfig();
  const ctx: CommandContext = {
    api: virtuoso(), organizationId: config.virtuosoOrgId, baseUrl: config.virtuosoBaseUrl,
    files: input.files, stdin: input.stdin, testRuns: testRunPort(principal, options.owner),
  };
  const run = async () => {
    const out = await command.run(ctx, args, flags);
    return out instanceof Noted ? { output: out.output, notes: [...out.notes] } : { output: out, notes: [] };
  };
  const named = argumentTags({ ...args, ...flags });
  if (!command.read) {
    let output: unknown;
    try {
      const r = await run();
      output = r.output;
      return { command: command.name, output: r.output, ...notes(r.notes) };
    } finally {
      // Also when it failed: the change may have been made all the same (a lost answer).
      await markWritten([...(command.args.length ? named.tags : [ORG_TAG, ...named.tags]), ...answerTags(output, named.lastKind)]);
    }
  }
  // 'v2': the cached value is {output, notes} (an entry of the earlier shape is not read as one).
  const key = cacheKeys.apiResponse(command.name, hash('sha256', JSON.stringify(['v2', principal.tenantId, args, flags]), 'hex').slice(0, 32));
  const r = await cachedRead(key, named, run, (v) => v.output);
  return { command: command.name, output: r.output, ...notes(r.notes) };
}

/**
 * Fixes a step command's checkpoint and position from its session now (for queued work, so that a
 * retried attempt does not take a second position). Other commands are returned unchanged.
 */
export async function pinSession(input: CommandInput, principal: Principal): Promise<CommandInput> {
  if (!input.sessionId || !isStepInput(input)) return input;
  const step = parseStep(input);
  if (step.checkpointId !== undefined && step.position !== undefined) return { ...input, sessionId: undefined };
  if (step.checkpointId !== undefined) return { ...input, sessionId: undefined, position: 'last', checkpointId: step.checkpointId };
  const taken = await takePosition(principal, input.sessionId);
  return { ...input, sessionId: undefined, checkpointId: taken.checkpointId, position: step.position ?? taken.position };
}

/** Whether the input is a step command that reads (one that does not is left for its run to refuse). */
function isStepInput(input: CommandInput): boolean {
  try {
    return parseCommand(input).kind === 'step';
  } catch {
    return false;
  }
}

/** A step command in either form → the step to create (body fields win over the CLI string). */
function parseStep(input: CommandInput): StepRequest {
  const parsed = parseCommand(input);
  if (parsed.kind !== 'step') throw unprocessable(`${parsed.name} is not a step command`);
  return parsed.step;
}

interface ExistingStep {
  id: number | string;
  action?: string;
  value?: string;
  target?: unknown;
  meta?: unknown;
}

/** The ids of the checkpoint's steps identical to the one about to be created, in order. */
async function identicalSteps(checkpointId: string, step: StepRequest): Promise<string[]> {
  const cp = await virtuoso().item<{ steps?: ExistingStep[] }>('GET', `/testcases/${checkpointId}`);
  const want = step.parsedStep;
  const same = (s: ExistingStep) =>
    s.action === want.action && (s.value ?? '') === want.value && JSON.stringify(s.target ?? null) === JSON.stringify(want.target ?? null);
  return (cp.steps ?? []).filter(same).map((s) => String(s.id));
}

async function createStep(step: StepRequest, sessionId: string | undefined, principal: Principal, options: RunOptions): Promise<StepResult> {
  const guard = options.stepGuard;
  let checkpointId = step.checkpointId;
  let position = step.position;
  if (sessionId && (checkpointId === undefined || position === undefined)) {
    if (checkpointId === undefined) {
      const taken = await takePosition(principal, sessionId);
      checkpointId = taken.checkpointId;
      position ??= taken.position;
    } else {
      position ??= 'last';
    }
  }
  if (checkpointId === undefined) throw unprocessable('No checkpoint: give one (checkpointId, or in the command) or use a session (sessionId)');
  const stepIndex = position === undefined || position === 'last' ? APPEND : position - 1;
  let existing: string | undefined;
  if (guard) {
    const identical = await identicalSteps(checkpointId, step);
    if (guard.before === undefined) {
      await guard.remember(identical);
    } else {
      const fresh = identical.filter((id) => !guard.before!.includes(id));
      const owners = await stepOwners(fresh);
      existing = fresh.filter((id) => owners.get(id) === options.owner).at(-1) ?? fresh.filter((id) => !owners.has(id)).at(-1);
    }
  }
  const created = existing
    ? { testStep: { id: existing } }
    : await virtuoso().item<{ testStep: { id: number | string } }>('POST', '/teststeps', { body: createStepBody(checkpointId, step.parsedStep, stepIndex) });
  // The caller records the new step's owner (recordOwner) alongside its own writes.
  if (!existing) options.onCreated?.(String(created.testStep.id));
  const clue = step.parsedStep.target ? (JSON.parse(step.parsedStep.target.selectors[0].value) as { clue: string }).clue : undefined;
  return {
    id: String(created.testStep.id),
    checkpointId,
    type: step.parsedStep.action,
    position: position ?? 'last',
    ...(clue !== undefined ? { selector: clue } : {}),
    ...(step.parsedStep.value ? { value: step.parsedStep.value } : {}),
    meta: step.parsedStep.meta,
  };
}
