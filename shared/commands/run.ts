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
import { badRequest, unprocessable } from '../errors';
import { virtuoso, VirtuosoApiError, virtuosoToAppError } from '../virtuoso';
import { resolveArgs, tokenize } from '../virtuoso/cli';
import { describeErrors, validator } from '../schemas';
import { COMMANDS, findCommand, type Command } from '../virtuoso/commands';
import { findStepCommand, stepFromCli, stepFromJson, type StepRequest } from '../virtuoso/step-commands';
import { APPEND, createStepBody } from '../virtuoso/steps';
import { takePosition } from './sessions';
import { argumentTags, answerTags, cachedRead, markWritten, ORG_TAG } from './read-cache';
import { recordStepOwner, stepOwners, stepOwnerWrite } from './step-claims';

export interface CommandInput {
  /** A CLI string (`step-interact click 123 "Login"`) or a command name (`step-interact.click`). */
  command: string;
  args?: Record<string, string | number | boolean>;
  checkpointId?: string | number;
  position?: number | 'last';
  sessionId?: string;
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

const NAME = /^[a-z][a-z-]*(\.[a-z][a-z-]*)*$/;
const BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));

/**
 * Whether a command only reads (a catalogue read command): running it again changes nothing, so
 * it needs no protection against being run twice.
 */
export function isReadCommand(input: CommandInput): boolean {
  return BY_NAME.get(commandName(input))?.read === true;
}

/** The catalogue name of the command an input asks for (for history and rate limits). */
export function commandName(input: CommandInput): string {
  if (NAME.test(input.command)) return input.command;
  const tokens = tokenize(input.command);
  return findStepCommand(tokens)?.command.name ?? findCommand(tokens)?.command.name ?? tokens.slice(0, 2).join('.');
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
): Promise<{ command: string; output: unknown; recordOwner: () => Promise<void>; ownerWrite?: AddWrite; createdStepId?: string }> {
  let created: string | undefined;
  const result = await runCommand(input, principal, { ...options, owner, onCreated: (id) => (created = id) });
  return {
    ...result,
    recordOwner: async () => (created ? recordStepOwner(created, owner, principal.tenantId) : undefined),
    ...(created ? { ownerWrite: stepOwnerWrite(created, owner, principal.tenantId), createdStepId: created } : {}),
  };
}

export async function runCommand(input: CommandInput, principal: Principal, options: RunOptions = {}): Promise<{ command: string; output: unknown }> {
  try {
    return await dispatch(input, principal, options);
  } catch (err) {
    throw err instanceof VirtuosoApiError ? virtuosoToAppError(err) : err;
  }
}

async function dispatch(input: CommandInput, principal: Principal, options: RunOptions): Promise<{ command: string; output: unknown }> {
  const structured = isStructured(input);
  const isStep = input.command.startsWith('step-');
  if (isStep) {
    const step = parseStep(input);
    let created: StepResult | undefined;
    try {
      created = await createStep(step, input.sessionId, principal, options);
      return { command: step.command, output: created };
    } finally {
      // Also when it failed: the step may exist all the same (a lost answer).
      const checkpointId = created?.checkpointId ?? step.checkpointId;
      await markWritten([...(checkpointId ? [`checkpoint:${checkpointId}`] : []), ...(created ? [`step:${created.id}`] : [])]);
    }
  }
  const ctx = { api: virtuoso(), organizationId: getConfig().virtuosoOrgId };
  let command: Command;
  let args: Record<string, string>;
  let flags: Record<string, string | true>;
  if (structured) {
    const found = BY_NAME.get(input.command);
    if (!found) throw badRequest(`Unknown command '${input.command}'`);
    command = found;
    const names = new Set(found.args.map((a) => a.name));
    args = {};
    flags = {};
    for (const [k, v] of Object.entries(input.args ?? {})) {
      if (names.has(k)) args[k] = String(v);
      else flags[k] = v === true ? true : String(v);
    }
    const missing = found.args.filter((a) => a.required !== false && args[a.name] === undefined).map((a) => a.name);
    if (missing.length) throw unprocessable(`Missing ${missing.join(', ')} for ${found.name}`);
  } else {
    const tokens = tokenize(input.command);
    const found = findCommand(tokens);
    if (!found) throw badRequest(`Unknown command '${tokens.slice(0, 2).join(' ')}'`);
    command = found.command;
    const r = resolveArgs(found.rest, { args: command.args, booleanFlags: command.booleanFlags });
    args = r.args;
    flags = r.flags;
  }
  // One schema per command (commands.ts) checks both forms alike: unknown flags, ids, URLs, numbers.
  const v = validator(command.schema);
  if (!v({ ...args, ...flags })) throw unprocessable(`Invalid arguments for ${command.path.join(' ')}`, describeErrors(v));
  const named = argumentTags({ ...args, ...flags });
  if (!command.read) {
    let output: unknown;
    try {
      output = await command.run(ctx, args, flags);
      return { command: command.name, output };
    } finally {
      // Also when it failed: the change may have been made all the same (a lost answer).
      await markWritten([...(command.args.length ? named.tags : [ORG_TAG, ...named.tags]), ...answerTags(output, named.lastKind)]);
    }
  }
  const key = cacheKeys.apiResponse(command.name, hash('sha256', JSON.stringify([principal.tenantId, args, flags]), 'hex').slice(0, 32));
  return { command: command.name, output: await cachedRead(key, named, () => command.run(ctx, args, flags)) };
}

/**
 * Fixes a step command's checkpoint and position from its session now (for queued work, so that a
 * retried attempt does not take a second position). Other commands are returned unchanged.
 */
export async function pinSession(input: CommandInput, principal: Principal): Promise<CommandInput> {
  if (!input.sessionId || !commandName(input).startsWith('step-')) return input;
  const step = parseStep(input);
  if (step.checkpointId !== undefined && step.position !== undefined) return { ...input, sessionId: undefined };
  if (step.checkpointId !== undefined) return { ...input, sessionId: undefined, position: 'last', checkpointId: step.checkpointId };
  const taken = await takePosition(principal, input.sessionId);
  return { ...input, sessionId: undefined, checkpointId: taken.checkpointId, position: step.position ?? taken.position };
}

/** A step command in either form → the step to create (body fields win over the CLI string). */
function parseStep(input: CommandInput): StepRequest {
  return isStructured(input)
    ? stepFromJson({ command: input.command, checkpointId: input.checkpointId, args: input.args, position: input.position })
    : withOverrides(stepFromCli(tokenize(input.command)), input);
}

const isStructured = (input: CommandInput) => NAME.test(input.command) && !input.command.includes(' ');

/** Body fields override what the CLI string said (an explicit checkpoint or position wins). */
function withOverrides(step: StepRequest, input: CommandInput): StepRequest {
  return {
    ...step,
    ...(input.checkpointId !== undefined ? { checkpointId: String(input.checkpointId).replace(/^cp_/, '') } : {}),
    ...(input.position !== undefined ? { position: input.position } : {}),
  };
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
