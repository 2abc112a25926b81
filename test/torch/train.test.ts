// The generated trainer: a 2-process torchrun (gloo) run gives the per-step losses of a
// 1-process run with the same global batch; its Hugging Face PEFT adapter, imported into
// peftc, evaluates to the validation loss the trainer logged; a run stopped and resumed takes
// the steps the uninterrupted run took; with one batch holding every row (so that the two
// trainers' row orders cannot differ), train.py takes `peftc train`'s steps with AdamW and SGD,
// with DoRA and embedding LoRA, and with rank selection (DyLoRA's draws, AdaLoRA's masking and
// final ranks, the adapter `peftc export` writes).
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCommand } from '../../cli/build.ts';
import { dataRows } from '../../cli/build-torch.ts';
import { pickTokenizer } from '../../cli/tokenizer-choice.ts';
import { resolveData } from '../../runtime/data/corpora-node.ts';
import { EXAMPLES, graphOf, TINY } from '../helpers.ts';
import { peftc } from '../cli/peftc.ts';
import { CHECKPOINT_FILE } from '../../runtime/checkpoint.ts';
import { dynamicRank } from '../../runtime/rank-controller.ts';
import { buildTorch, readTensors, relativeError, rng, runPython, runTrainMains, type MainResult } from './torch-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-torch-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FILE = resolve(EXAMPLES, 'tiny-gpt-lora.peft');
const T = 16;
const trainer = join(dir, 'trainer');
const trainPy = join(trainer, 'train.py');
const valid = join(dir, 'valid.safetensors');

interface Logged {
  step: number;
  loss?: number;
  grad_norm?: number;
  valid_loss?: number;
}

/** The JSON lines of a run (torchrun prefixes each worker's lines with `[defaultN]:`). */
function logged(stdout: string): Logged[] {
  return stdout.split('\n').map((l) => l.slice(l.indexOf('{'))).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Logged);
}

/** A TCP port nothing listens on: the one the system gives a server bound to port 0. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

const losses = (log: Logged[]) => log.filter((e) => e.loss !== undefined).map((e) => e.loss!);
const validLosses = (log: Logged[]) => log.filter((e) => e.valid_loss !== undefined).map((e) => e.valid_loss!);

const trainArgs = (args: string[]) => ['--json', '--steps', '4', '--eval-every', '2', '--valid', valid, '--eval-rows', '100000', ...args];

function words(n: number, seed: number): string {
  const vocab = 'the cat sat on a mat while dogs ran far away from home into woods'.split(' ');
  const r = rng(seed);
  return Array.from({ length: n }, () => vocab[Math.floor(r() * vocab.length)]).join(' ');
}

beforeAll(async () => {
  writeFileSync(join(dir, 'train.txt'), words(1500, 1));
  writeFileSync(join(dir, 'valid.txt'), words(300, 2));
  await buildTorch(FILE, join(dir, 'trainer'), { data: join(dir, 'train.txt'), seq: String(T), batch: '4' });
  // Validation rows of valid.txt, all of them, as `peftc eval --data valid.txt` reads it.
  const g = graphOf('tiny-gpt-lora.peft');
  writeFileSync(valid, dataRows(g, pickTokenizer(g), T, resolveData(join(dir, 'train.txt')), resolveData(join(dir, 'valid.txt'))).bytes);
}, 60_000);

describe('train.py', () => {
  let one: Logged[];
  let stopped: Logged[];
  let resumed: Logged[];
  let notState: MainResult;
  let seqAll: Logged[];
  let seq8: Logged[];

  beforeAll(() => {
    // The 1-process runs in one Python process (torch imported once).
    const resumedDir = join(dir, 'resumed');
    const res = runTrainMains([
      { folder: trainer, argv: trainArgs(['--batch', '4', '--out', join(dir, 'one')]) },
      { folder: trainer, argv: trainArgs(['--batch', '4', '--out', resumedDir, '--stop-at', '2']) },
      { folder: trainer, argv: trainArgs(['--batch', '4', '--out', resumedDir, '--resume', resumedDir]) },
      { folder: trainer, argv: ['--resume', dir, '--out', join(dir, 'x')] },
      { folder: trainer, argv: trainArgs(['--batch', '4', '--out', join(dir, 'seq16'), '--seq', String(T)]) },
      { folder: trainer, argv: trainArgs(['--batch', '4', '--out', join(dir, 'seq8'), '--seq', '8']) },
    ]);
    for (const r of res.slice(0, 3)) expect(r.rc, r.stderr).toBe(0);
    [one, stopped, resumed] = res.slice(0, 3).map((r) => logged(r.stdout)) as [Logged[], Logged[], Logged[]];
    notState = res[3]!;
    for (const r of res.slice(4)) expect(r.rc, r.stderr).toBe(0);
    [seqAll, seq8] = res.slice(4).map((r) => logged(r.stdout)) as [Logged[], Logged[]];
  }, 90_000);

  it('2 processes under torchrun (gloo) take the steps of 1 process with the same global batch; the adapter reads back into peftc', async () => {
    expect(losses(one)).toHaveLength(4);
    // Debian's torch 1.13 on Python 3.11 mis-parses torchrun's default --redirects/--tee "0": name them.
    // A port the system says is free now (a random one could be an ephemeral port in use, and the
    // rendezvous then waits for ever).
    const port = String(await freePort());
    const r = runPython(['-m', 'torch.distributed.run', '--redirects', '1', '--tee', '1', '--log_dir', join(dir, 'logs'), '--master_port', port, '--nproc_per_node', '2',
      trainPy, ...trainArgs(['--batch', '2', '--out', join(dir, 'two')])], { timeoutMs: 400_000 });
    // On failure, the workers' own logs (torchrun keeps their stderr there) say why.
    const workerLogs = () => readdirSync(join(dir, 'logs'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile()).map((e) => `${e.name}: ${readFileSync(join(e.parentPath ?? e.path, e.name), 'utf8').slice(-1000)}`).join('\n');
    if (r.status !== 0) expect.fail(`torchrun exited with ${r.status}: ${r.stderr.slice(-2000)}\n${workerLogs()}`);
    const two = logged(r.stdout);
    const [a, b] = [losses(one), losses(two)];
    expect(b).toHaveLength(4);
    for (let i = 0; i < 4; i++) expect(Math.abs(a[i]! - b[i]!) / a[i]!, `step ${i + 1}`).toBeLessThan(1e-5);
    for (let i = 0; i < 2; i++) expect(Math.abs(validLosses(one)[i]! - validLosses(two)[i]!)).toBeLessThan(1e-5);
    expect(a[3]).toBeLessThan(a[0]!);

    // The saved Hugging Face PEFT folder, imported, evaluates in peftc to the logged validation loss.
    const peftc = (args: string[]) => spawnSync(process.execPath, [resolve(import.meta.dirname, '../../bin/peftc.js'), ...args], { encoding: 'utf8' });
    const imp = peftc(['import', join(dir, 'two'), '--peft', FILE, '-o', join(dir, 'ckpt')]);
    expect(imp.status, imp.stderr).toBe(0);
    const ev = peftc(['eval', FILE, '--adapter', join(dir, 'ckpt'), '--data', join(dir, 'valid.txt'), '--seq', String(T), '--json']);
    expect(ev.status, ev.stderr).toBe(0);
    const evalLoss = (JSON.parse(ev.stdout.trim().split('\n').pop()!) as { loss: number }).loss;
    expect(Math.abs(evalLoss - validLosses(two)[1]!) / evalLoss).toBeLessThan(1e-5);
  }, 500_000);

  it('a run stopped after step 2 and resumed takes the uninterrupted run\'s steps 3 and 4', () => {
    expect(losses(stopped)).toEqual(losses(one).slice(0, 2));
    expect(losses(resumed)).toEqual(losses(one).slice(2));
    expect(validLosses(resumed)).toEqual(validLosses(one).slice(1));
  });

  it('--seq takes the first tokens of each row: all of them is the same run, fewer another', () => {
    expect(losses(seqAll)).toEqual(losses(one));
    expect(validLosses(seqAll)).toEqual(validLosses(one));
    expect(losses(seq8)).toHaveLength(4);
    for (const l of losses(seq8)) expect(Number.isFinite(l) && l > 0).toBe(true);
    expect(losses(seq8)[0]).not.toEqual(losses(one)[0]);
  });

  it('says in one line what is wrong: a --resume folder without a trainer state', () => {
    expect(notState.rc).toBe(1);
    expect(notState.stderr.trim()).toBe(`train.py: --resume ${dir}: no trainer_state.pt (not a checkpoint of this trainer)`);
  });
});

// 64 bytes of text: 4 training rows and 1 validation row for both trainers, so a batch of 4 is
// every training row at every step. The optimizer, schedule and clipping are then all that
// could differ. Tolerance: 1e-5 relative per step (both f32; measured 2e-7 after 3 steps).
const text64 = 'the cat sat on a mat while dogs ran far away from home into woods'.slice(0, 64);
describe('train.py takes the steps of peftc train', () => {
  it('AdamW, SGD and LoRA+: the same loss and gradient norm at each of 3 steps (cosine schedule, clipping)', async () => {
    const data = join(dir, 'sixty-four.txt');
    writeFileSync(data, text64);
    // LoRA+ (examples/tiny-gpt-lora-plus.peft: B at 16 × the rate) goes through train.py's optimizer
    // groups. Its rate is lower: at 16 × 0.05, Adam's first steps move each element of B by the rate
    // whatever its gradient, so gradients that are rounding noise (their sign differing between the
    // trainers) would move B by 0.8 either way.
    const runs = [
      { name: 'adamw', file: FILE, optimizer: 'adamw', lr: '0.05' },
      { name: 'sgd', file: FILE, optimizer: 'sgd', lr: '0.05' },
      { name: 'lora-plus', file: resolve(EXAMPLES, 'tiny-gpt-lora-plus.peft'), optimizer: 'adamw', lr: '0.01' },
    ];
    for (const r of runs) await buildTorch(r.file, join(dir, `same-${r.name}`), { data, seq: '16', batch: '4', optimizer: r.optimizer, lr: r.lr, clip: '0.8' });
    const theirs = runTrainMains(runs.map((r) => ({ folder: join(dir, `same-${r.name}`), argv: ['--json', '--steps', '3', '--batch', '4', '--eval-every', '100', '--out', join(dir, `theirs-${r.name}`)] })));
    runs.forEach((run, k) => {
      const ours = peftc('train', run.file, '--data', data, '--steps', '3', '--seq', '16', '--batch', '4', '--optimizer', run.optimizer, '--lr', run.lr, '--clip', '0.8',
        '--backend', 'cpu', '--json', '--no-baseline', '--eval-every', '100', '--out', join(dir, `ours-${run.name}`));
      expect(ours.code, ours.stderr).toBe(0);
      expect(ours.stderr).toMatch(/train: 4 rows/);
      expect(theirs[k]!.rc, theirs[k]!.stderr).toBe(0);
      const a = logged(ours.stdout).filter((e) => e.loss !== undefined);
      const b = logged(theirs[k]!.stdout).filter((e) => e.loss !== undefined);
      expect(a.map((e) => e.step)).toEqual([1, 2, 3]);
      expect(b.map((e) => e.step)).toEqual([1, 2, 3]);
      for (let i = 0; i < 3; i++) {
        expect(Math.abs(a[i]!.loss! - b[i]!.loss!), `${run.name} step ${i + 1} loss`).toBeLessThanOrEqual(1e-5 * a[i]!.loss!);
        expect(Math.abs(a[i]!.grad_norm! - b[i]!.grad_norm!), `${run.name} step ${i + 1} gradient norm`).toBeLessThanOrEqual(1e-5 * a[i]!.grad_norm!);
      }
      expect(a[2]!.loss, run.name).toBeLessThan(a[0]!.loss!); // and it trains
    });
  }, 120_000);
});

describe('train.py takes the steps of peftc train: DoRA and LoRA on the token embedding', () => {
  it('the same loss and gradient norm at each of 3 steps (AdamW with weight decay, clipping)', async () => {
    const data = join(dir, 'sixty-four-dora.txt');
    writeFileSync(data, text64);
    const file = join(dir, 'dora-embedding.peft');
    writeFileSync(file, `import "${resolve(EXAMPLES, 'tiny-gpt.peft')}"\n\npeft {\n  lora(rank = 4, alpha = 8, dora = true) on "c_attn"\n  lora(rank = 4, alpha = 8) on "wte"\n}\n`);
    const flags = ['--seq', '16', '--batch', '4', '--lr', '0.05', '--clip', '0.8', '--weight-decay', '0.1'];
    await buildTorch(file, join(dir, 'dora-trainer'), { data, seq: '16', batch: '4', lr: '0.05', clip: '0.8', weightDecay: '0.1' });
    const [theirs] = runTrainMains([{ folder: join(dir, 'dora-trainer'), argv: ['--json', '--steps', '3', '--eval-every', '100', '--out', join(dir, 'theirs-dora')] }]);
    const ours = peftc('train', file, '--data', data, '--steps', '3', ...flags, '--backend', 'cpu', '--json', '--no-baseline', '--eval-every', '100', '--out', join(dir, 'ours-dora'));
    expect(ours.code, ours.stderr).toBe(0);
    expect(theirs!.rc, theirs!.stderr).toBe(0);
    const [a, b] = [logged(ours.stdout), logged(theirs!.stdout)].map((l) => l.filter((e) => e.loss !== undefined));
    expect(b!.map((e) => e.step)).toEqual([1, 2, 3]);
    a!.forEach((e, i) => {
      expect(Math.abs(e.loss! - b![i]!.loss!), `step ${i + 1} loss`).toBeLessThanOrEqual(1e-5 * e.loss!);
      expect(Math.abs(e.grad_norm! - b![i]!.grad_norm!), `step ${i + 1} gradient norm`).toBeLessThanOrEqual(1e-5 * e.grad_norm!);
    });
  }, 120_000);
});

// Rank selection on the same 64 bytes: DyLoRA's per-step ranks (drawn from the seed and step by
// both trainers; seed 0 draws 3, 5, 1) and AdaLoRA with a schedule short enough to mask at every
// step from 2 to 6 of 8 (tinit 1, tfinal 2, delta_t 1): the same losses and gradient norms, the
// same final ranks, and train.py's adapter equal to what `peftc export` writes of peftc's run.
describe('train.py selects ranks as peftc train does', () => {
  it('DyLoRA and AdaLoRA: the same steps, final ranks and saved adapter', async () => {
    const data = join(dir, 'sixty-four-ranks.txt');
    writeFileSync(data, text64);
    const ada = join(dir, 'adalora-short.peft');
    writeFileSync(ada, `import "${resolve(EXAMPLES, 'tiny-gpt.peft')}"\n\npeft {\n  lora(rank = auto(target = 4, init = 12, tinit = 1, tfinal = 2, delta_t = 1), alpha = 12) on "c_attn", "c_fc"\n}\n`);
    const mixed = join(dir, 'adalora-fixed.peft');
    writeFileSync(mixed, `import "${resolve(EXAMPLES, 'tiny-gpt.peft')}"\n\npeft {\n  lora(rank = auto(target = 1, init = 6, tinit = 1, tfinal = 2, delta_t = 1), alpha = 12) on "c_attn"\n  lora(rank = 2, alpha = 4) on "c_fc"\n}\n`);
    const runs = [
      { name: 'dylora', file: resolve(EXAMPLES, 'tiny-gpt-dylora.peft'), steps: '3' },
      { name: 'adalora', file: ada, steps: '8' },
      // Beside a fixed rank, PEFT's AdaLoRA cannot hold it: the adapter is the plain LoRA it has become.
      { name: 'adalora-lora', file: mixed, steps: '8' },
    ];
    const flags = { data, seq: '16', batch: '4', lr: '0.05', clip: '0.8' };
    for (const r of runs) await buildTorch(r.file, join(dir, `ranked-${r.name}`), flags);
    const argv = (steps: string, out: string, more: string[] = []) => ['--json', '--steps', steps, '--batch', '4', '--eval-every', '100', '--out', join(dir, out), ...more];
    const adaFolder = join(dir, 'ranked-adalora');
    const res = runTrainMains([
      ...runs.map((r) => ({ folder: join(dir, `ranked-${r.name}`), argv: argv(r.steps, `theirs-${r.name}`) })),
      // Stopped after step 4 (in the middle of the masking) and resumed: the masks and scores come back.
      { folder: adaFolder, argv: argv('8', 'resumed-adalora', ['--stop-at', '4']) },
      { folder: adaFolder, argv: argv('8', 'resumed-adalora', ['--resume', join(dir, 'resumed-adalora')]) },
      // Too short for the schedule: tinit 1 + tfinal 2 leave no budgeting step in 3.
      { folder: adaFolder, argv: argv('3', 'short-adalora') },
    ]);
    const theirs = res.slice(0, 3);
    runs.forEach((r, k) => {
      const ours = peftc('train', r.file, '--data', data, '--steps', r.steps, '--seq', '16', '--batch', '4', '--lr', '0.05', '--clip', '0.8',
        '--backend', 'cpu', '--json', '--no-baseline', '--eval-every', '100', '--out', join(dir, `ours-${r.name}`));
      expect(ours.code, ours.stderr).toBe(0);
      expect(theirs[k]!.rc, theirs[k]!.stderr).toBe(0);
      const [a, b] = [logged(ours.stdout), logged(theirs[k]!.stdout)];
      const steps = (l: Logged[]) => l.filter((e) => e.loss !== undefined);
      expect(steps(b)).toHaveLength(Number(r.steps));
      steps(a).forEach((e, i) => {
        const t = steps(b)[i]!;
        expect(Math.abs(e.loss! - t.loss!), `${r.name} step ${i + 1} loss`).toBeLessThanOrEqual(1e-5 * e.loss!);
        expect(Math.abs(e.grad_norm! - t.grad_norm!), `${r.name} step ${i + 1} gradient norm`).toBeLessThanOrEqual(1e-5 * e.grad_norm!);
      });
      // Evaluation: DyLoRA at its full rank, AdaLoRA with its masks (peftc logs val_loss).
      const ourValid = (a as (Logged & { val_loss?: number })[]).filter((e) => e.val_loss !== undefined).pop()!.val_loss!;
      expect(Math.abs(ourValid - validLosses(b).pop()!), `${r.name} validation loss`).toBeLessThanOrEqual(1e-5 * ourValid);
    });
    // DyLoRA's draws are the ranks peftc draws (the gradient norms above differ with the rank).
    expect([0, 1, 2].map((s) => dynamicRank(0, s, 8))).toEqual([3, 5, 1]);

    // AdaLoRA's final ranks: train.py's against the masks of peftc's checkpoint.
    const ck = readTensors(join(dir, 'ours-adalora', CHECKPOINT_FILE));
    const masks = Object.fromEntries([...ck].filter(([k]) => k.startsWith('rank.mask.')).map(([k, t]) => [k.slice('rank.mask.'.length), t.data.reduce((s, v) => s + v, 0)]));
    const final = (logged(theirs[1]!.stdout) as (Logged & { ranks?: Record<string, number> })[]).find((e) => e.ranks)!.ranks!;
    expect(final).toEqual(masks);
    expect(Object.values(final).reduce((s, v) => s + v, 0)).toBe(32); // the target budget, 8 modules × 4
    expect(Object.values(final).some((v) => v !== 4)).toBe(true); // allocated unevenly
    expect(res[3]!.rc, res[3]!.stderr).toBe(0);
    expect(res[4]!.rc, res[4]!.stderr).toBe(0);
    expect(losses(logged(res[4]!.stdout))).toEqual(losses(logged(theirs[1]!.stdout)).slice(4));
    expect((logged(res[4]!.stdout) as (Logged & { ranks?: Record<string, number> })[]).find((e) => e.ranks)!.ranks).toEqual(final);
    // A state whose rank selection names other modules: one line, not a traceback.
    const bad = join(dir, 'bad-ranks');
    const fix = runPython(['-c', `import shutil, torch; shutil.copytree(${JSON.stringify(join(dir, 'resumed-adalora'))}, ${JSON.stringify(bad)})
s = torch.load(${JSON.stringify(join(bad, 'trainer_state.pt'))}); s['ranks']['masks'] = {'h.9.attn.c_attn': torch.ones(12)}; s['step'] = 4
torch.save(s, ${JSON.stringify(join(bad, 'trainer_state.pt'))})`]);
    expect(fix.status, fix.stderr).toBe(0);
    const [badResume] = runTrainMains([{ folder: adaFolder, argv: argv('8', 'bad-ranks', ['--resume', bad]) }]);
    expect(badResume!.rc).toBe(1);
    expect(badResume!.stderr.trim()).toBe(`train.py: --resume ${bad}: its rank selection state (masks, scores) does not fit this model`);
    expect(res[5]!.rc).toBe(1);
    expect(res[5]!.stderr.trim()).toBe('train.py: rank = auto(…) needs a budgeting phase: the run has 3 steps, tinit is 1 and tfinal 2; give more --steps or a smaller tinit/tfinal');

    // The adapter train.py saved is what `peftc export` writes of peftc's run, the config byte for
    // byte: PEFT's AdaLoRA (kept triplets, rank_pattern, total_step) or, beside a fixed rank, plain
    // LoRA (the kept rows of A·E and columns of B, r, alpha and patterns, modules left out).
    for (const name of ['adalora', 'adalora-lora']) {
      const exp = peftc('export', join(dir, `ours-${name}`), '--format', 'hf-peft', '-o', join(dir, `exported-${name}`));
      expect(exp.code, exp.stderr).toBe(0);
      const [ourFolder, theirFolder] = [join(dir, `exported-${name}`), join(dir, `theirs-${name}`)];
      expect(readFileSync(join(theirFolder, 'adapter_config.json'), 'utf8'), name).toBe(readFileSync(join(ourFolder, 'adapter_config.json'), 'utf8'));
      const [mine, other] = [readTensors(join(ourFolder, 'adapter_model.safetensors')), readTensors(join(theirFolder, 'adapter_model.safetensors'))];
      expect([...other.keys()].sort()).toEqual([...mine.keys()].sort());
      for (const [key, t] of mine) {
        expect(other.get(key)!.shape, key).toEqual(t.shape);
        expect(relativeError(other.get(key)!.data, t.data), key).toBeLessThan(1e-4);
      }
    }
    expect(readFileSync(join(dir, 'theirs-adalora', 'adapter_config.json'), 'utf8')).toContain('"peft_type": "ADALORA"');
    expect(readFileSync(join(dir, 'theirs-adalora-lora', 'adapter_config.json'), 'utf8')).toContain('"peft_type": "LORA"');
  }, 240_000);
});

describe('peftc build --target', () => {
  it('names the targets when given another', async () => {
    await expect(buildCommand(FILE, { out: join(dir, 'x'), batch: '4', schedule: 'cosine', warmup: '0', target: 'cuda' })).rejects.toThrow('--target must be webgpu or torch, not `cuda`');
  });

  it('encodes no data for prompt templates yet', async () => {
    await expect(buildTorch(resolve(EXAMPLES, 'tiny-gpt-template.peft'), join(dir, 'tpl'), { data: join(dir, 'train.txt') })).rejects.toThrow('does not encode data for prompt templates yet');
  });

  it('warns at build time of trained modules no adapter folder holds (next to bottleneck adapters)', async () => {
    const write = process.stderr.write;
    let err = '';
    process.stderr.write = ((chunk: string | Uint8Array) => ((err += String(chunk)), true)) as typeof process.stderr.write;
    try {
      await buildTorch(resolve(EXAMPLES, 'bert-adapter.peft'), join(dir, 'bert'), { set: [TINY.bert!.replace(/vocab_size=\d+/, 'vocab_size=256')] });
    } finally {
      process.stderr.write = write;
    }
    // The trained LayerNorms have no place in an AdapterHub folder, and the head is not written without them.
    expect(err).toMatch(/^peftc: warning: train\.py's adapter folders will leave out: trained module\(s\) encoder\.layer\.0\.attention\.output\.LayerNorm, .*\(and with them the head classifier, which is not written alone\)/m);
  });

  it('refuses a --seq the position table cannot hold, naming both numbers (the check of the WebGPU target)', async () => {
    await expect(buildTorch(FILE, join(dir, 'too-long'), { seq: '100000' })).rejects.toThrow(/^--seq 100000: a sequence of 100,000 tokens needs 100,000 positions; the model has [\d,]+ /);
  });

  it('refuses a folder that is not a torch trainer', async () => {
    writeFileSync(join(dir, 'stray.txt'), 'x');
    await expect(buildTorch(FILE, dir)).rejects.toThrow('is not a torch trainer built before');
    expect(readFileSync(join(dir, 'stray.txt'), 'utf8')).toBe('x');
  });
});
