/**
 * A run's progress while `api-cli` waits: on a terminal a live line (spinner, bar, counts, elapsed
 * time) redrawn in place; anywhere else (a CI log) one plain line per change, so logs stay short
 * and readable.
 */
import type { TestRun } from './api-types';

export interface Out {
  write(text: string): unknown;
  columns?: number;
}

export interface Progress {
  update(run: TestRun): void;
  /** Clears the live line (before printing something else, e.g. a question). */
  pause(): void;
  /** Ends the live line; nothing is drawn after. */
  done(): void;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function elapsed(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function counts(run: TestRun): string {
  const p = run.progress;
  return `${p.operationsDone}/${p.operationsTotal} operations, ${p.stepsCreated}/${p.stepsTotal} steps`;
}

function phase(run: TestRun): string {
  if (run.status === 'executing') return 'executing in Virtuoso';
  return run.status;
}

/** A live line on a terminal. */
export function liveProgress(out: Out, started = Date.now()): Progress {
  let last: TestRun | undefined;
  let frame = 0;
  let ended = false;
  const draw = () => {
    if (!last || ended) return;
    const p = last.progress;
    const width = Math.max(10, Math.min(30, (out.columns ?? 80) - 70));
    const ratio = p.operationsTotal ? p.operationsDone / p.operationsTotal : 0;
    const fill = Math.round(ratio * width);
    const bar = `${'█'.repeat(fill)}${'░'.repeat(width - fill)}`;
    const line = `${SPINNER[frame++ % SPINNER.length]} ${phase(last)} ${bar} ${counts(last)} · ${elapsed(Date.now() - started)}`;
    out.write(`\r\x1b[2K${line.slice(0, Math.max(20, (out.columns ?? 120) - 1))}`);
  };
  const timer = setInterval(draw, 125);
  timer.unref();
  return {
    update(run) {
      last = run;
      draw();
    },
    pause() {
      out.write('\r\x1b[2K');
    },
    done() {
      if (ended) return;
      draw();
      ended = true;
      clearInterval(timer);
      if (last) out.write('\n');
    },
  };
}

/** One plain line per change (status or counts), with the time. */
export function plainProgress(out: Out, started = Date.now()): Progress {
  let shown = '';
  return {
    update(run) {
      const state = `${phase(run)}: ${counts(run)}`;
      if (state === shown) return;
      shown = state;
      out.write(`[${elapsed(Date.now() - started).padStart(6)}] ${run.id} ${state}\n`);
    },
    pause() {},
    done() {},
  };
}
