// The layers point one way (docs/architecture.md): grammar → compiler → codegen → runtime → viz
// → cli. A file may import its own layer and the layers before it, never one after: the compiler
// does not know the code generators or the runtime, the generators do not know the device. Every
// .ts file's imports (static, `export … from`, dynamic with a literal path) are parsed and checked.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

const LAYERS = ['grammar', 'compiler', 'codegen', 'runtime', 'viz', 'cli'] as const;
type Layer = (typeof LAYERS)[number];

/** What each layer may import besides itself: the layers before it. */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  grammar: [],
  compiler: ['grammar'],
  codegen: ['grammar', 'compiler'],
  runtime: ['grammar', 'compiler', 'codegen'],
  viz: ['grammar', 'compiler', 'codegen', 'runtime'],
  cli: ['grammar', 'compiler', 'codegen', 'runtime', 'viz'],
};

/** Packages only some layers may load: the WebGPU implementation is the runtime's (and the CLI's, which bundles it). */
const PACKAGE_LAYERS: Record<string, readonly Layer[]> = { webgpu: ['runtime', 'cli'] };

/**
 * Imports against the table that are known and not fixed yet, as `from -> to` with the reason.
 * This list must only shrink, to zero.
 */
const KNOWN_VIOLATIONS: readonly { edge: string; why: string }[] = [];

/** The module specifiers a source imports: `import … from`, `import '…'`, `export … from`, `import('…')`. */
function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
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
