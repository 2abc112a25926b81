// The layers point one way (docs/architecture.md): grammar → compiler → codegen → runtime → viz
// → cli → playground (the browser page, over the CLI's language service). A file may import its own layer and the layers before it, never one after: the compiler
// does not know the code generators or the runtime, the generators do not know the device. Every
// .ts file's imports (static, `export … from`, dynamic with a literal path) are parsed and checked.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

const LAYERS = ['grammar', 'compiler', 'codegen', 'runtime', 'viz', 'cli', 'playground'] as const;
type Layer = (typeof LAYERS)[number];

/** What each layer may import besides itself: the layers before it. */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  grammar: [],
  compiler: ['grammar'],
  codegen: ['grammar', 'compiler'],
  runtime: ['grammar', 'compiler', 'codegen'],
  viz: ['grammar', 'compiler', 'codegen', 'runtime'],
  cli: ['grammar', 'compiler', 'codegen', 'runtime', 'viz'],
  playground: ['grammar', 'compiler', 'codegen', 'runtime', 'viz', 'cli'],
};

/** Packages only some layers may load: the WebGPU implementation is the runtime's (and the CLI's, which bundles it). */
const PACKAGE_LAYERS: Record<string, readonly Layer[]> = { webgpu: ['runtime', 'cli'] };

/**
 * Imports against the table that are known and not fixed yet, as `from -> to` with the reason.
 * This list must only shrink, to zero.
 */
const KNOWN_VIOLATIONS: readonly { edge: string; why: string }[] = [];

/**
 * Folders inside compiler/ that must not import one another in the given direction, with the
 * reason: the autodiff is generic and takes the methods' regularisers as input (compiler/training.ts).
 */
const FORBIDDEN_INSIDE: readonly { from: string; to: string; why: string }[] = [
  { from: 'compiler/autodiff/', to: 'compiler/peft/', why: 'the autodiff knows no fine-tuning method; regularisers come in as input' },
];

/**
 * Import cycles among compiler/ files that are known and not broken yet (each cycle as its files,
 * sorted, joined by ' '), with the reason. This list must only shrink, to zero.
 */
const KNOWN_CYCLES: readonly { cycle: string; why: string }[] = [];

/** The module specifiers a source imports: `import … from`, `import '…'`, `export … from`, `import('…')`. */
function importsOf(source: string): string[] {
  // Comments go in one pass that skips string literals, so `//` in a string stays and a
  // `/*` inside a line comment (`peft/*.ts`) does not swallow the imports below it.
  const code = source.replace(/('(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`)|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (_, str?: string) => str ?? '');
  const found: string[] = [];
  for (const m of code.matchAll(/^\s*(?:import|export)\s[^;'"`]*?\sfrom\s*['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of code.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

function layerOf(path: string): Layer | undefined {
  const top = path.split('/')[0];
  return (LAYERS as readonly string[]).includes(top!) ? (top as Layer) : undefined;
}

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) return tsFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every import of `file` (repository-relative) that its layer may not make, as `from -> to`. */
function violations(file: string, source: string): string[] {
  const from = layerOf(file)!;
  const out: string[] = [];
  for (const spec of importsOf(source)) {
    if (spec.startsWith('.')) {
      const target = relative(ROOT, resolve(ROOT, dirname(file), spec)).split('\\').join('/');
      const to = layerOf(target);
      if (to && to !== from && !MAY_IMPORT[from].includes(to)) out.push(`${file} -> ${target}`);
      continue;
    }
    const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
    const allowed = PACKAGE_LAYERS[pkg];
    if (allowed && !allowed.includes(from)) out.push(`${file} -> package ${pkg}`);
  }
  return out;
}

describe('architecture: imports point one way', () => {
  it('reads every form of import', () => {
    const src = [
      "import type { A } from '../x/a.ts';",
      "import {\n  B,\n  C,\n} from './b.ts';",
      "export { D } from '../d.ts';",
      "export type * from './e.ts';",
      "import './side-effect.ts';",
      "const m = await import('../lazy.ts');",
      "// import { no } from './comment.ts';",
      '/* import { no } from "./block.ts"; */',
    ].join('\n');
    expect(importsOf(src)).toEqual(['../x/a.ts', './b.ts', '../d.ts', './e.ts', './side-effect.ts', '../lazy.ts']);
  });

  it('refuses an import from a later layer and a package the layer may not load', () => {
    expect(violations('compiler/lower/plan.ts', "import { x } from '../../runtime/webgpu/gpu.ts';")).toEqual(['compiler/lower/plan.ts -> runtime/webgpu/gpu.ts']);
    expect(violations('codegen/wgsl/matmul.ts', "import type { G } from '../../runtime/webgpu/gpu.ts';")).toEqual(['codegen/wgsl/matmul.ts -> runtime/webgpu/gpu.ts']);
    expect(violations('compiler/x.ts', "const w = await import('webgpu');")).toEqual(['compiler/x.ts -> package webgpu']);
    expect(violations('runtime/webgpu/plans.ts', "import { buildPlan } from '../../compiler/lower/plan.ts';\nimport { wgslBackend } from '../../codegen/wgsl/backend.ts';")).toEqual([]);
  });

  it('holds for every file of every layer (known exceptions listed with their reason)', () => {
    const found = LAYERS.flatMap((layer) => tsFiles(layer).flatMap((f) => violations(f, readFileSync(join(ROOT, f), 'utf8'))));
    const known = new Set(KNOWN_VIOLATIONS.map((v) => v.edge));
    expect(found.filter((edge) => !known.has(edge))).toEqual([]);
  });
});

/** The files of `folder` (`compiler/`, `cli/`) each of `files` imports (relative imports only). */
function importGraph(files: readonly string[], read: (file: string) => string, folder = 'compiler/'): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = importsOf(read(file))
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(ROOT, resolve(ROOT, dirname(file), spec)).split('\\').join('/'));
    graph.set(file, targets.filter((t) => t.startsWith(folder)));
  }
  return graph;
}

/**
 * The import cycles of `graph`: its strongly connected components of more than one file (or a
 * file importing itself), each as its files sorted and joined by ' '. Tarjan's DFS, iterative
 * so a long import chain cannot overflow the stack.
 */
function importCycles(graph: Map<string, string[]>): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[] = [];
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { file: string; next: number }[] = [{ file: root, next: 0 }];
    index.set(root, index.size);
    low.set(root, index.get(root)!);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const top = work[work.length - 1]!;
      const edges = graph.get(top.file) ?? [];
      if (top.next < edges.length) {
        const to = edges[top.next++]!;
        if (!index.has(to)) {
          index.set(to, index.size);
          low.set(to, index.get(to)!);
          stack.push(to);
          onStack.add(to);
          work.push({ file: to, next: 0 });
        } else if (onStack.has(to)) low.set(top.file, Math.min(low.get(top.file)!, index.get(to)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.file, Math.min(low.get(parent.file)!, low.get(top.file)!));
      if (low.get(top.file) !== index.get(top.file)) continue;
      const component: string[] = [];
      let f: string;
      do {
        f = stack.pop()!;
        onStack.delete(f);
        component.push(f);
      } while (f !== top.file);
      if (component.length > 1 || edges.includes(top.file)) cycles.push(component.sort().join(' '));
    }
  }
  return cycles.sort();
}

describe('architecture: inside the compiler', () => {
  const files = tsFiles('compiler');
  const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');

  it('reads imports below a line comment that contains /* (a glob in prose)', () => {
    expect(importsOf("// rewrites live in peft/*.ts\nimport { a } from './a.ts';\nconst s = 'http://x';\nimport { b } from './b.ts';")).toEqual(['./a.ts', './b.ts']);
  });

  it('the autodiff imports nothing from peft/ (methods hand their regularisers in)', () => {
    const graph = importGraph(files, read);
    const found = [...graph].flatMap(([from, tos]) =>
      FORBIDDEN_INSIDE.flatMap((rule) => (from.startsWith(rule.from) ? tos.filter((to) => to.startsWith(rule.to)).map((to) => `${from} -> ${to}`) : [])),
    );
    expect(found).toEqual([]);
  });

  it('finds an import cycle, and none in a chain', () => {
    const g = new Map([
      ['compiler/a.ts', ['compiler/b.ts']],
      ['compiler/b.ts', ['compiler/c.ts']],
      ['compiler/c.ts', ['compiler/a.ts', 'compiler/d.ts']],
      ['compiler/d.ts', []],
      ['compiler/e.ts', ['compiler/e.ts']],
    ]);
    expect(importCycles(g)).toEqual(['compiler/a.ts compiler/b.ts compiler/c.ts', 'compiler/e.ts']);
    expect(importCycles(new Map([['compiler/a.ts', ['compiler/b.ts']], ['compiler/b.ts', []]]))).toEqual([]);
  });

  it('has no import cycles among compiler/ files (known ones listed with their reason)', () => {
    const cycles = importCycles(importGraph(files, read));
    const known = new Set(KNOWN_CYCLES.map((c) => c.cycle));
    expect(cycles.filter((c) => !known.has(c))).toEqual([]);
    // A known cycle that is gone must leave the list, so the list only shrinks.
    expect([...known].filter((c) => !cycles.includes(c))).toEqual([]);
  });
});

/**
 * Import cycles among cli/ files that are known and not broken yet, as for compiler/ above.
 * The error class and the flag parsers have their own files (cli/errors.ts, cli/flags.ts) so that
 * every verb can import them without importing another verb.
 */
const KNOWN_CLI_CYCLES: readonly { cycle: string; why: string }[] = [];

describe('architecture: inside the CLI', () => {
  const files = tsFiles('cli');
  const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');

  it('keeps only cli/ files in the cli/ graph', () => {
    const g = importGraph(['cli/a.ts'], () => "import { x } from './b.ts';\nimport { y } from '../runtime/c.ts';", 'cli/');
    expect([...g]).toEqual([['cli/a.ts', ['cli/b.ts']]]);
  });

  it('has no import cycles among cli/ files (known ones listed with their reason)', () => {
    const cycles = importCycles(importGraph(files, read, 'cli/'));
    const known = new Set(KNOWN_CLI_CYCLES.map((c) => c.cycle));
    expect(cycles.filter((c) => !known.has(c))).toEqual([]);
    expect([...known].filter((c) => !cycles.includes(c))).toEqual([]);
  });
});
