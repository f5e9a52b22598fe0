/**
 * The `yaml` package, required on first use. It was a third of the commands and test-runs bundles'
 * own code (117 KiB of 383 KiB minified), parsed by every cold start, though only a request with a
 * YAML body or a YAML answer needs it (issue 14). Type-only imports of 'yaml' stay as they are.
 */
export type Yaml = typeof import('yaml');

let loaded: Yaml | undefined;

export function yaml(): Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (loaded ??= require('yaml') as Yaml);
}
