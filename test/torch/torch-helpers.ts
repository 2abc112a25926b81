// Shared by the torch target's tests: a Python that imports torch, building a trainer folder
// in-process, seeded weights for every parameter, and reading safetensors back.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTorchCommand } from '../../cli/build-torch.ts';
import type { BuildFlags } from '../../cli/build-flags.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { getFloat32, parseSafetensors, serializeSafetensors, type WriteTensor } from '../../runtime/io/safetensors.ts';

let python: string | undefined;

/** The first of $PEFTC_PYTHON, python3, /usr/bin/python3 that imports torch (scripts/setup-torch.sh installs it). */
export function torchPython(): string {
  if (python) return python;
  const candidates = [process.env.PEFTC_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return (python = c);
  }
  throw new Error(`no Python with torch among ${candidates.join(', ')}: run scripts/setup-torch.sh`);
}

export interface PyResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a Python program (or `-m module`) with torch's threads kept to one per process. */
export function runPython(args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): PyResult {
  const r = spawnSync(torchPython(), args, {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    env: { ...process.env, OMP_NUM_THREADS: '1', ...opts.env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `peftc build FILE --target torch -o DIR` with the CLI's defaults, in this process. */
export async function buildTorch(file: string, out: string, flags: Partial<BuildFlags> = {}): Promise<void> {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    const code = await buildTorchCommand(file, { out, batch: '4', schedule: 'cosine', warmup: '0', target: 'torch', ...flags });
    if (code !== 0) throw new Error(`building ${file} failed`);
  } finally {
    process.stdout.write = write;
  }
}

export const rng = mulberry32;

/**
 * Every parameter drawn from a seeded uniform: norm scales around 1, the rest small and nonzero
 * (LoRA B too, so that every trainable gradient is exercised).
 */
export function writeRandomWeights(g: Graph, path: string, seed: number): void {
  const r = rng(seed);
  const tensors: Record<string, WriteTensor> = {};
  for (const p of g.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const gamma = p.shape.length === 1 && p.path.endsWith('weight');
    for (let i = 0; i < n; i++) data[i] = (gamma ? 1 : 0) + (r() - 0.5) * 0.4;
    tensors[p.path] = { dtype: 'F32', shape: p.shape, data };
  }
  writeFileSync(path, serializeSafetensors(tensors));
}

export function randomTokens(rows: number, cols: number, vocab: number, seed: number): number[][] {
  const r = rng(seed);
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.floor(r() * vocab)));
}

export function readTensors(path: string): Map<string, { shape: readonly number[]; data: Float32Array }> {
  const file = parseSafetensors(new Uint8Array(readFileSync(path)), { asFloat32: true });
  return new Map([...file.tensors].map(([name, t]) => [name, { shape: t.shape, data: getFloat32(file, name) }]));
}

/** max |a − b| over max(|b|), with the absolute floor `floor` (so that near-zero tensors compare absolutely). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/**
 * train.main(argv) of each trainer folder, all in one Python process (torch is imported once):
 * each case's exit code ('traceback' when it raised) and what it wrote.
 */
const DRIVER = `
import contextlib, io, json, sys, traceback
results = []
for folder, argv in json.load(open(sys.argv[1])):
    for m in ('train', 'model', 'ops', 'rank', 'safetensors_io'):
        sys.modules.pop(m, None)
    sys.path.insert(0, folder)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            import train
            rc = train.main(argv)
        except SystemExit as e:
            rc = e.code
        except BaseException:
            rc = 'traceback'
            err.write(traceback.format_exc())
    sys.path.remove(folder)
    results.append({'rc': rc, 'stderr': err.getvalue(), 'stdout': out.getvalue()})
print(json.dumps(results))
`;
import { mulberry32 } from '../prng.ts';

export interface MainResult {
  rc: number | string | null;
  stdout: string;
  stderr: string;
}

export function runTrainMains(cases: { folder: string; argv: string[] }[], timeoutMs = 120_000): MainResult[] {
  const tmp = mkdtempSync(join(tmpdir(), 'peftc-torch-driver-'));
  try {
    writeFileSync(join(tmp, 'cases.json'), JSON.stringify(cases.map((c) => [c.folder, c.argv])));
    writeFileSync(join(tmp, 'driver.py'), DRIVER);
    const r = runPython([join(tmp, 'driver.py'), join(tmp, 'cases.json')], { timeoutMs });
    if (r.status !== 0) throw new Error(`the Python driver failed: ${r.stderr.slice(-2000)}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as MainResult[];
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
