// Rank selection and prompt templates from the command line: train, params/viz --adapter,
// eval/generate/export --rank, a template trained, sampled from and exported (or not).
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { peftc } from './peftc.ts';

const SET = 'vocab_size=256,n_positions=32,n_embd=16,n_layer=2,n_head=2';
const setup = () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-rank-'));
  const text = join(dir, 'text.txt');
  writeFileSync(text, 'It was the best of times, it was the worst of times. '.repeat(100));
  return { dir, text };
};
const train = (file: string, dir: string, text: string, steps: string, ...more: string[]) =>
  peftc('train', file, '--set', SET, '--data', text, '--steps', steps, '--batch', '2', '--seq', '16', '--out', join(dir, 'run'), '--no-baseline', '--eval-rows', '4', ...more);

describe('rank = auto(…) from the CLI', () => {
  it('trains to the target total rank, shows the ranks, and exports them as rank_pattern', () => {
    const { dir, text } = setup();
    const r = train('examples/tiny-gpt-adalora.peft', dir, text, '50');
    expect(r.code, r.stderr).toBe(0);
    // 4 modules, target 4: total 16.
    expect(r.stdout).toMatch(/ranks: h\.0\.attn\.c_attn 12 → \d+, .*; total 16 \(target 16\)/);
    const p = peftc('params', 'examples/tiny-gpt-adalora.peft', '--set', SET, '--adapter', join(dir, 'run'));
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/final_rank=\d+/);
    expect(p.stdout).toMatch(/ranks allocated by rank = auto\(…\): .*; total 16/);
    // By default PEFT's own AdaLoRA format (a boolean rank_pattern per module); --adalora-as-lora: a plain LoRA.
    const e = peftc('export', join(dir, 'run'), '--format', 'hf-peft', '-o', join(dir, 'hf'));
    expect(e.code, e.stderr).toBe(0);
    const ada = JSON.parse(readFileSync(join(dir, 'hf', 'adapter_config.json'), 'utf8')) as { peft_type: string; rank_pattern: Record<string, boolean[]> };
    expect(ada.peft_type).toBe('ADALORA');
    const kept = Object.values(ada.rank_pattern).map((mask) => mask.filter(Boolean).length);
    expect(kept.reduce((a, b) => a + b, 0)).toBe(16);
    const l = peftc('export', join(dir, 'run'), '--format', 'hf-peft', '--adalora-as-lora', '-o', join(dir, 'hf-lora'));
    expect(l.code, l.stderr).toBe(0);
    const cfg = JSON.parse(readFileSync(join(dir, 'hf-lora', 'adapter_config.json'), 'utf8')) as { peft_type: string; r: number; rank_pattern: Record<string, number> };
    expect(cfg.peft_type).toBe('LORA');
    const ranks = ['h.0.attn.c_attn', 'h.0.mlp.c_fc', 'h.1.attn.c_attn', 'h.1.mlp.c_fc'].map((m) => cfg.rank_pattern[m] ?? cfg.r);
    expect(ranks.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(16); // modules that kept none are left out
    const v = peftc('viz', 'examples/tiny-gpt-adalora.peft', '--set', SET, '--adapter', join(dir, 'run'), '-o', join(dir, 'p.html'));
    expect(v.code, v.stderr).toBe(0);
    expect(readFileSync(join(dir, 'p.html'), 'utf8')).toContain('final_rank');
  });

  it('says when the run is too short for the schedule', () => {
    const { dir, text } = setup();
    const r = train('examples/tiny-gpt-adalora.peft', dir, text, '30');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^peftc: rank = auto\(…\) needs a budgeting phase: the run has 30 steps, tinit is 20 and tfinal 20/);
  });
});

describe('rank = dynamic(…) from the CLI', () => {
  it('evaluates, generates and exports at a chosen rank', () => {
    const { dir, text } = setup();
    expect(train('examples/tiny-gpt-dylora.peft', dir, text, '4').code).toBe(0);
    const ev = (rank: string) => peftc('eval', 'examples/tiny-gpt-dylora.peft', '--set', SET, '--adapter', join(dir, 'run'), '--data', text, '--seq', '16', '--json', '--rank', rank);
    const two = ev('2');
    expect(two.code, two.stderr).toBe(0);
    expect(JSON.parse(two.stdout).loss).toBeGreaterThan(0);
    const bad = ev('9');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^peftc: --rank 9 exceeds the largest trained rank, 8/);
    const g = peftc('generate', 'examples/tiny-gpt-dylora.peft', '--set', SET, '--adapter', join(dir, 'run'), '--prompt', 'It was', '--max-tokens', '4', '--rank', '3');
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout.startsWith('It was')).toBe(true);
    const e = peftc('export', join(dir, 'run'), '--format', 'hf-peft', '-o', join(dir, 'hf'), '--rank', '3');
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'hf', 'adapter_config.json'), 'utf8')).r).toBe(3);
    const lora = peftc('eval', 'examples/tiny-gpt-lora.peft', '--set', SET, '--data', text, '--seq', '16', '--rank', '2');
    expect(lora.stderr).toMatch(/--rank chooses the rank of `lora\(rank = dynamic\(…\)\)` modules; this model has none/);
  });
});

describe('prompt templates from the CLI', () => {
  it('trains, generates in the template, and reports that a non-prefixed template does not export', () => {
    const { dir, text } = setup();
    const r = train('examples/tiny-gpt-template.peft', dir, text, '4');
    expect(r.code, r.stderr).toBe(0);
    const g = peftc('generate', 'examples/tiny-gpt-template.peft', '--set', SET, '--adapter', join(dir, 'run'), '--prompt', 'It was', '--max-tokens', '4');
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout.startsWith('It was That is')).toBe(true);
    const e = peftc('export', join(dir, 'run'), '--format', 'hf-peft', '-o', join(dir, 'hf'));
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/nothing in this fine-tune can be exported.*prompt template "\[P:4\] \{text\} \[P:2\] That is"/s);
    expect(existsSync(join(dir, 'hf'))).toBe(false);
  });
});
