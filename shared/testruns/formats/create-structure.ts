/**
 * The gen-1 `create-structure` format (VIRTUOSO_API.md §3.1; removed from the CLI in 626ed58), converted
 * into the native test definition. Its tree is the native one —
 *
 *   project {name, description?, id?}; goals[] {name, url, journeys[] {name, checkpoints[] {name,
 *   navigation_url?, steps[] {type, selector?, url?, value?, timeout?}}}}
 *
 * — and it was built the way native definitions are (the first journey reuses the goal's "Suite 1",
 * the first checkpoint is the goal's navigation checkpoint, other checkpoints are attached after it).
 * What changes: the steps (`{type: navigate|click|wait|fill, …}` → short forms; a wait for an element
 * waits 5000 ms unless `timeout` says otherwise, as gen-1 did), `navigation_url` (gen-1 added a
 * navigation step to it: so does the conversion, first in the checkpoint), and the run's name (the
 * project's, when there is no `name`).
 */
import { isMap, StepFormError } from '../step-forms';
import { convertStep, escapeUnknown, Notes, type ConversionProblem, type Converted, type ConvertOptions, type Seg } from './run-test';

/** gen-1's wait for an element, in ms. */
export const GEN1_WAIT_TIMEOUT_MS = 5000;

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Whether a document is in the gen-1 format: typed steps (`{type: click, selector}`) or a `navigation_url`. */
export function isCreateStructure(doc: Record<string, unknown>): boolean {
  for (const g of list(doc.goals)) {
    for (const j of list(isMap(g) ? g.journeys : undefined)) {
      for (const c of list(isMap(j) ? j.checkpoints : undefined)) {
        if (!isMap(c)) continue;
        if (c.navigation_url !== undefined) return true;
        if (list(c.steps).some((s) => isMap(s) && typeof s.type === 'string' && Object.keys(s).length > 1)) return true;
      }
    }
  }
  return false;
}

export function fromCreateStructure(doc: Record<string, unknown>, options: ConvertOptions, notes: Notes, problems: ConversionProblem[]): Converted {
  // The tree is the native one: every path maps to itself, but the steps (rewritten) and navigation_url.
  const origins: Converted['stepOrigins'] = [{ native: [], source: [] }];
  const known = new Set([...Object.keys(isMap(doc.variables) ? doc.variables : {}), ...Object.keys(options.variables ?? {})]);
  let project = doc.project;
  if (options.projectName) project = options.projectName;
  else if (isMap(project) && project.id !== undefined && Object.keys(project).length > 1) {
    notes.add(`project.id ${String(project.id)} is used; its other keys are ignored (an existing project keeps its name)`);
    project = { id: project.id };
  }
  const projectName = isMap(project) && typeof project.name === 'string' ? project.name : typeof project === 'string' ? project : undefined;
  const name = typeof doc.name === 'string' && doc.name.trim() ? doc.name : (projectName ?? 'Test structure');
  if (doc.name === undefined) notes.add(`no name given: the run is called '${name}' (the project's name)`);

  const goals = list(doc.goals).map((g, gi) => {
    if (!isMap(g)) return g;
    return {
      ...g,
      journeys: list(g.journeys).map((j, ji) => {
        if (!isMap(j)) return j;
        return {
          ...j,
          checkpoints: list(j.checkpoints).map((c, ci) => {
            if (!isMap(c)) return c;
            const { navigation_url: navigationUrl, ...rest } = c;
            const at: Seg[] = ['goals', gi, 'journeys', ji, 'checkpoints', ci];
            const steps: unknown[] = [];
            if (navigationUrl !== undefined) {
              origins.push({ native: [...at, 'steps', 0], source: [...at, 'navigation_url'], exact: true });
              steps.push({ navigate: navigationUrl });
            }
            list(c.steps).forEach((raw, si) => {
              try {
                origins.push({ native: [...at, 'steps', steps.length], source: [...at, 'steps', si], exact: true });
                steps.push(escapeUnknown(convertStep(raw, notes, GEN1_WAIT_TIMEOUT_MS), known));
              } catch (err) {
                origins.pop();
                if (!(err instanceof StepFormError)) throw err;
                problems.push({ path: [...at, 'steps', si], message: err.message, ...(err.allowed ? { allowed: err.allowed } : {}) });
              }
            });
            return { ...rest, steps };
          }),
        };
      }),
    };
  });
  const others = Object.fromEntries(Object.entries(doc).filter(([k]) => !['name', 'project', 'goals'].includes(k)));
  return { document: { name, ...others, ...(project === undefined ? {} : { project }), goals }, stepOrigins: origins };
}
