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
    expect(r.stderr).toMatch(/^peftc: tensor %2 \(embedding in wte\) \[64, 1024, 768\] needs 192\.0 MiB in one binding, more than this adapter's maxStorageBufferBindingSize \(128\.0 MiB\).*use a smaller batch or sequence\n$/);
    // GPT-2's own embedding table is over WebGPU's default limit of 128 MiB.
    const big = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'plan', '--batch', '1', '--seq', '8', '--set=n_layer=1');
    expect(big.stderr).toMatch(/^peftc: parameter wte\.weight \[50257, 768\] needs 147\.2 MiB in one binding.*use an adapter with a larger limit\n$/);
  });

  it('refuses bad --batch values', () => {
    const r = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'plan', '--batch', '0', SET);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--batch must be a positive integer');
  });
});
