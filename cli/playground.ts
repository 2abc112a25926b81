// `peftc playground [-o DIR]`: writes the playground, a static site that needs no network: the
// page (playground/index.html), its script (playground/main.ts bundled with esbuild: CodeMirror,
// the compiler, the language server's features, the partition view, the planner and the WebGPU
// runtime) and data.js (the examples, the partition view's assets, the tiny GPT's weights and the
// training text). See docs/playground.md.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { corpus } from '../runtime/data/corpora-node.ts';
import { vizAssets } from '../viz/html.ts';
import type { PlaygroundData } from './playground-data.ts';
import { UserError } from './errors.ts';
import { checkOutDir, outFolder } from './out-folder.ts';
import { PAGE_SCRIPT } from './build-bundle.ts';

const ROOT = resolve(import.meta.dirname, '..');
const SOURCES = resolve(ROOT, 'playground');
const EXAMPLES = resolve(ROOT, 'examples');
/** The files `peftc playground` writes; a folder holding others is not replaced. */
export const PLAYGROUND_FILES = ['index.html', 'playground.js', 'data.js'] as const;
const FIRST = 'examples/tiny-gpt-lora.peft';
const BASE = 'tiny-gpt.safetensors';
const CORPUS_YEARS: [number, number] = [2015, 2021];

export interface PlaygroundFlags {
  out?: string;
}

export async function playgroundCommand(flags: PlaygroundFlags): Promise<number> {
  const out = flags.out ?? 'peftc-playground';
  checkOutDir(out, (entries) => entries.every((e) => (PLAYGROUND_FILES as readonly string[]).includes(e)), `the folder holds other files than a playground's (${PLAYGROUND_FILES.join(', ')})`);
  outFolder(out);
  const script = await bundlePlayground();
  const data = playgroundDataJs();
  write(out, 'playground.js', script.code);
  write(out, 'data.js', data);
  write(out, 'index.html', readFileSync(join(SOURCES, 'index.html'), 'utf8'));
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  process.stdout.write(`wrote ${out}/: index.html, playground.js (${mib(script.code.length)}), data.js (${mib(data.length)}); open ${join(out, 'index.html')} in a browser with WebGPU (no server needed)\n`);
  return 0;
}

/** The page script, and the source files in it (for the test). */
export async function bundlePlayground(): Promise<{ code: string; inputs: string[] }> {
  const r = await build({
    ...PAGE_SCRIPT,
    entryPoints: [join(SOURCES, 'main.ts')],
    alias: {
      // The language server's features use the protocol's types and enums only.
      'vscode-languageserver': 'vscode-languageserver-types',
      'node:path': 'path-browserify',
      'node:url': join(SOURCES, 'shims/url.ts'),
    },
    plugins: [byteTokenizerOnly()],
  });
  return { code: r.outputFiles[0]!.text, inputs: Object.keys(r.metafile.inputs) };
}

/** The page trains byte-level models only: GPT-2's BPE ranks and LLaMA's vocabulary stay out (1.7 MB). */
function byteTokenizerOnly(): Plugin {
  return {
    name: 'peftc-playground-tokenizers',
    setup(b) {
      b.onResolve({ filter: /^(js-tiktoken\/ranks\/gpt2|gpt-tokenizer\/bpeRanks\/r50k_base|llama-tokenizer-js)$/ }, (a) => ({ path: a.path, namespace: 'peftc-stub' }));
      b.onLoad({ filter: /.*/, namespace: 'peftc-stub' }, () => ({
        contents: "export default new Proxy({}, { get() { throw new Error('the playground trains byte-level models only'); } });",
        loader: 'js',
      }));
    },
  };
}

/** data.js: sets window.peftcPlaygroundData (a classic script: the page also works from file://). */
export function playgroundDataJs(): string {
  const examples: Record<string, string> = {};
  for (const f of readdirSync(EXAMPLES).filter((n) => n.endsWith('.peft')).sort()) examples[`examples/${f}`] = readFileSync(join(EXAMPLES, f), 'utf8');
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const data: PlaygroundData = {
    examples,
    first: FIRST,
    viz: vizAssets(),
    base: { name: `examples/${BASE}`, base64: readFileSync(join(EXAMPLES, BASE)).toString('base64') },
    corpus: { name: `sotu:${CORPUS_YEARS.join('-')}`, text: corpus('sotu', CORPUS_YEARS) },
    version,
  };
  return `window.peftcPlaygroundData = ${JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')};\n`;
}

/** Written whole or not at all: a reader never sees half a file. */
function write(dir: string, name: string, text: string): void {
  const path = join(dir, name);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    throw new UserError(`-o ${dir}: cannot write ${name} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}
