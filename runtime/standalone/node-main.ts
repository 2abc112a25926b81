// The Node entry of a built trainer (bundled by `peftc build` into DIR/train.mjs; it needs only
// Node and the `webgpu` package). It reads the folder it sits in:
//
//   node train.mjs [--data FILE] [--valid FILE] [--steps N] [--lr LR] [--schedule constant|cosine]
//                  [--warmup N] [--eval-every N] [--eval-rows N] [--seed N] [--out DIR]
//                  [--resume DIR] [--gpu auto|hardware|swiftshader|llvmpipe] [--gpu-timeout SECONDS]
//                  [--json] [--verbose]
//   node train.mjs --serve [PORT]     serve the folder on 127.0.0.1 for the browser page
//
// The folder's files are read and checked (files.ts) before the GPU is opened: a truncated or
// corrupt trainer.json, plan.json or weights.safetensors is one line naming the file and field.
//
// Checkpoints are written as `peftc train --out` writes them (atomic files), so `peftc eval
// --adapter DIR` and `--resume DIR` read them.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CHECKPOINT_FILE } from '../checkpoint.ts';
import { writeCheckpointDir } from '../checkpoint-node.ts';
import { readDataFile } from '../data/read-node.ts';
import type { ScheduleKind } from '../schedule.ts';
import { GPU_CHOICES, type GpuChoice } from '../webgpu/device.ts';
import { openNodeGpu } from '../webgpu/node-gpu.ts';
import { waitLimitMs } from '../webgpu/queue-watch.ts';
import { parseTrainerFiles } from './files.ts';
import { TRAINER_FILES } from './manifest.ts';
import { trainerServer } from './serve.ts';
import { TrainerError } from './trainer-error.ts';
import { BuiltTrainer, runTraining, type RunOptions, type TrainerFiles } from './trainer.ts';

const DIR = dirname(fileURLToPath(import.meta.url));

const USAGE = `usage: node train.mjs [--data FILE] [--valid FILE] [--steps N] [--lr LR] [--schedule constant|cosine]
                      [--warmup N] [--eval-every N] [--eval-rows N] [--seed N] [--out DIR] [--resume DIR]
                      [--gpu auto|hardware|swiftshader|llvmpipe] [--gpu-timeout SECONDS] [--json] [--verbose]
       node train.mjs --serve [PORT]   (the browser page at http://127.0.0.1:PORT/)`;

function fail(message: string): never {
  throw new TrainerError(message);
}

function number(flag: string, v: string | undefined, opts: { int?: boolean; min?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min)) {
    fail(`--${flag} must be ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}, not \`${v}\``);
  }
  return n;
}

/** --gpu-timeout SECONDS in ms (0: no limit); undefined: the default that grows with the work. */
function gpuTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  try {
    return waitLimitMs(v);
  } catch (e) {
    return fail(`--gpu-timeout ${(e as Error).message}`);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' }, valid: { type: 'string' }, steps: { type: 'string' }, lr: { type: 'string' },
      schedule: { type: 'string' }, warmup: { type: 'string' }, 'eval-every': { type: 'string' }, 'eval-rows': { type: 'string' },
      seed: { type: 'string' }, out: { type: 'string' }, resume: { type: 'string' }, gpu: { type: 'string' }, 'gpu-timeout': { type: 'string' },
      json: { type: 'boolean' }, serve: { type: 'string' }, help: { type: 'boolean' }, verbose: { type: 'boolean' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (values.serve !== undefined) return serve(number('serve', values.serve || '8080', { int: true, min: 0 })!);

  const files = readTrainerFolder(DIR);
  const manifest = files.manifest;
  const gpuChoice = values.gpu ?? 'auto';
  if (!(GPU_CHOICES as readonly string[]).includes(gpuChoice)) fail(`--gpu must be one of ${GPU_CHOICES.join(', ')}, not \`${gpuChoice}\``);
  const timeoutMs = gpuTimeout(values['gpu-timeout']);
  const schedule = values.schedule;
  if (schedule !== undefined && schedule !== 'constant' && schedule !== 'cosine') fail(`--schedule must be constant or cosine, not \`${schedule}\``);
  const data = values.data ? readDataFile(values.data) : manifest.sample ? { ...readDataFile(join(DIR, manifest.sample.file)), name: manifest.sample.source } : fail('--data FILE is required (this trainer has no bundled sample)');
  const opts: RunOptions = { data };
  if (values.valid) opts.valid = readDataFile(values.valid);
  const set = <K extends keyof RunOptions>(k: K, v: RunOptions[K] | undefined) => {
    if (v !== undefined) opts[k] = v;
  };
  set('steps', number('steps', values.steps, { int: true, min: 1 }));
  set('lr', number('lr', values.lr));
  set('schedule', schedule as ScheduleKind | undefined);
  set('warmup', number('warmup', values.warmup, { int: true, min: 0 }));
  set('evalEvery', number('eval-every', values['eval-every'], { int: true, min: 0 }));
  set('evalRows', number('eval-rows', values['eval-rows'], { int: true, min: 1 }));
  set('seed', number('seed', values.seed, { int: true }));
  if (values.resume) {
    const path = join(values.resume, CHECKPOINT_FILE);
    if (!existsSync(path)) fail(`--resume ${values.resume}: no ${CHECKPOINT_FILE} there`);
    opts.resume = { bytes: new Uint8Array(readFileSync(path)), where: path };
  }
  const out = values.out ?? values.resume ?? 'checkpoint';

  const json = values.json ?? false;
  const print = (o: object, text: string) => process.stdout.write((json ? JSON.stringify(o) : text) + '\n');
  const note = (text: string) => (json ? process.stderr : process.stdout).write(text + '\n');

  const gpu = await openNodeGpu({ gpu: gpuChoice as GpuChoice, verbose: values.verbose ?? false, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  const trainer = await BuiltTrainer.open(gpu, files);
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    note('interrupt: saving a checkpoint after this step (press Ctrl-C again to quit without saving)');
  };
  process.on('SIGINT', onSigint);
  const res = await runTraining(trainer, opts, {
    note,
    onStep: (i) => print({ step: i.step, loss: i.loss, lr: i.lr, grad_norm: i.gradNorm, tokens_per_s: Math.round(i.tokensPerSecond) },
      `step ${i.step}  loss ${i.loss.toFixed(4)}  lr ${i.lr.toExponential(2)}  ${Math.round(i.tokensPerSecond)} tok/s`),
    onEval: (step, v) => print({ step, val_loss: v }, `step ${step}  validation loss ${v.toFixed(4)}`),
    checkpoint: (files) => writeCheckpointDir(out, files.checkpoint, files.adapter),
    shouldStop: () => interrupted,
  });
  process.off('SIGINT', onSigint);
  trainer.destroy();
  if (res.end === 'diverged') {
    const what = res.diverged?.what ?? 'the loss is NaN or infinite';
    process.stderr.write(`training diverged at step ${res.diverged?.step ?? res.step + 1}: ${what}; training stopped and nothing of that step was saved. Try a lower --lr.\n`);
    return 1;
  }
  note(`validation loss ${res.before.toFixed(4)} → ${res.valLoss?.toFixed(4)}; checkpoint in ${resolve(out)}${res.end === 'interrupted' ? ` (interrupted at step ${res.step}; continue with --resume ${out})` : ''}`);
  return res.end === 'interrupted' ? 130 : 0;
}

/** The folder's trainer.json, plan.json and weights.safetensors, read and checked. */
function readTrainerFolder(dir: string): TrainerFiles {
  const read = (name: string): Buffer => {
    try {
      return readFileSync(join(dir, name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new TrainerError(`${join(dir, name)}: ${code === 'ENOENT' ? 'missing' : `cannot be read (${code ?? (e as Error).message})`}; rebuild the trainer with \`peftc build\``);
    }
  };
  return parseTrainerFiles({
    manifest: read(TRAINER_FILES.manifest).toString('utf8'),
    plan: read(TRAINER_FILES.plan).toString('utf8'),
    weights: new Uint8Array(read(TRAINER_FILES.weights)),
  });
}

/** Serves the trainer's own files (serve.ts) on 127.0.0.1 until the process is stopped. */
function serve(port: number): Promise<number> {
  if (port > 65535) fail(`--serve must be a port from 0 to 65535, not ${port}`);
  const server = trainerServer(DIR);
  return new Promise((_, reject) => {
    server.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'is in use (try another, or 0 for any free port)' : e.code === 'EACCES' ? 'needs privileges (use a port above 1023)' : `cannot be opened (${e.code ?? e.message})`;
      reject(new TrainerError(`--serve ${port}: the port ${why}`));
    });
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      process.stdout.write(`serving ${DIR} at http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}/ (Ctrl-C to stop)\n`);
    });
  });
}

try {
  process.exitCode = await main();
} catch (e) {
  // Problems with the input (flags, files, data, the adapter) are one line and exit 1; anything else is a bug.
  const badFlag = String((e as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
  const known = badFlag || (e instanceof Error && ['TrainerError', 'DataError', 'CheckpointError', 'GpuError', 'SafetensorsError'].includes(e.name));
  process.stderr.write(`${known ? '' : 'internal error: '}${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = known ? 1 : 2;
}
// A Dawn instance keeps the event loop alive: end once done (the server, above, never returns).
process.exit(process.exitCode ?? 0);
