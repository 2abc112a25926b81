// `peftc compile --emit plan|wgsl` end to end (no GPU: WebGPU's default limits).
import { describe, expect, it } from 'vitest';
import { peftc } from './peftc.ts';

const SET = '--set=vocab_size=64,n_positions=32,n_embd=32,n_layer=2,n_head=2';

describe('peftc compile --emit plan | wgsl', () => {
  it('prints the plan: bytes by category and kernels in order', () => {
    const r = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'plan', '--batch', '2', '--seq', '16', SET);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^plan B=2 T=16 training step/);
    for (const s of ['frozen params', 'gradients', 'optimizer state', 'activations peak', '\nforward\n', '\nbackward\n', '\noptimizer\n', 'optimizer_adamw']) {
      expect(r.stdout).toContain(s);
    }
  });

  it('prints every distinct shader once', () => {
    const r = peftc('compile', 'examples/llama-lora.peft', '--emit', 'wgsl', '--batch', '1', '--seq', '8', '--set=vocab_size=32,hidden_size=16,intermediate_size=24,num_hidden_layers=2,num_attention_heads=4,num_key_value_heads=2');
    expect(r.code).toBe(0);
    const labels = [...r.stdout.matchAll(/^\/\/ ---- shader \d+: (\S+)/gm)].map((m) => m[1]);
    expect(labels.length).toBeGreaterThan(10);
    expect(labels).toContain('optimizer_adamw');
    expect(r.stdout).toContain('@compute');
  });

  it('a tensor over the binding limit is one line naming it, exit 1', () => {
    const r = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'plan', '--batch', '64', '--seq', '1024', '--set=n_layer=1,vocab_size=1000');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^peftc: tensor %2 \(embedding in wte\) \[64, 1024, 768\] needs 192\.0 MiB in one binding, more than this adapter's maxStorageBufferBindingSize \(128\.0 MiB\); embedding is not split.*use a smaller batch or sequence\n$/);
  });

  it('splits GPT-2\'s token table (147 MiB) and logits (196 MiB) over WebGPU\'s default 128 MiB bindings', () => {
    const r = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'plan', '--batch', '8', '--seq', '128', '--set=n_layer=1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/%2 embedding \(wte\) \[piece 1\/2\] +embedding_43648x768_1024_rows0 /);
    expect(r.stdout).toMatch(/linear \(lm_head\) \[piece 4\/4\]/);
    expect(r.stdout).toMatch(/cross_entropy\+cross_entropy_grad \[piece 2\/2\]/);
    // every bound range within 128 MiB: [offset+bytes] in the dispatch lines
    const ranges = [...r.stdout.matchAll(/#\d+\[(\d+)\+(\d+)\]/g)].map((m) => Number(m[2]));
    expect(ranges.length).toBeGreaterThan(10);
    expect(Math.max(...ranges)).toBeLessThanOrEqual(128 * 2 ** 20);
  });

  it('GPT-2 within WebGPU\'s default limits: the f32 frozen arena in two buffers; --frozen-dtype f16 halves it', () => {
    const f32 = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'plan', '--batch', '1', '--seq', '8');
    expect(f32.code).toBe(0);
    expect(f32.stdout).toMatch(/frozen params +474\.70 MiB/);
    expect(f32.stdout).toMatch(/params\.frozen\.0 +249\.39 MiB/);
    expect(f32.stdout).toMatch(/params\.frozen\.1 +225\.31 MiB/);
    const f16 = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'plan', '--batch', '1', '--seq', '8', '--frozen-dtype', 'f16');
    expect(f16.stdout).toMatch(/frozen params +237\.58 MiB/); // LayerNorm's vectors stay f32
    expect(f16.stdout).toMatch(/matmul_\w+_hb/);
    const bad = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'plan', '--frozen-dtype', 'bf16');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('peftc: --frozen-dtype must be one of f32, f16, int8, nf4, nf4dq, not `bf16`\n');
  });

  it('refuses bad --batch values', () => {
    const r = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'plan', '--batch', '0', SET);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--batch must be a positive integer');
  });
});
