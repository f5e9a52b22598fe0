/**
 * The edges of reading a test definition (shared/testruns/definition.ts) that mutation testing found
 * untested (issue 17): YAML documents, anchors and aliases, numbers as written, the project forms,
 * variables, the wording and order of problems, and every schema limit in words.
 */
import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { type DefinitionProblem, parseDefinition, type TestDefinition } from '../../shared/testruns/definition';

const HEAD = 'name: Run\nproject: Shop\n';
/** A YAML definition: one goal, journey and checkpoint around the steps (written from line 11, column 17). */
const yaml = (steps: string[], { head = HEAD, goal = '' } = {}) =>
  `${head}goals:\n  - name: Store\n    url: https://shop.example.com\n${goal}    journeys:\n      - name: Buy\n        checkpoints:\n          - name: Home\n            steps:\n${steps.map((s) => `              - ${s}\n`).join('')}`;
/** The same as data. */
const data = (extra: Record<string, unknown> = {}, goal: Record<string, unknown> = {}) => ({
  name: 'Run',
  project: 'Shop',
  goals: [{ name: 'Store', url: 'https://shop.example.com', journeys: [{ name: 'Buy', checkpoints: [{ name: 'Home', steps: [{ click: 'Go' }] }] }], ...goal }],
  ...extra,
});
const steps = (d: TestDefinition) => d.goals[0].journeys[0].checkpoints[0].steps;
const STEP0 = 'goals[0].journeys[0].checkpoints[0].steps[0]';

function refusal(fn: () => unknown): AppError & { details: DefinitionProblem[] } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    return err as AppError & { details: DefinitionProblem[] };
  }
  assert.fail('expected a refusal');
}
const problems = (fn: () => unknown) => {
  const err = refusal(fn);
  assert.equal(err.status, 422, err.message);
  return err.details;
};

describe('test definition edges: YAML documents', () => {
  it('reads a text with only a comment, or only empty documents, as no definition', () => {
    const nothing = { path: '', message: 'the definition must be a map with name, project and goals, not nothing', allowed: ['a map'] };
    assert.deepEqual(problems(() => parseDefinition('# just a comment\n')), [nothing]);
    assert.deepEqual(problems(() => parseDefinition('---\n---\n')), [{ ...nothing, line: 1, column: 4 }]);
  });

  it('ignores an empty document after ---, but refuses a second document with something in it', () => {
    assert.equal(parseDefinition(`${yaml(['click: Go'])}---\n`).goals.length, 1);
    assert.equal(parseDefinition(`${yaml(['click: Go'])}---\n# the end\n`).goals.length, 1);
    for (const second of ['extra', '""', 'null']) {
      const [p] = problems(() => parseDefinition(`${yaml(['click: Go'])}--- ${second}\n`));
      assert.equal(p.path, 'documents[1]', second);
      assert.match(p.message, /^this YAML holds 2 documents/);
    }
  });

  it('lists at most 50 syntax errors', () => {
    const err = refusal(() => parseDefinition(Array.from({ length: 60 }, (_, i) => `k${i}: a: b`).join('\n')));
    assert.equal(err.status, 400);
    assert.equal(err.details.length, 50);
    assert.match(err.message, /^The test definition is not valid YAML or JSON: line 1, column \d+: /);
  });

  it('hints at quoting ${variables} only on a line with a flow collection', () => {
    const err = refusal(() => parseDefinition('name: Run\nurl: ${base}: bad\n'));
    assert.equal(err.status, 400);
    assert.equal(err.message, 'The test definition is not valid YAML or JSON: line 2, column 6: Nested mappings are not allowed in compact mappings');
  });

  it('refuses YAML nested past the bounds before parsing it', () => {
    const err = refusal(() => parseDefinition(`${'['.repeat(70)}${']'.repeat(70)}`));
    assert.equal(err.status, 400);
    assert.match(err.message, /nested too deeply/);
  });
});

describe('test definition edges: anchors and aliases', () => {
  it('takes a step reused by alias a few hundred times (more than the parser allows by default)', () => {
    const d = parseDefinition(yaml(['&go {click: Go}', ...Array.from({ length: 150 }, () => '*go')]));
    assert.equal(d.totalSteps, 151);
    assert.equal(steps(d)[150].label, steps(d)[0].label);
  });

  it('refuses an alias inside the collection its anchor names (it would hold itself)', () => {
    const err = refusal(() => parseDefinition(yaml(['comment: &a [*a, 1]'])));
    assert.equal(err.status, 400);
    assert.equal(err.message, 'The test definition could not be read: an alias (*name) is used inside the collection its anchor (&name) names');
    assert.deepEqual(err.details, [{ path: '', message: 'an alias (*name) is used inside the collection its anchor (&name) names' }]);
  });

  it('refuses a text whose aliases expand past the parser bound (400, naming it)', () => {
    const err = refusal(() => parseDefinition(yaml(['&go {click: Go}', ...Array.from({ length: 1100 }, () => '*go')])));
    assert.equal(err.status, 400);
    assert.match(err.message, /^The test definition could not be read: /);
    assert.equal(err.details[0].path, '');
  });

  it('keeps an aliased number as written, and reads a merge key (<<) as the merged map', () => {
    const d = parseDefinition(yaml(['write: {selector: Zip, text: &zip 007}', 'write: {selector: Zip2, text: *zip}', 'write: {<<: {selector: Zip3, text: hi}, clear: true}']));
    assert.deepEqual(steps(d).map((s) => s.args), [{ selector: 'Zip', text: '007' }, { selector: 'Zip2', text: '007' }, { selector: 'Zip3', text: 'hi', clear: true }]);
    const merged = parseDefinition(yaml(['write: &w {selector: Zip, text: 007}', 'write: {<<: *w, clear: true}']));
    assert.deepEqual(steps(merged)[1].args, { selector: 'Zip', text: '7', clear: true }, "a merge leaves the numbers to the parser ('7')");
  });

  it('places a problem met through an alias where the aliased text is written', () => {
    const text = [
      'name: Run',
      'project: Shop',
      'goals:',
      '  - name: A',
      '    url: https://a.example',
      '    journeys: &j',
      '      - name: Buy',
      '        checkpoints: [{name: Home, steps: [{clik: Go}]}]',
      '  - name: B',
      '    url: https://b.example',
      '    journeys: *j',
    ].join('\n');
    const found = problems(() => parseDefinition(text));
    assert.deepEqual(
      found.map((p) => [p.path, p.line, p.column]),
      [
        ['goals[0].journeys[0].checkpoints[0].steps[0]', 8, 44],
        ['goals[1].journeys[0].checkpoints[0].steps[0]', 8, 44],
      ],
    );
  });

  it('keeps __proto__ as a key like any other in a step', () => {
    const [p] = problems(() => parseDefinition(yaml(['{click: Go, __proto__: 1}'])));
    assert.match(p.message, /^a step has exactly one action key; found 2: click, __proto__/);
  });
});

describe('test definition edges: numbers as written', () => {
  it('keeps a step number as written in the steps and in the stored document', () => {
    const d = parseDefinition(yaml(['write: {selector: Zip, text: 007}']));
    assert.equal(steps(d)[0].args.text, '007');
    const stored = d.document as { goals: { journeys: { checkpoints: { steps: unknown[] }[] }[] }[] };
    assert.deepEqual(stored.goals[0].journeys[0].checkpoints[0].steps[0], { write: { selector: 'Zip', text: '007' } });
  });

  it('keeps only numbers as written: a step of numbers alone, not true/false written True', () => {
    assert.equal(steps(parseDefinition(yaml(['comment: 007'])))[0].args.text, '007');
    assert.deepEqual(steps(parseDefinition(yaml(['write: {selector: Zip, text: 007, clear: True}'])))[0].args, { selector: 'Zip', text: '007', clear: true });
  });

  it('reads an empty value in a step with a number as nothing', () => {
    assert.deepEqual(problems(() => parseDefinition(yaml(['write: {selector: 5, text: }']))), [
      { path: STEP0, message: "write: missing 'text'", allowed: ['selector', 'text', 'clear'], line: 11, column: 17 },
    ]);
    // A key without a value (`{comment: 007, note}`) is a key like any other.
    const [p] = problems(() => parseDefinition(yaml(['{comment: 007, note}'])));
    assert.match(p.message, /^a step has exactly one action key; found 2: comment, note/);
  });

  it('reads numbers outside steps as numbers (timeout 0x1C20 is 7200)', () => {
    assert.equal(parseDefinition(yaml(['click: Go'], { head: `${HEAD}options:\n  timeout: 0x1C20\n` })).options.timeoutSeconds, 7200);
  });

  it('keeps a number as written in a converted run-test file too', () => {
    const d = parseDefinition('name: Zip\nstarting_url: https://a.example\nsteps:\n  - write: {selector: Zip, text: 007}\n');
    assert.equal(d.format, 'run-test');
    assert.equal(steps(d)[0].args.text, '007');
  });

  it('reads a converted definition given as data (no text, so no lines)', () => {
    const d = parseDefinition({ name: 'Zip', starting_url: 'https://a.example', steps: [{ click: 'Go' }] });
    assert.equal(d.format, 'run-test');
    const [p] = problems(() => parseDefinition({ name: 'Zip', starting_url: 'https://a.example', steps: [{ clik: 'Go' }] }));
    assert.equal(p.line, undefined);
    assert.match(p.message, /clik/);
    const [template] = problems(() => parseDefinition({ journey: { name: 'Checkout', checkpoints: [] } }));
    assert.deepEqual([template.path, template.line], ['journey', undefined]);
    assert.match(template.message, /^this is a journey template/);
  });
});

describe('test definition edges: project, names and URLs', () => {
  const withProject = (project: unknown) => parseDefinition(data({ project }));
  const projectProblems = (project: string) => problems(() => parseDefinition(yaml(['click: Go'], { head: `name: Run\nproject: ${project}\n` })));

  it('trims the project name and id, keeps a description, and adds nothing else', () => {
    assert.deepEqual(withProject('  Shop  ').project, { name: 'Shop' });
    assert.deepEqual(withProject({ name: ' Shop ' }).project, { name: 'Shop' });
    assert.deepEqual(withProject({ name: 'Shop', description: ' Our shop ' }).project, { name: 'Shop', description: ' Our shop ' });
    assert.deepEqual(withProject({ id: ' 42 ' }).project, { id: '42' });
    assert.deepEqual(withProject({ id: 42 }).project, { id: '42' });
    assert.deepEqual(withProject({ name: 'x'.repeat(200), description: 'd'.repeat(2000) }).project, { name: 'x'.repeat(200), description: 'd'.repeat(2000) });
    const d = parseDefinition(data());
    assert.ok(!('description' in d), 'no description key when none is written');
  });

  it('refuses an id that is not a positive integer, and a key beside it', () => {
    for (const id of ['x42', '42x', 'true', '0']) {
      assert.deepEqual(projectProblems(`{id: ${id}}`), [{ path: 'project.id', message: `must be a project id (a positive integer), not ${id === 'true' ? 'true' : `'${id}'`}`, line: 2, column: 11 }].map((p) => (id === '0' ? { ...p, message: 'must be a project id (a positive integer), not 0' } : p)), id);
    }
    assert.deepEqual(projectProblems('{id: 4, name: A}'), [{ path: 'project.name', message: "unknown key 'name' next to id; a project is {id} (an existing project) or {name, description?}", allowed: ['id'], line: 2, column: 18 }]);
  });

  it('names each problem of a project by name: blank, not a text, too long, unknown keys, a bad description', () => {
    assert.deepEqual(projectProblems('"   "'), [{ path: 'project', message: 'must not be blank', line: 2, column: 1 }]);
    assert.deepEqual(projectProblems('[a]'), [{ path: 'project', message: 'must be a project name, {name, description?} or {id}, not a list', allowed: ['<name>', '{name, description?}', '{id}'], line: 2, column: 1 }]);
    assert.deepEqual(projectProblems('{name: 5}'), [{ path: 'project.name', message: 'must be a text, not 5', line: 2, column: 11 }]);
    assert.deepEqual(projectProblems('{name: "  "}'), [{ path: 'project.name', message: 'must not be blank', line: 2, column: 11 }]);
    assert.deepEqual(projectProblems(`{name: ${'x'.repeat(201)}}`), [{ path: 'project.name', message: 'is 201 characters long; at most 200 are allowed', line: 2, column: 11 }]);
    assert.deepEqual(projectProblems(`${'x'.repeat(201)}`), [{ path: 'project', message: 'is 201 characters long; at most 200 are allowed', line: 2, column: 1 }]);
    assert.deepEqual(projectProblems('{nam: A, colour: red}'), [
      { path: 'project', message: "missing 'name' (a project is a name, {name, description?} or {id})", line: 2, column: 1 },
      { path: 'project.nam', message: "unknown key 'nam'; allowed: name, description (or id alone)", allowed: ['name', 'description', 'id'], line: 2, column: 11 },
      { path: 'project.colour', message: "unknown key 'colour'; allowed: name, description (or id alone)", allowed: ['name', 'description', 'id'], line: 2, column: 19 },
    ]);
    assert.deepEqual(projectProblems('{name: A, description: 5}'), [{ path: 'project.description', message: 'must be a text of at most 2000 characters, not 5', line: 2, column: 20 }]);
    assert.deepEqual(
      problems(() => withProject({ name: 'A', description: 'd'.repeat(2001) })).map((p) => p.path),
      ['project.description'],
    );
  });

  it('trims names, and finds duplicates after trimming', () => {
    const d = parseDefinition(data({}, { name: ' Store ', journeys: [{ name: ' Buy ', checkpoints: [{ name: ' Home ', steps: [] }] }] }));
    assert.deepEqual([d.goals[0].name, d.goals[0].journeys[0].name, d.goals[0].journeys[0].checkpoints[0].name], ['Store', 'Buy', 'Home']);
    const goal = { url: 'https://x.example', journeys: [{ name: 'J', checkpoints: [{ name: 'C', steps: [] }] }] };
    const dup = problems(() => parseDefinition({ name: 'R', project: 'S', goals: [{ ...goal, name: 'G' }, { ...goal, name: ' G ' }] }));
    assert.deepEqual(dup.map((p) => p.path), ['goals[1].name']);
    // Goals that are not maps, or without a text name, are reported by the schema, never as duplicates.
    const odd = problems(() => parseDefinition({ name: 'R', project: 'S', goals: ['G', { ...goal, name: 5 }, { ...goal, name: 5 }, { ...goal, name: ' ' }, { ...goal, name: ' ' }] }));
    assert.ok(odd.every((p) => !p.message.startsWith('duplicate')), JSON.stringify(odd));
  });

  it('checks a goal URL once: a pattern problem is not reported again as not absolute', () => {
    assert.deepEqual(problems(() => parseDefinition(data({}, { url: 'ftp://x.example' }))), [{ path: 'goals[0].url', message: "must be an http(s) URL (or begin with a ${variable}), not 'ftp://x.example'" }]);
    assert.deepEqual(problems(() => parseDefinition(data({}, { url: 'https://' }))), [{ path: 'goals[0].url', message: "must be an absolute http(s) URL, not 'https://'" }]);
  });

  it('substitutes variables in a goal URL, trims it, and checks what it becomes', () => {
    assert.equal(parseDefinition(data({ variables: { base: ' https://x.example/a ' } }, { url: '${base}' })).goals[0].url, 'https://x.example/a');
    assert.deepEqual(problems(() => parseDefinition(data({ variables: { base: 'mailto:a@b' } }, { url: '${base}' }))), [{ path: 'goals[0].url', message: "must be an absolute http(s) URL, not 'mailto:a@b'" }]);
  });
});

describe('test definition edges: variables', () => {
  it('takes text, number and true/false values, as text', () => {
    const d = parseDefinition(data({ variables: { who: 'ann', n: 3, flag: true } }, { journeys: [{ name: 'J', checkpoints: [{ name: 'C', steps: [{ comment: '${who} ${n} ${flag}' }] }] }] }));
    assert.deepEqual(d.variables, { who: 'ann', n: '3', flag: 'true' });
    assert.equal(steps(d)[0].args.text, 'ann 3 true');
  });

  it('names a bad variable name once, and a value that is not text, number or true/false', () => {
    const found = problems(() => parseDefinition(yaml(['click: Go'], { head: `${HEAD}variables:\n  "1bad": x\n  good: 1\n  list: [1]\n  "a/b~c": [1]\n  "12": x\n` })));
    assert.deepEqual(found, [
      { path: 'variables["1bad"]', message: "'1bad' is not a valid variable name: letters, digits and _, not starting with a digit, at most 100 characters", line: 4, column: 3 },
      { path: 'variables.list', message: 'must be a text or a number or true or false, not a list', allowed: ['a text', 'a number', 'true or false'], line: 6, column: 3 },
      { path: 'variables["a/b~c"]', message: "'a/b~c' is not a valid variable name: letters, digits and _, not starting with a digit, at most 100 characters", line: 7, column: 3 },
      { path: 'variables["a/b~c"]', message: 'must be a text or a number or true or false, not a list', allowed: ['a text', 'a number', 'true or false'], line: 7, column: 3 },
      { path: 'variables["12"]', message: "'12' is not a valid variable name: letters, digits and _, not starting with a digit, at most 100 characters", line: 8, column: 3 },
    ]);
  });

  it('never counts a variable it refused among the defined ones', () => {
    const found = problems(() => parseDefinition(data({ variables: { '1bad': 'x', list: [1] } }, { journeys: [{ name: 'J', checkpoints: [{ name: 'C', steps: [{ click: '${nope}' }] }] }] })));
    const unknown = found.find((p) => p.message.startsWith('unknown variable'));
    assert.deepEqual(unknown, { path: STEP0, message: "unknown variable 'nope'; defined: none (write $${name} for the literal text ${name})" });
  });

  it('names every unknown variable of a step, in lists too', () => {
    const [p] = problems(() => parseDefinition(data({ variables: { a: '1', b: '2' } }, { journeys: [{ name: 'J', checkpoints: [{ name: 'C', steps: [{ write: { selector: '${x}', text: ['${y}'] } }] }] }] })));
    assert.deepEqual(p, { path: STEP0, message: "unknown variables 'x', 'y'; defined: a, b (write $${name} for the literal text ${name})", allowed: ['a', 'b'] });
  });

  it('refuses a request variable with a bad name, placed at the top when the text has no variables', () => {
    assert.deepEqual(problems(() => parseDefinition(yaml(['click: Go']), { variables: { 'bad name': 'x' } })), [
      { path: 'variables["bad name"]', message: "'bad name' (sent with the request) is not a valid variable name: letters, digits and _, not starting with a digit", line: 1, column: 1 },
    ]);
  });
});

describe('test definition edges: problems in words, in order', () => {
  const goal = (g: Record<string, unknown>) => ({ name: 'R', project: 'S', goals: [g] });

  it('says what the definition, a journey and a checkpoint need', () => {
    assert.deepEqual(problems(() => parseDefinition({ name: 'R', project: 'S' })), [{ path: '', message: "missing 'goals' (the definition needs name, project, goals)" }]);
    assert.deepEqual(problems(() => parseDefinition(goal({ name: 'G', url: 'https://x.example', journeys: [{ name: 'J' }] }))), [
      { path: 'goals[0].journeys[0]', message: "missing 'checkpoints' (a journey needs name, checkpoints)" },
    ]);
    assert.deepEqual(problems(() => parseDefinition(goal({ name: 'G', url: 'https://x.example', journeys: [{ name: 'J', checkpoints: [{ name: 'C' }] }] }))), [
      { path: 'goals[0].journeys[0].checkpoints[0]', message: "missing 'steps' (a checkpoint needs name, steps)" },
    ]);
  });

  it('says how many goals, journeys and checkpoints a list needs or allows', () => {
    assert.deepEqual(problems(() => parseDefinition({ name: 'R', project: 'S', goals: [] })), [{ path: 'goals', message: 'needs at least 1 goal' }]);
    assert.deepEqual(problems(() => parseDefinition(goal({ name: 'G', url: 'https://x.example', journeys: [] }))), [{ path: 'goals[0].journeys', message: 'needs at least 1 journey' }]);
    assert.deepEqual(problems(() => parseDefinition(goal({ name: 'G', url: 'https://x.example', journeys: [{ name: 'J', checkpoints: [] }] }))), [
      { path: 'goals[0].journeys[0].checkpoints', message: 'needs at least 1 checkpoint' },
    ]);
    const journeys = Array.from({ length: 51 }, (_, i) => ({ name: `J${i}`, checkpoints: [{ name: 'C', steps: [] }] }));
    assert.deepEqual(problems(() => parseDefinition(goal({ name: 'G', url: 'https://x.example', journeys }))), [{ path: 'goals[0].journeys', message: 'has 51 journeys; at most 50 are allowed' }]);
    const many = Array.from({ length: 501 }, () => ({ comment: 'x' }));
    assert.deepEqual(problems(() => parseDefinition(goal({ name: 'G', url: 'https://x.example', journeys: [{ name: 'J', checkpoints: [{ name: 'C', steps: many }] }] }))), [
      { path: 'goals[0].journeys[0].checkpoints[0].steps', message: 'has 501 steps; at most 500 are allowed' },
    ]);
  });

  it('says how long a text is, how many variables there are, and what type a value must be', () => {
    assert.deepEqual(problems(() => parseDefinition(data({ name: 'x'.repeat(201) }))), [{ path: 'name', message: 'is 201 characters long; at most 200 are allowed' }]);
    assert.deepEqual(problems(() => parseDefinition(data({ variables: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`v${i}`, 'x'])) }))), [
      { path: 'variables', message: 'has 201 entries; at most 200 are allowed' },
    ]);
    assert.deepEqual(problems(() => parseDefinition(data({ options: { timeout: 'x' } }))), [{ path: 'options.timeout', message: "must be an integer, not 'x'", allowed: ['an integer'] }]);
    assert.deepEqual(problems(() => parseDefinition(data({ options: { timeout: 90000 } }))), [{ path: 'options.timeout', message: 'must be from 60 to 86400 seconds, not 90000' }]);
    assert.deepEqual(problems(() => parseDefinition('[1]')), [{ path: '', message: 'the definition must be a map with name, project and goals, not a list', allowed: ['a map'], line: 1, column: 1 }]);
    assert.equal(refusal(() => parseDefinition('[1]')).message, 'The test definition has 1 problem: the definition must be a map with name, project and goals, not a list');
  });

  it('says a name must not be blank once, empty or spaces', () => {
    assert.deepEqual(problems(() => parseDefinition(data({ name: '' }))), [{ path: 'name', message: 'must not be blank' }]);
    assert.deepEqual(problems(() => parseDefinition(data({ name: '  ' }))), [{ path: 'name', message: 'must not be blank' }]);
  });

  it('finds the schema problems in any goal, journey and checkpoint, the tenth and after included', () => {
    const checkpoints = Array.from({ length: 12 }, (_, i) => ({ name: `C${i}`, steps: i === 11 ? [{ clik: 'Go' }] : [] }));
    const journeys = Array.from({ length: 11 }, (_, i) => ({ name: `J${i}`, checkpoints: i === 10 ? checkpoints : [{ name: 'C', steps: [] }] }));
    const goals = Array.from({ length: 11 }, (_, i) => ({ name: `G${i}`, url: 'https://x.example', journeys: i === 10 ? journeys : [{ name: 'J', checkpoints: [{ name: 'C', steps: [] }] }] }));
    const found = problems(() => parseDefinition({ name: 'R', project: 'S', goals }));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].path, 'goals[10].journeys[10].checkpoints[11].steps[0]');
    assert.match(found[0].message, /^unknown step 'clik'/);
    const typed = problems(() => parseDefinition({ name: 'R', project: 'S', goals: [...goals.slice(0, 10), 'G10'] }));
    assert.deepEqual(typed, [{ path: 'goals[10]', message: "must be a map, not 'G10'", allowed: ['a map'] }]);
  });

  it('orders problems by line, then column, then as found', () => {
    const text = `${HEAD}goals:\n  - {url: ftp://x.example, name: "", journeys: []}\n`;
    assert.deepEqual(
      problems(() => parseDefinition(text)).map((p) => [p.path, p.column]),
      [
        ['goals[0].url', 6],
        ['goals[0].name', 28],
        ['goals[0].journeys', 38],
      ],
    );
    // Two problems at one place keep the order they were found in.
    const same = problems(() => parseDefinition(`${HEAD}goals:\n  - {name: G}\n  - {}\n`));
    assert.deepEqual(
      same.map((p) => [p.path, p.message.slice(0, 18)]),
      [
        ['goals[0]', "missing 'url' (a g"],
        ['goals[0]', "missing 'journeys'"],
        ['goals[1]', "missing 'name' (a "],
        ['goals[1]', "missing 'url' (a g"],
        ['goals[1]', "missing 'journeys'"],
      ],
    );
  });

  it('says "the first 50 are listed" only past 50', () => {
    const fifty = refusal(() => parseDefinition(data({}, { journeys: [{ name: 'J', checkpoints: [{ name: 'C', steps: Array.from({ length: 50 }, () => ({ wait: -1 })) }] }] })));
    assert.match(fifty.message, /^The test definition has 50 problems; the first: /);
    assert.equal(fifty.details.length, 50);
  });

  it('builds every step of a definition of exactly 5000', () => {
    const checkpoints = Array.from({ length: 10 }, (_, i) => ({ name: `C${i}`, steps: Array.from({ length: 500 }, () => ({ comment: 'x' })) }));
    const d = parseDefinition({ name: 'Big', project: 'Shop', goals: [{ name: 'G', url: 'https://x.example', journeys: [{ name: 'J', checkpoints }] }] });
    assert.equal(d.goals[0].journeys[0].checkpoints.reduce((n, c) => n + c.steps.length, 0), 5000);
  });
});
