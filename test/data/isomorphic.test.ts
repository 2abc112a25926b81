// The data core runs in a browser (docs/architecture.md). Files of runtime/data/ other
// than *-node.ts import no Node module, directly or through other project files.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DATA = join(ROOT, 'runtime/data');

function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]!);
}

it('the data core imports no Node APIs and no *-node.ts file', () => {
  const core = readdirSync(DATA).filter((f) => f.endsWith('.ts') && !f.endsWith('-node.ts'));
  expect(core).toContain('batches.ts');
  const seen = new Set<string>();
  const bad: string[] = [];
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of imports(file)) {
      const where = relative(ROOT, file);
      if (spec.startsWith('node:') || /-node\.ts$/.test(spec)) bad.push(`${where} imports ${spec}`);
      else if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
    }
  };
  for (const f of core) visit(join(DATA, f));
  expect(bad).toEqual([]);
});
