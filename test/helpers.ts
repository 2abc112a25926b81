// Shared helpers of the test suite: compiling the bundled examples.
import { resolve } from 'node:path';
import { compile, type CompileResult } from '../compiler/build.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { nodeHost } from '../cli/node-host.ts';
import { formatDiagnostic } from '../grammar/index.ts';

export const EXAMPLES = resolve(import.meta.dirname, '../examples');

/** Small settings under which every example must keep working. */
export const TINY: Record<string, string> = {
  gpt2: 'vocab_size=32,n_positions=64,n_embd=16,n_layer=2,n_head=2',
  bert: 'vocab_size=32,max_position_embeddings=16,hidden_size=16,num_hidden_layers=2,num_attention_heads=2,intermediate_size=32,num_labels=3',
  llama: 'vocab_size=32,hidden_size=16,intermediate_size=24,num_hidden_layers=2,num_attention_heads=4,num_key_value_heads=2',
};

export function compileExample(name: string, set: string[] = [], full = false): CompileResult {
  return compile(resolve(EXAMPLES, name), nodeHost, { set, full });
}

/** Compiles and fails the test with the formatted diagnostics if there are errors. */
export function graphOf(name: string, set: string[] = [], full = false): Graph {
  const res = compileExample(name, set, full);
  if (!res.graph) {
    const text = res.diagnostics.map((d) => formatDiagnostic(d, res.texts.get(d.range.file) ?? '')).join('\n');
    throw new Error(`${name} did not compile:\n${text}`);
  }
  return res.graph;
}

export function tinySet(name: string): string[] {
  const family = name.includes('gpt') ? 'gpt2' : name.startsWith('bert') ? 'bert' : 'llama';
  return [TINY[family]!];
}

/** A host that serves some files from memory and the rest from disk. */
export function overlayHost(files: Record<string, string>): import('../compiler/load.ts').SourceHost {
  return {
    read: (p) => files[p] ?? nodeHost.read(p),
    resolve: nodeHost.resolve,
  };
}

/** Compiles a .peft text that may `import "gpt2.peft"` etc. from examples/. */
export function compileText(text: string, set: string[] = [], full = false): CompileResult {
  const path = resolve(EXAMPLES, '__test__.peft');
  return compile(path, overlayHost({ [path]: text }), { set, full });
}

export function graphOfText(text: string, set: string[] = [], full = false): Graph {
  const res = compileText(text, set, full);
  if (!res.graph) {
    throw new Error(res.diagnostics.map((d) => formatDiagnostic(d, res.texts.get(d.range.file) ?? '')).join('\n'));
  }
  return res.graph;
}
