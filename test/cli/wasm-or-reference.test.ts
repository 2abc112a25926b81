// `--backend auto` without a hardware GPU falls back to the wasm backend; a model whose frozen f32
// weights do not fit its 4 GiB WebAssembly memory (TinyLlama, 4.1 GiB) runs on the CPU reference
// instead, with one note saying why, where `--backend wasm` named explicitly is refused in one line.
// (TinyLlama's store is allocated, not filled: nothing is copied before the size is refused.)
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeHost } from '../../cli/node-host.ts';
import { openWasmOrReference } from '../../cli/wasm-or-reference.ts';
import { compile } from '../../compiler/build.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore } from '../../runtime/arena.ts';
import { openWasmBackend } from '../../runtime/wasm/backend.ts';
import { EXAMPLES } from '../helpers.ts';

const graphOf = (name: string) => compile(resolve(EXAMPLES, name), nodeHost, {}).graph!;

describe('--backend auto on the CPU', () => {
  it('runs the CPU reference, saying so once, where the model does not fit the wasm backend', () => {
    const g = graphOf('llama-lora.peft');
    const t = buildTrainingGraph(g);
    const store = createStore(g, 'f32');
    expect(() => openWasmBackend(t, store, { threads: 1 })).toThrow(
      /^the wasm backend keeps its data in one WebAssembly memory of at most 4 GiB; the frozen weights \(4\.10 GiB in f32\) would need 4\.10 GiB: use --backend cpu or webgpu/,
    );
    const notes: string[] = [];
    const backend = openWasmOrReference(t, store, 1, (m) => notes.push(m));
    expect(backend.name).toBe('cpu');
    expect(notes).toEqual(["the wasm backend's 4 GiB WebAssembly memory cannot hold the frozen weights (4.10 GiB in f32); --backend auto runs the CPU reference (--backend cpu) instead"]);
    expect(openWasmOrReference(t, store, 1, (m) => notes.push(m)).name).toBe('cpu');
    expect(notes).toHaveLength(1);
  });

  it('runs the wasm backend where the model fits', () => {
    const g = graphOf('tiny-gpt-lora.peft');
    const backend = openWasmOrReference(buildTrainingGraph(g), createStore(g, 'f32'), 1, () => {
      throw new Error('no note expected');
    });
    expect(backend.name).toBe('wasm');
  });
});
