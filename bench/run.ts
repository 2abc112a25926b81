// `npm run bench`: this project against its peers, measured in one run on this machine, written
// to bench/results.json and BENCHMARKS.md (regenerated from the results, never typed by hand).
// Not a test: nothing here gates CI on time.
//
//   npm run bench                         full run: SwiftShader (5 measured rounds), llvmpipe (9)
//   npm run bench -- --quick --json       llvmpipe, 4 rounds; writes tmp/bench/; last line: JSON
//   npm run bench -- --gpt2s-only         only §6 (GPT-2 small against PyTorch), merged into the
//                                         existing results.json (the other sections keep their run)
//   npm run bench -- --gen-only           only §7's generation (CPU reference, wasm, WebGPU on llvmpipe, each
//                                         with its cache, and PyTorch), merged likewise
//   options: --gpu swiftshader,llvmpipe (--adapter: its old name)  --reps N  --warmup N
//            --torch-threads N (0: no PyTorch)  --no-tfjs  --profile / --no-profile (on in the full run)
//            --gpt2s-plan '1:llvmpipe,swiftshader,cpu,wasm;4:llvmpipe,swiftshader,cpu,wasm' (batch size:
//            runners; the quick run's: '1:llvmpipe,wasm')
//            --gpt2s-reps N  --gpt2s-torch-threads 1,2
//            --no-gpt2s  --out DIR (results.json and BENCHMARKS.md there)
//            --no-gen  --gen-tokens N (generation at GPT-2 small: tokens after each prefill; quick 4, full 16)
// Every run also adds §7 (bench/quick-fields.ts): generation ms/token at GPT-2 small against
// PyTorch (gen_ms_per_token_vs_torch, gen_flatness) and the nf4 TinyLlama plan's total memory
// (nf4_tinyllama_total_gib, nf4dq_tinyllama_total_gib), and activation recomputation's memory and step-time ratios
// (recompute_activation_ratio, recompute_step_ratio; --no-recompute skips them), also in the quick
// run's JSON line. From §6 that line carries gpt2s_train_vs_torch (the best WebGPU software
// adapter's tokens/s over PyTorch's) and gpt2s_wasm_train_vs_torch (the wasm backend's), both at
// B 1 × 128, median of rounds (bench/report.ts, gpt2sFields).
//
// PyTorch runs on the fastest correct BLAS found at the start (bench/peers/blas.ts: OpenBLAS's
// kernels are measured, and the chosen OPENBLAS_* variables are set for every PyTorch process).
// Each part runs in a child process (bench/task.ts): the compile benchmark once, then per adapter
// the training benchmark (this project LoRA and full, tfjs-webgpu, PyTorch, interleaved) and the
// matmul benchmark. A part that fails is reported as such and the run goes on.
// The quick run uses llvmpipe: on SwiftShader one tfjs-webgpu step alone takes a minute or more.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { MatmulResult } from './matmul-peers.ts';
import { FULL_GPT2S_PLAN, QUICK_GPT2S_PLAN, type Gpt2sResult } from './gpt2s.ts';
import { flag, gpuFlag, MODEL_LABEL } from './model.ts';
import { chooseBlas } from './peers/blas.ts';
import { type GpuResults, type BenchResults, gpt2sFields, headline, renderMarkdown } from './report.ts';
import type { TrainResult } from './train.ts';
import { PYTHON, torchMissing } from './peers/torch.ts';
import { generationFields, nf4TinyllamaTotalGib, recomputeFields } from './quick-fields.ts';

const ROOT = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const json = argv.includes('--json');
const gpt2sOnly = argv.includes('--gpt2s-only');
const choices = gpuFlag(quick ? 'llvmpipe' : 'swiftshader,llvmpipe', argv).split(',').filter(Boolean);
/** Measured rounds per adapter: a SwiftShader round takes one to two minutes (tfjs's step), llvmpipe's about ten seconds. */
const repsFor = (choice: string): string => flag('reps', quick ? '4' : choice === 'swiftshader' ? '5' : '9', argv);
const warmup = flag('warmup', '1', argv);
const torchThreads = flag('torch-threads', '2', argv);
const outDir = resolve(flag('out', quick ? join(ROOT, 'tmp/bench') : '', argv) || ROOT);
const resultsPath = outDir === ROOT ? join(ROOT, 'bench/results.json') : join(outDir, 'results.json');
const markdownPath = join(outDir, 'BENCHMARKS.md');
/** Dawn's harmless messages (docs/webgpu-runtime.md, Pitfalls). */
const NOISE = /XDG_RUNTIME_DIR|artificially reduced|vkCreateInstance: Found no drivers|^\s*$/;

const say = (line: string) => process.stderr.write(`${line}\n`);

/** Runs bench/task.ts in a child process; resolves to the JSON of its last stdout line. */
function task<T>(args: string[], timeoutS: number): Promise<T> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/task.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let last = '';
    let errTail: string[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => l.trim() && (last = l));
    createInterface({ input: child.stderr }).on('line', (l) => {
      if (NOISE.test(l)) return;
      errTail = [...errTail.slice(-5), l];
      say(l);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        try {
          return done(JSON.parse(last) as T);
        } catch {
          return fail(new Error(`bench/task.ts ${args[0]} printed no result`));
        }
      }
      fail(new Error(`bench/task.ts ${args.join(' ')} ${signal ? `was stopped (${signal}${signal === 'SIGKILL' ? `, over ${timeoutS} s` : ''})` : `exited with ${code}`}: ${errTail.slice(-2).join(' | ')}`));
    });
  });
}

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'absent';
  }
}

const started = Date.now();
const loadStart = loadavg();
say(gpt2sOnly ? 'peftc benchmarks: only §6, GPT-2 small against PyTorch' : `peftc benchmarks (${quick ? 'quick' : 'full'} run): ${choices.map((a) => `${a} (${warmup} warm-up + ${repsFor(a)} measured rounds)`).join(', ')}; ${MODEL_LABEL}`);
const missingTorch = Number(torchThreads) > 0 ? torchMissing() : 'not asked for (--torch-threads 0)';
say(missingTorch ? `PyTorch reference: skipped, ${missingTorch}` : `PyTorch reference: ${PYTHON}, ${torchThreads} threads`);

const results: BenchResults = {
  generated: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  mode: quick ? 'quick' : 'full',
  elapsedSeconds: 0,
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? 'unknown', node: process.version, platform: `${process.platform} ${process.arch}`, loadAverageStart: loadStart, loadAverageEnd: [] },
  versions: {
    '@tensorflow/tfjs-backend-webgpu': version('@tensorflow/tfjs-backend-webgpu'),
    webgpu: version('webgpu'),
  },
  model: MODEL_LABEL,
  adapters: [],
};

// PyTorch's BLAS: chosen once, set for every PyTorch process this run starts (through the children's environment).
if (!missingTorch) {
  say('PyTorch: which BLAS, and how fast its matmul is (bench/torch_blas.py)');
  results.blas = chooseBlas(Number(torchThreads), (l) => say(`  ${l}`));
  if ('env' in results.blas) {
    Object.assign(process.env, results.blas.env);
    for (const k of results.blas.unset) delete process.env[k];
    process.env.PEFTC_BENCH_BLAS = JSON.stringify(results.blas);
  }
}

const gpt2sPart = async (into: BenchResults) => {
  const t0 = Date.now();
  const loadAverageStart = loadavg();
  const generated = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const plan = flag('gpt2s-plan', quick ? QUICK_GPT2S_PLAN : FULL_GPT2S_PLAN, argv);
  say(`GPT-2 small: training tokens/s (batch:runners ${plan}${missingTorch ? '' : ', and PyTorch'}, interleaved)`);
  try {
    const r = await task<Gpt2sResult>(['gpt2s', '--plan', plan, '--warmup', '1', '--reps', flag('gpt2s-reps', quick ? '1' : '2', argv),
      '--torch-threads', missingTorch ? '0' : flag('gpt2s-torch-threads', '1,2', argv)], quick ? 1200 : 7200);
    into.gpt2s = { ...r, generated, mode: quick ? 'quick' : 'full', elapsedSeconds: (Date.now() - t0) / 1000, loadAverageStart, loadAverageEnd: loadavg() };
    delete into.gpt2sError;
  } catch (e) {
    into.gpt2sError = (e as Error).message;
    say(`  ${into.gpt2sError}`);
  }
};

if (argv.includes('--gen-only')) {
  // Only §7's generation, into the results of the last full run (the other sections keep theirs).
  const previous = JSON.parse(readFileSync(resultsPath, 'utf8')) as BenchResults;
  const tokens = Number(flag('gen-tokens', '8', argv));
  say(`GPT-2 small: generation ms/token at contexts 16, 128, 512 (${tokens} tokens each), CPU reference, wasm and WebGPU (llvmpipe)${missingTorch ? '' : ', and PyTorch at 128'}`);
  previous.generation = generationFields({ tokens, torch: !missingTorch, log: (l) => say(`  ${l}`) });
  for (const e of previous.generation.errors) say(`  ${e}`);
  writeFileSync(resultsPath, `${JSON.stringify(previous, null, 2)}\n`);
  writeFileSync(markdownPath, renderMarkdown(previous));
  say(`wrote §7's generation into ${resultsPath} and ${markdownPath}`);
  process.exit(0);
}

if (gpt2sOnly) {
  // Only §6, into the results of the last full run (the other sections keep their date and load).
  const previous = JSON.parse(readFileSync(resultsPath, 'utf8')) as BenchResults;
  if (results.blas) previous.blas = results.blas;
  await gpt2sPart(previous);
  writeFileSync(resultsPath, `${JSON.stringify(previous, null, 2)}\n`);
  writeFileSync(markdownPath, renderMarkdown(previous));
  say(`wrote §6 into ${resultsPath} and ${markdownPath} (${((Date.now() - started) / 60000).toFixed(1)} min)`);
  console.log(JSON.stringify({ ...gpt2sFields(previous), results: resultsPath }));
  process.exit(0);
}

say('compile time (48-layer model, front end to WGSL)');
try {
  results.compile = await task<BenchResults['compile']>(['compile', '--reps', quick ? '3' : '15'], 600);
} catch (e) {
  results.compileError = (e as Error).message;
  say(`  ${results.compileError}`);
}

const common = [...(argv.includes('--no-tfjs') ? ['--no-tfjs'] : [])];
for (const choice of choices) {
  const entry: GpuResults = { adapter: choice, errors: [] };
  results.adapters.push(entry);
  say(`${choice}: training step (this project LoRA and full, tfjs-webgpu${missingTorch ? '' : ', PyTorch CPU'}, interleaved)`);
  try {
    const profile = (!quick || argv.includes('--profile')) && !argv.includes('--no-profile') ? ['--profile'] : [];
    entry.train = await task<TrainResult>(['train', '--gpu', choice, '--warmup', warmup, '--reps', repsFor(choice), '--torch-threads', missingTorch ? '0' : torchThreads, ...profile, ...common], quick ? 600 : 3600);
    if (missingTorch) entry.train.torch = { skipped: missingTorch };
    else if ('ms' in entry.train.torch) results.versions.torch = entry.train.torch.version;
  } catch (e) {
    entry.errors.push((e as Error).message);
    say(`  ${(e as Error).message}`);
  }
  say(`${choice}: matmul GFLOP/s, this project against tf.matMul`);
  try {
    entry.matmul = await task<MatmulResult>(['matmul', '--gpu', choice, '--reps', quick ? '3' : '7', ...common], 1200);
  } catch (e) {
    entry.errors.push((e as Error).message);
    say(`  ${(e as Error).message}`);
  }
}
if (!quick && !argv.includes('--no-multi')) {
  say('many adapters: one mixed batch against one pass per adapter (CPU and each adapter)');
  const args = ['bench/multi-adapter.ts', '--gpu', choices.join(','), '--reps', '5'];
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 1200_000 });
  results.multiAdapter = r.status === 0
    ? { command: `npx tsx ${args.join(' ')}`, output: r.stdout }
    : { error: `exited with ${r.status ?? r.signal}: ${(r.stderr ?? '').split('\n').filter((l) => l && !NOISE.test(l)).slice(-2).join(' | ')}` };
}
if (!argv.includes('--no-gpt2s')) await gpt2sPart(results);
if (!argv.includes('--no-gen')) {
  const tokens = Number(flag('gen-tokens', quick ? '4' : '16', argv));
  say(`GPT-2 small: generation ms/token at contexts 16, 128, 512 (${tokens} tokens each)${missingTorch ? '' : ', and PyTorch at 128'}`);
  results.generation = generationFields({ tokens, torch: !missingTorch, log: (l) => say(`  ${l}`) });
  for (const e of results.generation.errors) say(`  ${e}`);
}
try {
  results.nf4TinyllamaTotalGib = await nf4TinyllamaTotalGib();
} catch (e) {
  results.nf4TinyllamaTotalGib = { error: (e as Error).message };
}
try {
  results.nf4dqTinyllamaTotalGib = await nf4TinyllamaTotalGib('none', 'nf4dq');
} catch (e) {
  results.nf4dqTinyllamaTotalGib = { error: (e as Error).message };
}
if (!argv.includes('--no-recompute')) {
  say('activation recomputation: GPT-2 small plans at B=8 T=512, and step time interleaved on llvmpipe');
  results.recompute = await recomputeFields({ rounds: Number(flag('recompute-rounds', quick ? '5' : '9', argv)), log: (l) => say(`  ${l}`) });
  for (const e of results.recompute.errors) say(`  ${e}`);
}
if (missingTorch) results.versions.torch = `skipped (${missingTorch})`;
results.versions.tsx = version('tsx');
results.machine.loadAverageEnd = loadavg();
results.elapsedSeconds = (Date.now() - started) / 1000;

mkdirSync(outDir, { recursive: true });
writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(markdownPath, renderMarkdown(results));
say(`wrote ${resultsPath} and ${markdownPath} (${(results.elapsedSeconds / 60).toFixed(1)} min)`);

const heads = results.adapters.map(headline);
if (!json) {
  for (const h of heads) {
    const f = (x: number | null, d = 2) => (x === null ? 'n/a' : x.toFixed(d));
    console.log(`${h.adapter}: tokens/s LoRA ${f(h.tokens_per_s.lora, 0)}, full ${f(h.tokens_per_s.full, 0)}, tfjs ${f(h.tokens_per_s.tfjs_lora, 0)}, PyTorch CPU ${f(h.tokens_per_s.torch_cpu_lora, 0)}; ` +
      `vs tfjs ${f(h.tfjs_ratio)}×, LoRA/full step ${f(h.lora_vs_full_step)}, trainable state ${h.trainable_state_fraction === null ? 'n/a' : (100 * h.trainable_state_fraction).toFixed(2)} %`);
  }
}
const first = heads[0];
console.log(JSON.stringify({
  ...first,
  ...gpt2sFields(results),
  compile_to_wgsl_ms: results.compile?.warm_median_ms.wgsl ?? null,
  gen_ms_per_token_vs_torch: results.generation?.gen_ms_per_token_vs_torch ?? null,
  gen_flatness: results.generation?.gen_flatness ?? null,
  gen_cpu_ms_per_token_vs_torch: results.generation?.gen_cpu_ms_per_token_vs_torch ?? null,
  gen_flatness_cpu: results.generation?.gen_flatness_cpu ?? null,
  nf4_tinyllama_total_gib: typeof results.nf4TinyllamaTotalGib === 'number' ? results.nf4TinyllamaTotalGib : null,
  nf4_tinyllama_recompute_total_gib: results.recompute?.nf4_tinyllama_recompute_total_gib ?? null,
  nf4dq_tinyllama_total_gib: typeof results.nf4dqTinyllamaTotalGib === 'number' ? results.nf4dqTinyllamaTotalGib : null,
  recompute_activation_ratio: results.recompute?.recompute_activation_ratio ?? null,
  recompute_step_ratio: results.recompute?.recompute_step_ratio ?? null,
  elapsed_s: Math.round(results.elapsedSeconds),
  mode: results.mode,
  results: resultsPath,
  adapters: heads.length > 1 ? heads : undefined,
  errors: results.adapters.flatMap((a) => a.errors).concat(results.compileError ? [results.compileError] : [], results.gpt2sError ? [results.gpt2sError] : [], results.gpt2s?.batches.flatMap((b) => b.errors) ?? [],
    results.generation?.errors ?? [], typeof results.nf4TinyllamaTotalGib === 'object' ? [results.nf4TinyllamaTotalGib.error] : [], typeof results.nf4dqTinyllamaTotalGib === 'object' ? [results.nf4dqTinyllamaTotalGib.error] : [], results.recompute?.errors ?? []),
}));
process.exit(0);
