// Bundling a built trainer's two entries with esbuild: runtime/standalone/node-main.ts →
// train.mjs (Node, ESM; `webgpu` is the only package it loads at run time) and
// runtime/standalone/page.ts → page.js (browser, one classic script).
//
// Neither bundle carries the compiler. The executor runs the plans it is given and imports no
// planner (runtime/webgpu/plans.ts plans); should the planner module be reached anyway, a stub
// that says so replaces it. The esbuild metafile's inputs are returned for checking (test/build/).
// What remains of compiler/ are small pure helpers the runtime shares with the compiler
// (BUNDLE_COMPILER_FILES): the arena layout, the optimizer's buffer constants, dropout's
// threshold, the size and position checks with their counting and formatting (a sequence past
// the position table, an arena past what a typed array holds), the quantized-weight decoders
// and their arena slots, and attention's geometry (which keys a query sees), shared with the CPU reference.
import { createRequire } from 'node:module';
import { relative, resolve } from 'node:path';
import { build, type BuildOptions, type Plugin } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '..');
const STANDALONE = resolve(ROOT, 'runtime/standalone');

/** What every bundle here shares: one file in memory, with its metafile (the inputs are checked). */
const BUNDLE = { bundle: true, legalComments: 'none', charset: 'utf8', write: false, metafile: true, logLevel: 'silent', absWorkingDir: ROOT } as const satisfies BuildOptions;

/** The only files under compiler/ a trainer bundle may contain: layout and constants, no planner. */
export const BUNDLE_COMPILER_FILES = [
  'compiler/lower/memory.ts',
  'compiler/lower/optimizer-layout.ts',
  'compiler/ir/dims.ts',
  'compiler/ir/dropout.ts',
  'compiler/ir/attention-geometry.ts',
  'compiler/params.ts',
  'compiler/positions.ts',
  'compiler/size.ts',
  'compiler/quant/int8.ts',
  'compiler/quant/nf4.ts',
  'compiler/quant/weight.ts',
  'compiler/quant/slot.ts',
  'compiler/quant/dtype.ts',
  'compiler/quant/nf4dq.ts',
  'compiler/quant/dynamic-map.ts',
  'compiler/quant/known.ts',
  // LoRA+'s learning-rate multiplier per parameter, which the optimizer reads (types only beside it)
  'compiler/peft/lora-plus.ts',
];

export interface BundleOptions {
  /** The model's tokenizer: with `byte`, GPT-2's merge ranks (0.5 MB) are left out. */
  tokenizer: string;
}

export interface Bundle {
  code: string;
  /** The source files in it, relative to the repository (node_modules/… for packages). */
  inputs: string[];
}

/** Stubs: the planner (never called by a built trainer) and the tokenizer tables the model does not use (GPT-2's BPE ranks, LLaMA's vocabulary). */
function stubs(opts: BundleOptions): Plugin {
  return {
    name: 'peftc-trainer-stubs',
    setup(b) {
      b.onResolve({ filter: /compiler\/lower\/plan\.ts$/ }, () => ({ path: 'planner', namespace: 'peftc-stub' }));
      if (opts.tokenizer !== 'gpt2') b.onResolve({ filter: /^(js-tiktoken\/ranks\/gpt2|gpt-tokenizer\/bpeRanks\/r50k_base)$/ }, () => ({ path: 'gpt2-ranks', namespace: 'peftc-stub' }));
      if (opts.tokenizer !== 'llama') b.onResolve({ filter: /^llama-tokenizer-js$/ }, () => ({ path: 'llama-vocabulary', namespace: 'peftc-stub' }));
      b.onLoad({ filter: /.*/, namespace: 'peftc-stub' }, (a) => ({
        contents: a.path === 'planner'
          ? "export function buildPlan() { throw new Error('a built trainer runs the plans it carries; it has no planner (rebuild it with peftc build)'); }"
          : `export default new Proxy({}, { get() { throw new Error('this trainer was built for the ${opts.tokenizer} tokenizer; ${a.path === 'gpt2-ranks' ? "GPT-2\\'s BPE is" : "LLaMA\\'s vocabulary is"} not bundled'); } });`,
        loader: 'js',
      }));
    },
  };
}

/**
 * `webgpu` for the Node bundle: the package as Node resolves it from the trainer's folder
 * (after `npm install` there), else the copy this peftc uses (so a trainer built here runs
 * here at once), else one line saying what to install.
 */
function webgpuLoader(): Plugin {
  const fallback = createRequire(import.meta.url).resolve('webgpu');
  return {
    name: 'peftc-webgpu-loader',
    setup(b) {
      b.onResolve({ filter: /^webgpu$/ }, (a) => (a.namespace === 'peftc-webgpu' ? { path: 'webgpu', external: true } : { path: 'webgpu', namespace: 'peftc-webgpu' }));
      b.onLoad({ filter: /.*/, namespace: 'peftc-webgpu' }, () => ({
        contents: `import { pathToFileURL } from 'node:url';
let m;
try {
  m = await import('webgpu');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
  try {
    m = await import(pathToFileURL(${JSON.stringify(fallback)}).href);
  } catch {
    const err = new Error('the webgpu package is not installed: run \`npm install\` in the trainer folder (its package.json names it)');
    err.name = 'TrainerError';
    throw err;
  }
}
export const create = m.create;
export const globals = m.globals;
`,
        loader: 'js',
        resolveDir: ROOT,
      }));
    },
  };
}

function inputsOf(metafile: { inputs: Record<string, unknown> }): string[] {
  return Object.keys(metafile.inputs)
    .filter((p) => !p.includes(':')) // stubs live in their own namespaces
    .map((p) => relative(ROOT, resolve(ROOT, p)))
    .sort();
}

/** The Node entry as one ESM file. */
export async function bundleNode(opts: BundleOptions): Promise<Bundle> {
  const r = await build({
    entryPoints: [resolve(STANDALONE, 'node-main.ts')],
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Packages written as CommonJS call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __peftcRequire } from 'node:module';\nconst require = __peftcRequire(import.meta.url);" },
    ...BUNDLE,
    plugins: [stubs(opts), webgpuLoader()],
  });
  return { code: r.outputFiles[0]!.text, inputs: inputsOf(r.metafile) };
}

/**
 * How a page's script is bundled (the built trainer's page.js, the playground's playground.js):
 * one minified classic script, which loads from file:// and http:// alike, with its metafile.
 */
export const PAGE_SCRIPT = {
  ...BUNDLE,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: true,
} as const satisfies BuildOptions;

/** The page script as one classic script (it loads from file:// and http:// alike). */
export async function bundlePage(opts: BundleOptions): Promise<Bundle> {
  const r = await build({ ...PAGE_SCRIPT, entryPoints: [resolve(STANDALONE, 'page.ts')], plugins: [stubs(opts)] });
  return { code: r.outputFiles[0]!.text, inputs: inputsOf(r.metafile) };
}

/** The page's HTML (static; the script fills it in from trainer.json). */
export const PAGE_HTML = resolve(STANDALONE, 'index.html');
