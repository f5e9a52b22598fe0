/**
 * The JUnit (Jenkins/Surefire) XML of a test run's report (report.ts): a testsuite per journey with
 * the Virtuoso ids and links as properties, a testcase per checkpoint with its failure or error and
 * its steps as system-out. Always well-formed XML 1.0, whatever the names hold; a pure function of
 * the report (same report → same bytes).
 */
import type { CheckpointReport, Outcome, RunReport, StepFailure, StepReport } from './report';

/**
 * Removes what XML 1.0 cannot hold (C0 controls other than tab/LF/CR, U+FFFE, U+FFFF) and replaces
 * unpaired surrogates with U+FFFD.
 */
export function xmlSafe(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1); // NaN past the end: no low surrogate
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += s[i] + s[i + 1];
        i++;
      } else out += '\ufffd';
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      out += '\ufffd';
      continue;
    }
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xfffe || c === 0xffff) continue;
    out += s[i];
  }
  return out;
}

function escapeText(s: string): string {
  return xmlSafe(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

/** Attribute values keep tabs and line breaks as character references (a parser would normalise them to spaces). */
function escapeAttr(s: string): string {
  return xmlSafe(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

function attrs(pairs: [string, string | number | undefined][]): string {
  return pairs
    .filter((p): p is [string, string | number] => p[1] !== undefined)
    .map(([k, v]) => ` ${k}="${escapeAttr(String(v))}"`)
    .join('');
}

function seconds(ms: number | undefined): string {
  return ((ms ?? 0) / 1000).toFixed(3);
}

/** The JUnit timestamp: ISO 8601 without a zone (as the JUnit XSD wants), in UTC. */
function junitTimestamp(iso: string): string | undefined {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString().slice(0, 19);
}

const OUTCOME_TAG: Record<Outcome, string> = { passed: 'PASS', failed: 'FAIL', skipped: 'SKIP', unknown: '????' };

function stepLine(s: StepReport): string {
  const tags = [s.builtByRun ? '' : ' (not built by the run)', s.stepId !== undefined ? ` [step ${s.stepId}]` : ''].join('');
  return `[${OUTCOME_TAG[s.outcome]}] ${s.position}. ${s.label}${tags}${s.error !== undefined ? ` - ${s.error}` : ''}`;
}

function failureText(cp: CheckpointReport, f: StepFailure): string {
  const lines: string[] = [];
  if (f.stepLabel !== undefined) {
    lines.push(`Failing step: ${f.stepPosition ?? '?'}. ${f.stepLabel}`);
    if (f.action !== undefined) lines.push(`Action: ${f.action}`);
    if (f.stepId !== undefined) lines.push(`Virtuoso step id: ${f.stepId}`);
  }
  lines.push(`Error: ${f.message}`);
  if (cp.link !== undefined) lines.push(`Checkpoint: ${cp.link}`);
  return lines.join('\n');
}

/** The JUnit (Jenkins/Surefire) XML of a report: a testsuite per journey, a testcase per checkpoint. */
export function junitXml(report: RunReport): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const c = report.counts;
  out.push(
    `<testsuites${attrs([
      ['name', report.run.name],
      ['tests', c.checkpoints],
      ['failures', c.failed],
      ['errors', c.unknown],
      ['skipped', c.skipped],
      ['time', seconds(report.durationMs)],
      ['timestamp', junitTimestamp(report.run.startedAt ?? report.run.createdAt)],
    ])}>`,
  );
  let suiteIndex = 0;
  for (const goal of report.goals) {
    for (const journey of goal.journeys) {
      const suiteName = `${goal.name} / ${journey.name}`;
      const jc = journey.counts;
      out.push(
        `  <testsuite${attrs([
          ['name', suiteName],
          ['tests', jc.checkpoints],
          ['failures', jc.failed],
          ['errors', jc.unknown],
          ['skipped', jc.skipped],
          ['time', seconds(journey.durationMs)],
          ['timestamp', junitTimestamp(journey.startedAt ?? report.run.startedAt ?? report.run.createdAt)],
          ['id', suiteIndex++],
          ['package', goal.name],
        ])}>`,
      );
      const props: [string, string | undefined][] = [
        ['run.id', report.run.id],
        ['run.name', report.run.name],
        ['virtuoso.projectId', report.projectId],
        ['virtuoso.projectUrl', report.projectLink],
        ['virtuoso.goalId', goal.goalId],
        ['virtuoso.goalUrl', goal.link],
        ['virtuoso.snapshotId', goal.snapshotId],
        ['virtuoso.jobId', goal.jobId],
        ['virtuoso.journeyId', journey.journeyId],
        ['virtuoso.journeyUrl', journey.link],
        ['virtuoso.journeyCanonicalId', journey.canonicalId],
        ['virtuoso.journeyOutcome', journey.virtuosoOutcome],
        ['builtByRun', String(journey.builtByRun)],
        ['outcome', journey.outcome],
      ];
      out.push('    <properties>');
      for (const [name, value] of props) if (value !== undefined) out.push(`      <property${attrs([['name', name], ['value', value]])}/>`);
      out.push('    </properties>');

      for (const cp of journey.checkpoints) {
        out.push(`    <testcase${attrs([['classname', suiteName], ['name', cp.name], ['time', seconds(cp.durationMs)]])}>`);
        if (cp.outcome === 'failed') {
          // report.ts always says why; a failed checkpoint without it still gets its <failure> (it is counted).
          const f = cp.failure ?? { message: 'The checkpoint failed (the report gives no reason)' };
          const message = f.stepLabel !== undefined ? `${f.stepLabel}: ${f.message}` : f.message;
          out.push(`      <failure${attrs([['message', message], ['type', f.action ?? 'FAIL']])}>${escapeText(failureText(cp, f))}</failure>`);
        } else if (cp.outcome === 'skipped') {
          out.push('      <skipped/>');
        } else if (cp.outcome === 'unknown') {
          const message = cp.error ?? 'Unknown outcome';
          const text = [`Error: ${message}`, ...(cp.link !== undefined ? [`Checkpoint: ${cp.link}`] : [])].join('\n');
          out.push(`      <error${attrs([['message', message], ['type', 'UNKNOWN']])}>${escapeText(text)}</error>`);
        }
        const lines = [
          `Checkpoint: ${cp.name}${cp.checkpointId !== undefined ? ` [${cp.checkpointId}]` : ''}${cp.builtByRun ? '' : ' (not built by the run)'}`,
          ...(cp.link !== undefined ? [`Link: ${cp.link}`] : []),
          ...cp.steps.map(stepLine),
        ];
        out.push(`      <system-out>${escapeText(lines.join('\n'))}</system-out>`);
        out.push('    </testcase>');
      }
      if (journey.error !== undefined) out.push(`    <system-err>${escapeText(journey.error)}</system-err>`);
      out.push('  </testsuite>');
    }
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
