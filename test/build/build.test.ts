// `peftc build`: a standalone trainer for a tiny GPT-2 with LoRA (dropout on, so the evaluation
// plan is used too), run in Node on SwiftShader and llvmpipe and in headless Chromium on
// SwiftShader. The same data and seed must give the same losses everywhere, the same as
// `peftc train` on WebGPU and on the CPU reference, and the checkpoints must load with
// `peftc eval --adapter`. A missing adapter or browser fails; nothing is skipped.
//
// Tolerances (relative): Node ↔ Chromium, both SwiftShader running the same software-kernel
// plan, 1e-5 on each loss and 1e-4 on each gradient norm; built trainer ↔ `peftc train
// --backend webgpu` and ↔ the CPU reference (f32), 1e-5 on each loss (the plan suite's bound
// for 20 AdamW steps); parameters after training, 1e-5 · (1 + |p|).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_COMPILER_FILES, bundleNode, bundlePage } from '../../cli/build-bundle.ts';
import { DEFAULT_CAPS } from '../../codegen/wgsl/caps.ts';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { getFloat32 } from '../../runtime/io/safetensors.ts';
import type { PlanSet, TrainerManifest } from '../../runtime/standalone/manifest.ts';
import { peftc } from '../cli/peftc.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.PEFTC_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SET = 'vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2';
const STEPS = 6;
/** The model, the same for `peftc build`, `peftc train` and `peftc eval` (its frozen weights are drawn from seed 0). */
const MODEL = ['examples/gpt2-lora.peft', '--set', SET];
/** The run, the same for `peftc build` (as defaults) and `peftc train`. */
const RUN = ['--batch', '2', '--seq', '16', '--eval-rows', '4', '--eval-every', '3', '--lr', '3e-3', '--seed', '0'];

interface Log {
  losses: number[];
  gradNorms: number[];
  valLosses: number[];
}

/** The JSON lines of `peftc train --json` and of `node train.mjs --json` (the same keys). */
function parseLog(stdout: string): Log {
  const lines = stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { loss?: number; grad_norm?: number; val_loss?: number });
  return {
    losses: lines.filter((l) => l.loss !== undefined).map((l) => l.loss!),
    gradNorms: lines.filter((l) => l.grad_norm !== undefined).map((l) => l.grad_norm!),
    valLosses: lines.filter((l) => l.val_loss !== undefined).map((l) => l.val_loss!),
  };
}

function expectClose(what: string, got: number[], want: number[], rel: number): number {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  got.forEach((g, i) => {
    const err = Math.abs(g - want[i]!) / Math.max(Math.abs(want[i]!), 1e-30);
    worst = Math.max(worst, err);
    expect(err, `${what}[${i}]: ${g} vs ${want[i]}`).toBeLessThanOrEqual(rel);
  });
  return worst;
}

/** Runs the built trainer's Node entry. */
function trainer(dir: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(dir, 'train.mjs'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function adapterValues(dir: string): Map<string, Float32Array> {
  const ck = readCheckpointDir(dir);
  const out = new Map<string, Float32Array>();
  for (const name of ck.file.tensors.keys()) if (name.startsWith('param.')) out.set(name, getFloat32(ck.file, name));
  return out;
}

let work: string;
let text: string;
let built: string;
let nodeLog: Log | undefined;

/** The built trainer's run in Node on SwiftShader (once; the browser's run is compared with it). */
function nodeRun(): Log {
  if (!nodeLog) {
    const r = trainer(built, '--data', text, '--out', join(work, 'ck-node'), '--json', '--gpu', 'swiftshader');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('software kernels');
    nodeLog = parseLog(r.stdout);
  }
  return nodeLog;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'peftc-build-'));
  text = join(work, 'text.txt');
  const lines = ['It was the best of times, it was the worst of times,', 'it was the age of wisdom, it was the age of foolishness,', 'it was the epoch of belief, it was the epoch of incredulity.'];
  writeFileSync(text, Array.from({ length: 120 }, (_, i) => lines[i % 3]).join('\n'));
  built = join(work, 'trainer');
  const r = peftc('build', ...MODEL, ...RUN, '--steps', String(STEPS), '--data', text, '-o', built);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toContain(`built ${built}`);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('peftc build: the trainer folder', () => {
  it('holds the manifest, both kinds of plans for WebGPU\'s default limits, the weights, the sample and two bundles', () => {
    for (const f of ['trainer.json', 'plan.json', 'weights.safetensors', 'sample.txt', 'train.mjs', 'index.html', 'page.js', 'package.json']) {
      expect(existsSync(join(built, f)), f).toBe(true);
    }
    const m = JSON.parse(readFileSync(join(built, 'trainer.json'), 'utf8')) as TrainerManifest;
    expect(m.format).toBe('peftc-trainer/1');
    expect(m.dims).toEqual({ B: 2, T: 16 });
    expect(m.target.limits).toEqual(DEFAULT_CAPS.limits);
    expect(m.target.kernels).toEqual(['hardware', 'software']);
    expect(m.settings).toMatchObject({ steps: STEPS, lr: 3e-3, evalRows: 4, evalEvery: 3, seed: 0 });
    expect(m.params.filter((p) => p.partition === 'trainable').map((p) => p.path)).toEqual(['h.0.attn.c_attn.lora_A.weight', 'h.0.attn.c_attn.lora_B.weight']);
    const plans = JSON.parse(readFileSync(join(built, 'plan.json'), 'utf8')) as PlanSet;
    for (const kind of ['hardware', 'software'] as const) {
      const p = plans[kind]!;
      expect(p.train.dropout).toBe('train');
      expect(p.eval?.dropout).toBe('eval'); // GPT-2's dropout draws masks: evaluation has its own plan
      expect(p.train.shaders.every((s) => s.wgsl.includes('@compute'))).toBe(true);
    }
    expect(plans.software!.train.shaders.some((s) => s.label.includes('_wg_'))).toBe(false);
    expect(plans.hardware!.train.shaders.some((s) => s.label.includes('_wg_'))).toBe(true);
  });

  it('neither bundle carries the compiler: no grammar, no chevrotain, no planner', async () => {
    for (const f of ['train.mjs', 'page.js']) expect(readFileSync(join(built, f), 'utf8'), f).not.toMatch(/chevrotain/i);
    for (const bundle of [await bundleNode({ tokenizer: 'byte' }), await bundlePage({ tokenizer: 'gpt2' })]) {
      expect(bundle.inputs.filter((p) => p.startsWith('grammar/') || p.includes('chevrotain'))).toEqual([]);
      expect(bundle.inputs.filter((p) => p.startsWith('compiler/') && !BUNDLE_COMPILER_FILES.includes(p))).toEqual([]);
      expect(bundle.inputs).toContain('runtime/standalone/trainer.ts');
      expect(bundle.inputs.some((p) => p.startsWith('codegen/'))).toBe(false); // the plan carries the WGSL
    }
  });

  it('refuses an output folder that is not a trainer, and what built trainers cannot run yet', () => {
    const other = join(work, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    const r = peftc('build', ...MODEL, '--batch', '2', '--seq', '16', '-o', other);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^peftc: -o .*other: the folder exists and is not a built trainer/);
    const prefix = peftc('build', 'examples/gpt2-prefix.peft', '--set', SET, '--batch', '2', '--seq', '8', '-o', join(work, 'prefix'));
    expect(prefix.code).toBe(1);
    expect(prefix.stderr).toMatch(/^peftc: built trainers do not support prefix tuning with a reparameterisation MLP/);
  });
});

describe('the built trainer in Node', () => {
  it('trains on SwiftShader, as `peftc train` does on WebGPU and on the CPU, and saves a checkpoint peftc eval reads', () => {
    const node = nodeRun();
    expect(node.losses).toHaveLength(STEPS);
    expect(node.losses.every(Number.isFinite)).toBe(true);
    expect(node.valLosses).toHaveLength(3); // before, after step 3, at the end
    expect(node.valLosses[2]!).toBeLessThan(node.valLosses[0]!);

    const train = (backend: string, out: string) => {
      const t = peftc('train', ...MODEL, ...RUN, '--steps', String(STEPS), '--data', text, '--json', '--no-baseline', '--backend', backend, '--gpu', 'swiftshader', '--out', join(work, out));
      expect(t.code, t.stderr).toBe(0);
      return parseLog(t.stdout);
    };
    const gpu = train('webgpu', 'run-gpu');
    const cpu = train('cpu', 'run-cpu');
    const worst = {
      webgpu: expectClose('losses vs peftc train --backend webgpu', node.losses, gpu.losses, 1e-5),
      cpu: expectClose('losses vs peftc train --backend cpu', node.losses, cpu.losses, 1e-5),
      valCpu: expectClose('validation losses vs the CPU', node.valLosses, cpu.valLosses, 1e-5),
    };
    console.log(`built trainer (Node, SwiftShader) losses ${node.losses.map((l) => l.toFixed(6)).join(' ')}; worst relative difference: peftc train webgpu ${worst.webgpu.toExponential(2)}, cpu ${worst.cpu.toExponential(2)}, validation vs cpu ${worst.valCpu.toExponential(2)}`);

    const ck = readCheckpointDir(join(work, 'ck-node'));
    expect(ck.state.step).toBe(STEPS);
    expect(ck.state.seed).toBe(0);
    const base = peftc('eval', ...MODEL, '--data', text, '--seq', '16', '--batch', '2', '--json');
    const tuned = peftc('eval', ...MODEL, '--adapter', join(work, 'ck-node'), '--data', text, '--seq', '16', '--batch', '2', '--json');
    expect(tuned.code, tuned.stderr).toBe(0);
    const loss = (s: string) => (JSON.parse(s) as { loss: number }).loss;
    expect(loss(tuned.stdout)).toBeLessThan(loss(base.stdout));
  });

  it('gives the same losses on llvmpipe, and with the hardware kernels', () => {
    const llvm = trainer(built, '--data', text, '--out', join(work, 'ck-llvmpipe'), '--json', '--gpu', 'llvmpipe');
    expect(llvm.code, llvm.stderr).toBe(0);
    const onLlvmpipe = expectClose('llvmpipe losses', parseLog(llvm.stdout).losses, nodeRun().losses, 1e-5);
    // The hardware plan alone (workgroup tiling and barriers), on llvmpipe, where barriers cost
    // less than on SwiftShader; against the software plan on SwiftShader. Two steps.
    const hw = join(work, 'trainer-hw');
    const b = peftc('build', ...MODEL, ...RUN, '--kernels', 'hardware', '-o', hw);
    expect(b.code, b.stderr).toBe(0);
    const short = ['--data', text, '--steps', '2', '--schedule', 'constant', '--eval-rows', '1', '--eval-every', '0', '--json'];
    const r = trainer(hw, ...short, '--out', join(work, 'ck-hw'), '--gpu', 'llvmpipe');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('hardware kernels');
    const soft = trainer(built, ...short, '--out', join(work, 'ck-sw'), '--gpu', 'swiftshader');
    const hardware = expectClose('hardware-kernel losses', parseLog(r.stdout).losses, parseLog(soft.stdout).losses, 1e-5);
    console.log(`worst relative loss difference: llvmpipe vs SwiftShader ${onLlvmpipe.toExponential(2)}; hardware kernels (llvmpipe) vs software kernels (SwiftShader) ${hardware.toExponential(2)}`);
  });

  it('--frozen-dtype f16: the plans store the frozen matrices in half floats, and the trainer runs them', () => {
    const half = join(work, 'trainer-f16');
    const b = peftc('build', ...MODEL, ...RUN, '--frozen-dtype', 'f16', '-o', half);
    expect(b.code, b.stderr).toBe(0);
    const plans = JSON.parse(readFileSync(join(half, 'plan.json'), 'utf8')) as PlanSet;
    const slots = plans.software!.train.frozen.slots;
    expect(slots.filter((x) => x.dtype === 'f16').map((x) => x.path)).toContain('wte.weight');
    expect(plans.software!.train.stats.frozenBytes).toBeLessThan(0.6 * (JSON.parse(readFileSync(join(built, 'plan.json'), 'utf8')) as PlanSet).software!.train.stats.frozenBytes);
    const short = ['--data', text, '--steps', '2', '--schedule', 'constant', '--eval-rows', '1', '--eval-every', '0', '--json'];
    const r = trainer(half, ...short, '--out', join(work, 'ck-f16'), '--gpu', 'llvmpipe');
    expect(r.code, r.stderr).toBe(0);
    const f32 = trainer(built, ...short, '--out', join(work, 'ck-f32'), '--gpu', 'llvmpipe');
    // f16 weights change the model a little: the same losses to within 1e-2, not 1e-5
    expectClose('f16 vs f32 frozen weights', parseLog(r.stdout).losses, parseLog(f32.stdout).losses, 1e-2);
  });

  it('bad flags are one line and exit 1', () => {
    for (const [args, msg] of [[['--steps', 'many'], '--steps must be an integer'], [['--gpu', 'quantum'], '--gpu must be one of'], [['--data', join(work, 'nope.txt')], 'nope.txt: no such file'], [['--frobnicate'], "Unknown option '--frobnicate'"]] as const) {
      const r = trainer(built, ...args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('the built trainer in headless Chromium (SwiftShader)', () => {
  let browser: Browser;
  let server: ChildProcess;
  let url: string;

  beforeAll(async () => {
    server = spawn(process.execPath, [join(built, 'train.mjs'), '--serve', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    url = await new Promise<string>((res, rej) => {
      server.stdout!.on('data', (d: Buffer) => {
        const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(String(d));
        if (m) res(m[0]);
      });
      server.on('exit', (code) => rej(new Error(`the server exited with ${code}`)));
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    server?.kill();
  });

  it('trains on the sample with the losses Node got, downloads a checkpoint peftc eval reads, and repeats a run from a picked file', async () => {
    const node = nodeRun();
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    await page.goto(url);
    const settle = async (states: string[]) => {
      await page.waitForFunction((s) => s.includes(document.documentElement.dataset.state ?? ''), states, { timeout: 120_000 });
      return page.evaluate(() => document.documentElement.dataset.state);
    };
    expect(await settle(['ready', 'error']), await page.locator('#status').innerText()).toBe('ready');
    expect(await page.locator('#status').innerText()).toContain('swiftshader');

    const run = async () => {
      await page.click('#train');
      expect(await settle(['done', 'error']), await page.locator('#status').innerText()).toBe('done');
      return page.evaluate(() => (window as unknown as { peftcResult: { losses: number[]; gradNorms: number[]; before: number; valLoss: number } }).peftcResult);
    };
    const first = await run();
    const worst = expectClose('Chromium vs Node losses', first.losses, node.losses, 1e-5);
    expectClose('Chromium vs Node gradient norms', first.gradNorms, node.gradNorms, 1e-4);
    expectClose('Chromium vs Node validation', [first.before, first.valLoss], [node.valLosses[0]!, node.valLosses[2]!], 1e-5);
    console.log(`Chromium losses ${first.losses.map((l) => l.toFixed(6)).join(' ')}; worst relative difference from Node ${worst.toExponential(2)}`);

    const ckDir = join(work, 'ck-browser');
    mkdirSync(ckDir);
    for (const name of ['checkpoint', 'adapter']) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#download-${name}`)]);
      expect(download.suggestedFilename()).toBe(`${name}.safetensors`);
      await download.saveAs(join(ckDir, `${name}.safetensors`));
    }
    expect(readCheckpointDir(ckDir).state.step).toBe(STEPS);
    const fromNode = adapterValues(join(work, 'ck-node'));
    for (const [name, v] of adapterValues(ckDir)) {
      const want = fromNode.get(name)!;
      v.forEach((x, i) => expect(Math.abs(x - want[i]!), name).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i]!))));
    }
    const evalOf = (adapter: string) => {
      const e = peftc('eval', ...MODEL, '--adapter', adapter, '--data', text, '--seq', '16', '--batch', '2', '--json');
      expect(e.code, e.stderr).toBe(0);
      return (JSON.parse(e.stdout) as { loss: number }).loss;
    };
    expectClose('peftc eval of the browser adapter vs the Node checkpoint', [evalOf(join(ckDir, 'adapter.safetensors'))], [evalOf(join(work, 'ck-node'))], 1e-5);

    // A second run in the same page starts again from the initial weights.
    await page.setInputFiles('#file', text);
    expect(await page.isChecked('#use-file')).toBe(true);
    const second = await run();
    expectClose('second run', second.losses, first.losses, 1e-6);
    expect(problems).toEqual([]);
    await context.close();
  });
});
