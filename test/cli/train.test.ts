// `peftc train`, `eval`, `generate` and `check` as a user runs them: JSON logs, checkpoints,
// Ctrl-C saving a checkpoint that --resume continues, clear one-line errors.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { peftc } from './peftc.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SET = 'vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2';
const data = () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-train-'));
  const text = join(dir, 'text.txt');
  writeFileSync(text, 'It was the best of times, it was the worst of times. '.repeat(200));
  return { dir, text };
};

describe('peftc train', () => {
  it('logs one JSON object per step, validates, and writes a checkpoint and an adapter', () => {
    const { dir, text } = data();
    const out = join(dir, 'run');
    const r = peftc('train', 'examples/gpt2-lora.peft', '--set', SET, '--data', text, '--steps', '4', '--batch', '2', '--seq', '16', '--eval-every', '2', '--out', out, '--json', '--no-baseline');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines.filter((l) => 'loss' in l).map((l) => l.step)).toEqual([1, 2, 3, 4]);
    expect(lines.some((l) => l.val_loss !== undefined && l.step === 4)).toBe(true);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'adapter.safetensors'))).toBe(true);
    expect(readCheckpointDir(out).state.step).toBe(4);
  });

  it('the same seed and data give the same losses', () => {
    const { dir, text } = data();
    const run = (o: string) => peftc('train', 'examples/gpt2-lora.peft', '--set', SET, '--data', text, '--steps', '3', '--batch', '2', '--seq', '16', '--out', join(dir, o), '--json', '--no-baseline', '--seed', '7').stdout;
    const losses = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l) as { loss?: number }).filter((l) => l.loss !== undefined).map((l) => l.loss);
    expect(losses(run('a'))).toEqual(losses(run('b')));
  });

  it('Ctrl-C saves a checkpoint, and --resume continues exactly where it stopped', async () => {
    const { dir, text } = data();
    const out = join(dir, 'run');
    const common = ['examples/gpt2-lora.peft', '--set', SET, '--data', text, '--batch', '2', '--seq', '16', '--eval-every', '0', '--schedule', 'constant', '--json', '--no-baseline'];
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'train', ...common, '--steps', '100000', '--seed', '5', '--out', out], { cwd: ROOT });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('"step":3,') && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number>((res) => child.on('exit', (c) => res(c ?? -1)));
    expect(code).toBe(130);
    const saved = readCheckpointDir(out).state.step;
    expect(saved).toBeGreaterThanOrEqual(3);
    const losses = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss?: number }).filter((l) => l.loss !== undefined);
    // Resuming takes the seed (hence the frozen base and the data order) from the checkpoint.
    const r = peftc('train', ...common, '--steps', String(saved + 2), '--resume', out);
    expect(r.code, r.stderr).toBe(0);
    const resumed = losses(r.stdout);
    expect(resumed.map((l) => l.step)).toEqual([saved + 1, saved + 2]);
    expect(readCheckpointDir(out).state.step).toBe(saved + 2);
    // A run without interruption (constant schedule, so the total does not matter) gives the same losses.
    const straight = losses(peftc('train', ...common, '--steps', String(saved + 2), '--seed', '5', '--out', join(dir, 'straight')).stdout);
    expect(resumed.map((l) => l.loss)).toEqual(straight.slice(saved).map((l) => l.loss));
  }, 180_000);

  it('bad input is one clear line, never a stack trace', () => {
    const r = peftc('train', 'examples/gpt2-lora.peft', '--set', SET, '--data', 'no-such-file.txt', '--steps', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^peftc: .*no-such-file\.txt/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const bad = peftc('train', 'examples/gpt2-lora.peft', '--set', SET, '--data', 'x', '--lr', 'fast');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--lr must be a number');
  });
});

describe('peftc eval and generate', () => {
  it('evaluates a checkpoint and generates from it', () => {
    const { dir, text } = data();
    const out = join(dir, 'run');
    expect(peftc('train', 'examples/gpt2-lora.peft', '--set', SET, '--data', text, '--steps', '2', '--batch', '2', '--seq', '16', '--out', out, '--no-baseline').code).toBe(0);
    const e = peftc('eval', 'examples/gpt2-lora.peft', '--set', SET, '--adapter', out, '--data', text, '--seq', '16', '--json');
    expect(e.code, e.stderr).toBe(0);
    const m = JSON.parse(e.stdout) as { loss: number; perplexity: number };
    expect(m.perplexity).toBeCloseTo(Math.exp(m.loss), 6);
    const g = peftc('generate', 'examples/gpt2-lora.peft', '--set', SET, '--adapter', out, '--prompt', 'It was', '--max-tokens', '8', '--temperature', '0');
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout.startsWith('It was')).toBe(true);
  });
});

describe('peftc check', () => {
  it('prints every error with its source line and exits 1', () => {
    const { dir } = data();
    const f = join(dir, 'bad.peft');
    writeFileSync(f, `import "${resolve(ROOT, 'examples/gpt2.peft')}"\npeft {\n  lora(rank = 0) on "c_attn"\n  adapter(bottleneck = 8) on "h.*.mlpp"\n}\n`);
    const r = peftc('check', f, '--set', SET);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bad.peft:3:3: error E0404');
    expect(r.stderr).toContain('bad.peft:4:30: error E0401');
    expect(r.stderr).toContain('2 errors');
    expect(readFileSync(f, 'utf8')).toContain('lora'); // untouched
  });
});
