/**
 * The nesting guard for YAML test definitions (and JSON text, which is YAML too), run before the
 * YAML parser builds anything. A YAML document nested 100,000 deep (200 KB of `[`) held the parser
 * for 13–16 s; here it is refused after reading 65 tokens.
 *
 * It counts nesting on the tokens of the `yaml` library's own lexer, the one the parser reads, so
 * it sees exactly what the parser would: a `[` inside a quoted scalar, a comment or a block scalar
 * is text, not a collection. It stops at the first token past a limit:
 * - flow collections (`[`, `{`) nested deeper than MAX_YAML_DEPTH;
 * - block collections opened on one line (`- - - x`, `? - x`) more than MAX_YAML_DEPTH times;
 * - indentation past MAX_YAML_INDENT columns (block nesting by indentation costs the parser little,
 *   but no definition needs it).
 * A legitimate definition pays one lexer pass (about a third of what parsing it costs).
 */
import { badRequest } from '../errors';
import { yaml } from '../yaml';

/** Deeper than any definition (project → goals → journeys → checkpoints → steps → arguments is about 10). */
export const MAX_YAML_DEPTH = 64;
export const MAX_YAML_INDENT = 200;

/** Refuses (400) YAML nested past the limits above, before it is parsed. */
export function assertYamlBounds(text: string): void {
  let flow = 0;
  let lineIndicators = 0;
  let atLineStart = true;
  for (const token of new (yaml().Lexer)().lex(text)) {
    if (token === '[' || token === '{') {
      if (++flow > MAX_YAML_DEPTH) throw tooDeep(`collections nested deeper than ${MAX_YAML_DEPTH} levels`);
    } else if (token === ']' || token === '}') {
      if (flow > 0) flow--;
    } else if (token === '\n' || token === '\r\n') {
      atLineStart = true;
      lineIndicators = 0;
      continue;
    } else if (flow === 0 && (token === '-' || token === '?')) {
      if (++lineIndicators > MAX_YAML_DEPTH) throw tooDeep(`more than ${MAX_YAML_DEPTH} collections opened on one line`);
    } else if (atLineStart && /^ +$/.test(token) && token.length > MAX_YAML_INDENT) {
      throw tooDeep(`indentation past ${MAX_YAML_INDENT} columns`);
    }
    atLineStart = false;
  }
}

const tooDeep = (what: string) => badRequest(`The test definition is nested too deeply: ${what}`, { maxDepth: MAX_YAML_DEPTH, maxIndent: MAX_YAML_INDENT });
