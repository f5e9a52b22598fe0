/**
 * An ordered batch of commands, run one after another by the one runner both paths share: the
 * synchronous `POST /commands/batch` and the queued batch in commandWorker. Each item's result is
 * appended to `results` as it is known (so a caller that has to stop still holds what was done);
 * after a failure the rest are `skipped` unless `stopOnError` is false. Items already in
 * `results` (an earlier attempt's progress) are not run again.
 */
import type { CommandRecord } from './history';
import { commandName, type CommandInput } from './run';

export interface BatchInput {
  commands: CommandInput[];
  stopOnError?: boolean;
}

export interface BatchItemResult {
  index: number;
  command: string;
  /** The item's own history record (synchronous batches record each command). */
  id?: string;
  status: 'succeeded' | 'failed' | 'skipped';
  output?: unknown;
  /** What the command accepted without effect (a flag the original CLI ignored, a default it applied). */
  notes?: string[];
  error?: NonNullable<CommandRecord['error']>;
}

export interface BatchOutput {
  status: 'succeeded' | 'partial' | 'failed';
  results: BatchItemResult[];
}

export interface BatchSteps {
  /** Runs one item to its result (a failure is a `failed` result); throwing stops the batch there. */
  run(item: CommandInput, index: number): Promise<BatchItemResult>;
  /** After each result (skipped ones included): progress to record. Throwing stops the batch. */
  after?(results: readonly BatchItemResult[]): Promise<void>;
}

/** Runs the items after those in `results`, appending each result; returns the batch's outcome. */
export async function runOrderedBatch(input: BatchInput, results: BatchItemResult[], steps: BatchSteps): Promise<BatchOutput> {
  const stopOnError = input.stopOnError !== false;
  let failed = results.some((r) => r.status === 'failed');
  for (let index = results.length; index < input.commands.length; index++) {
    const item = input.commands[index];
    const result: BatchItemResult = failed && stopOnError ? { index, command: commandName(item), status: 'skipped' } : await steps.run(item, index);
    results.push(result);
    failed ||= result.status === 'failed';
    await steps.after?.(results);
  }
  return batchOutput(results);
}

export function batchOutput(results: BatchItemResult[]): BatchOutput {
  const failed = results.some((r) => r.status === 'failed');
  const ok = results.some((r) => r.status === 'succeeded');
  return { status: !failed ? 'succeeded' : ok ? 'partial' : 'failed', results };
}
