// Generates examples/RESULTS.md (never typed by hand): every method on the tiny GPT base,
// fine-tuned on the same data with the same step budget, run through the `peftc` CLI as a
// user would. Usage: npx tsx scripts/results.ts [--steps N] [--backend cpu|webgpu]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const STEPS = arg('--steps', '100');
const BACKEND = arg('--backend', 'cpu');
const COMMON = ['--init', 'examples/tiny-gpt.safetensors', '--data', 'sotu:1990-2021', '--steps', STEPS, '--batch', '16', '--seq', '48', '--lr', '3e-3', '--warmup', '10', '--eval-every', '0', '--eval-rows', '128', '--seed', '1', '--backend', BACKEND, '--json', '--no-baseline'];

/** The LoRA rows on a quantized frozen base (docs/quantization.md), compared below with LoRA's. */
const QUANT = { int8: 'LoRA, frozen base in int8', nf4: 'LoRA, frozen base in nf4 (QLoRA)' };
const LORA = 'LoRA (r = 8 on c_attn, c_fc)';

const METHODS: { name: string; file: string; extra: string[] }[] = [
  { name: LORA, file: 'examples/tiny-gpt-lora.peft', extra: [] },
  { name: 'Adapters (Houlsby, bottleneck 16)', file: 'examples/tiny-gpt-adapter.peft', extra: [] },
  { name: 'Prefix tuning (16, MLP 128)', file: 'examples/tiny-gpt-prefix.peft', extra: [] },
  { name: 'Prompt tuning (16 tokens)', file: 'examples/tiny-gpt-prompt.peft', extra: ['--lr', '3e-2'] },
  { name: 'IA³ (c_attn, mlp.c_proj as feed-forward)', file: 'examples/tiny-gpt-ia3.peft', extra: ['--lr', '1e-2'] },
  { name: 'Full fine-tuning', file: 'examples/tiny-gpt.peft', extra: ['--lr', '1e-3'] },
  { name: 'DoRA (r = 8 on c_attn, c_fc)', file: 'examples/tiny-gpt-dora.peft', extra: [] },
  { name: 'LoRA+ (r = 8, B at 16 × the rate)', file: 'examples/tiny-gpt-lora-plus.peft', extra: [] },
  { name: QUANT.int8, file: 'examples/tiny-gpt-lora.peft', extra: ['--frozen-dtype', 'int8'] },
  { name: QUANT.nf4, file: 'examples/tiny-gpt-lora.peft', extra: ['--frozen-dtype', 'nf4'] },
];

interface Row { name: string; trainable: string; before: number; after: number; stepMs: number; checkpoint: number; adapter: number }

function peftc(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`peftc ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

const loadBefore = loadavg()[0]!;
const dir = mkdtempSync(join(tmpdir(), 'peftc-results-'));
const rows: Row[] = [];
for (const m of METHODS) {
  const out = join(dir, m.name.replace(/\W+/g, '-'));
  const summary = peftc(['params', m.file, '--json']);
  const s = JSON.parse(summary) as { trainable: number; kept: { trainable: number } };
  const t0 = Date.now();
  const lines = peftc(['train', m.file, ...COMMON, ...m.extra, '--out', out]).trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  const evals = lines.filter((l) => l.val_loss !== undefined);
  const steps = lines.filter((l) => l.loss !== undefined);
  const tps = steps[steps.length - 1]!.tokens_per_s!;
  rows.push({
    name: m.name,
    trainable: s.kept.trainable === s.trainable ? s.trainable.toLocaleString('en-US') : `${s.trainable.toLocaleString('en-US')} (kept ${s.kept.trainable.toLocaleString('en-US')})`,
    before: evals[0]!.val_loss!,
    after: evals[evals.length - 1]!.val_loss!,
    stepMs: (16 * 48 * 1000) / tps,
    checkpoint: statSync(join(out, 'checkpoint.safetensors')).size,
    adapter: statSync(join(out, 'adapter.safetensors')).size,
  });
  process.stderr.write(`${m.name}: ${evals[0]!.val_loss!.toFixed(4)} → ${evals[evals.length - 1]!.val_loss!.toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
}

/** How far LoRA on a quantized base ends from LoRA on the f32 base (the same run otherwise). */
function quantized(): string {
  const after = (name: string) => rows.find((r) => r.name === name)?.after;
  const f32 = after(LORA);
  const parts = (['int8', 'nf4'] as const).flatMap((d) => {
    const q = after(QUANT[d]);
    return q === undefined || f32 === undefined ? [] : [`${d} ${q >= f32 ? '+' : '−'}${(Math.abs(q / f32 - 1) * 100).toFixed(2)} %`];
  });
  return `Quantized frozen bases (\`--frozen-dtype\`, the base quantized as bitsandbytes does; the LoRA matrices
stay f32): LoRA's validation loss after training, against LoRA on the f32 base: ${parts.join(', ')}.
The "before" column is the quantized base's own loss.`;
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const table = [
  '| method | trainable params | val loss before | val loss after | step time | checkpoint (resumable) | saved adapter |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.name} | ${r.trainable} | ${r.before.toFixed(4)} | ${r.after.toFixed(4)} | ${r.stepMs.toFixed(0)} ms | ${kb(r.checkpoint)} | ${kb(r.adapter)} |`),
].join('\n');
const md = `# Results: every method on the same data and step budget

Generated by \`npx tsx scripts/results.ts --steps ${STEPS} --backend ${BACKEND}\` on ${new Date().toISOString().slice(0, 10)}; do not edit by hand.

Base: examples/tiny-gpt.safetensors (${'220,544'} parameters, trained by peftc on Moby-Dick, see
examples/README.md). Data: State of the Union addresses 1990–2021 (\`sotu:1990-2021\`, byte
tokenizer), ${STEPS} AdamW steps of 16 × 48 tokens, cosine schedule with 10 warm-up steps, seed 1;
validation loss in nats per byte on 128 held-out rows. Learning rate 3e-3 (prompt tuning 3e-2, IA³ 1e-2,
full fine-tuning 1e-3). Step time is the mean over the run's steps on the \`${BACKEND}\` backend of
a shared 2-core machine (load average ${loadBefore.toFixed(1)} at the start of this run and ${loadavg()[0]!.toFixed(1)} at its end), so compare rows run at the same load rather than read absolute numbers. Prefix and prompt
tuning start above the base's loss: their fresh virtual tokens perturb the model before training;
IA³ starts at the base (its vectors start at one).

${table}

${quantized()}

The checkpoint holds the trainable parameters and both AdamW moments (what \`--resume\` needs);
the saved adapter holds the trainable weights alone, with the prefix MLP replaced by the prefixes
it produces.
`;
// The demo's measured runs (scripts/demo.sh, recorded by hand) follow the generated part: kept.
const DEMO_HEADING = '\n## The demo: spam or ham';
const previous = existsSync(join(ROOT, 'examples/RESULTS.md')) ? readFileSync(join(ROOT, 'examples/RESULTS.md'), 'utf8') : '';
const demo = previous.includes(DEMO_HEADING) ? previous.slice(previous.indexOf(DEMO_HEADING)) : '';
writeFileSync(join(ROOT, 'examples/RESULTS.md'), md + demo);
process.stderr.write(md);
