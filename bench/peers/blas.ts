// The BLAS under the PyTorch peer, chosen for its speed and checked for its results.
//
// Debian's python3-torch calls whatever libblas.so.3 the alternatives select: the reference
// BLAS (libblas3, a few GFLOP/s) unless OpenBLAS is installed (scripts/setup-bench.sh). OpenBLAS
// picks its kernel from the CPU at start; a release older than the CPU falls back to a generic
// one (0.3.21 on a recent Xeon: "Prescott", about a fifth of the speed), and some environments
// set OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE on purpose. So the peer's environment is chosen by
// measuring: the inherited one, both variables unset, and each kernel the CPU supports, each run
// through bench/torch_blas.py (a timed matmul whose product is checked in float64); the fastest
// correct one wins. Every candidate's figures go into the report.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PYTHON } from './torch.ts';

export interface BlasProbe {
  /** Variables set for this probe (undefined: unset); the rest of the environment is inherited. */
  env: Record<string, string>;
  unset: string[];
  blas?: string;
  architecture?: string | null;
  version?: string | null;
  gflops?: { median: number; min: number; max: number };
  error?: string;
}

export interface BlasChoice {
  /** The environment the peer runs with (set on top of the inherited one; `unset` removed). */
  env: Record<string, string>;
  unset: string[];
  blas: string;
  architecture: string | null;
  version: string | null;
  gflops: { median: number; min: number; max: number };
  /** OPENBLAS_* as inherited by the benchmark. */
  inherited: Record<string, string>;
  candidates: BlasProbe[];
  size: number;
  threads: number;
}

const OPENBLAS_VARS = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'];

/** Runs bench/torch_blas.py with `env` set and `unset` removed. */
export function probeBlas(threads: number, env: Record<string, string> = {}, unset: string[] = [], size = 1024): BlasProbe {
  const full: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const k of unset) delete full[k];
  const script = resolve(import.meta.dirname, '../torch_blas.py');
  const r = spawnSync(PYTHON, [script, '--threads', String(threads), '--size', String(size)], { env: full, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) return { env, unset, error: (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).trim().split('\n').pop()! };
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { blas: string; openblas: { architecture?: string; version?: string } | null; gflops: BlasProbe['gflops'] };
  return { env, unset, blas: j.blas, architecture: j.openblas?.architecture ?? null, version: j.openblas?.version ?? null, ...(j.gflops ? { gflops: j.gflops } : {}) };
}

/** OpenBLAS kernels worth trying on this CPU (from its flags), fastest family first. */
function kernelsFor(flags: Set<string>): string[] {
  const out: string[] = [];
  if (flags.has('avx512f') && flags.has('avx512bw')) out.push('SkylakeX');
  if (flags.has('avx512_bf16')) out.push('Cooperlake');
  if (flags.has('avx2') && flags.has('fma')) out.push('Haswell');
  return out;
}

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

/** Probes the candidates and returns the fastest correct one. */
export function chooseBlas(threads: number, log: (line: string) => void = () => undefined): BlasChoice | { skipped: string } {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k.startsWith('OPENBLAS') && v !== undefined)) as Record<string, string>;
  const candidates: BlasProbe[] = [probeBlas(threads)];
  const first = candidates[0]!;
  if (first.blas === 'OpenBLAS') {
    if (OPENBLAS_VARS.some((k) => k in inherited)) candidates.push(probeBlas(threads, {}, OPENBLAS_VARS));
    for (const kernel of kernelsFor(cpuFlags())) candidates.push(probeBlas(threads, { OPENBLAS_CORETYPE: kernel }, ['OPENBLAS_L2_SIZE']));
  }
  for (const c of candidates) {
    const how = [...Object.entries(c.env).map(([k, v]) => `${k}=${v}`), ...c.unset.map((k) => `-${k}`)].join(' ') || 'as inherited';
    log(`BLAS under PyTorch, ${how}: ${c.error ? `failed (${c.error})` : `${c.blas}${c.architecture ? ` ${c.architecture}` : ''}, ${c.gflops!.median.toFixed(1)} GFLOP/s`}`);
  }
  const good = candidates.filter((c) => !c.error && c.gflops);
  if (good.length === 0) return { skipped: `PyTorch's matmul failed: ${first.error ?? 'no result'}` };
  const best = good.reduce((a, b) => (b.gflops!.median > a.gflops!.median ? b : a));
  return {
    env: best.env,
    unset: best.unset,
    blas: best.blas!,
    architecture: best.architecture ?? null,
    version: best.version ?? null,
    gflops: best.gflops!,
    inherited,
    candidates,
    size: 1024,
    threads,
  };
}
