// Bad input to the generated train.py: token files, weight files (hand-made faults and seeded
// mutations of a real one), data and resume folders. Each is refused in one line naming the file
// (exit 1) or, for a mutation that leaves a valid file, runs; none ends in a Python traceback.
// One Python process runs every case (runTrainMains) to keep the suite short.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeSafetensors } from '../../runtime/io/safetensors.ts';
import { EXAMPLES } from '../helpers.ts';
import { buildTorch, rng, runTrainMains } from './torch-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-torch-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const trainer = join(dir, 'trainer');


interface Case {
  what: string;
  argv: string[];
  /** A file the one-line message must name. */
  names: string;
  /** A mutation may leave a valid file: then it runs (exit 0). */
  mayRun?: boolean;
}

const cases: Case[] = [];
const file = (name: string, data: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};
const tokens = () => join(dir, 'ok.json');
const grad = (extra: string[]) => ['--grad', '--out', join(dir, 'out.safetensors'), ...extra];

/** A safetensors file with a hand-written header over `body` bytes. */
function rawSafetensors(header: unknown, body = new Uint8Array(16)): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(body, 8 + h.length);
  return out;
}

beforeAll(async () => {
  file('text.txt', 'a few words of text to cut into rows of sixteen tokens, and a few more. '.repeat(8));
  await buildTorch(resolve(EXAMPLES, 'tiny-gpt-lora.peft'), trainer, { data: join(dir, 'text.txt'), seq: '16' });
  file('ok.json', '[[1, 2, 3, 4]]');
  for (const [name, text] of [
    ['out-of-vocab', '[[1, 2, 300]]'], ['negative', '[[-1, 3]]'], ['ragged', '[[1, 2], [3]]'], ['floats', '[[1.5, 2]]'],
    ['object', '{"a": 1}'], ['empty', '[]'], ['not-json', 'xx'], ['strings', '[["a", "b"]]'], ['flat', '[1, 2, 3]'],
  ]) cases.push({ what: `tokens: ${name}`, argv: grad(['--tokens', file(`${name}.json`, text!)]), names: `${name}.json` });
  cases.push({ what: 'tokens: no such file', argv: grad(['--tokens', join(dir, 'none.json')]), names: 'none.json' });

  const weights: [string, Uint8Array][] = [
    ['garbage', new TextEncoder().encode('not a safetensors file at all')],
    ['short', new Uint8Array(5)],
    ['header-not-json', rawSafetensors('{not json')],
    ['header-list', rawSafetensors([1, 2])],
    ['entry-not-object', rawSafetensors({ 'wte.weight': 3 })],
    ['unknown-dtype', rawSafetensors({ 'wte.weight': { dtype: 'F12', shape: [2], data_offsets: [0, 8] } })],
    ['shape-strings', rawSafetensors({ 'wte.weight': { dtype: 'F32', shape: ['a'], data_offsets: [0, 4] } })],
    ['offsets-outside', rawSafetensors({ 'wte.weight': { dtype: 'F32', shape: [4], data_offsets: [8, 24] } })],
    ['offsets-reversed', rawSafetensors({ 'wte.weight': { dtype: 'F32', shape: [0], data_offsets: [8, 4] } })],
    ['wrong-shape', serializeSafetensors({ 'wte.weight': { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) } })],
    ['other-names', serializeSafetensors({ 'transformer.wte.weight': { dtype: 'F32', shape: [256, 64], data: new Float32Array(256 * 64) } })],
  ];
  for (const [name, bytes] of weights) cases.push({ what: `--init: ${name}`, argv: grad(['--tokens', tokens(), '--init', file(`${name}.safetensors`, bytes)]), names: `${name}.safetensors` });

  // Seeded mutations of the real initial weights: bytes of the header (and a few of the body)
  // overwritten, or the file cut short.
  const real = new Uint8Array(readFileSync(join(trainer, 'weights.safetensors')));
  const headerEnd = 8 + Number(new DataView(real.buffer, real.byteOffset).getBigUint64(0, true));
  const r = rng(2024);
  for (let k = 0; k < 40; k++) {
    const m = real.slice();
    const cut = k % 8 === 7;
    for (let j = 0; j < 1 + (k % 3); j++) m[Math.floor(r() * (k % 5 === 4 ? m.length : headerEnd))] = Math.floor(r() * 256);
    const bytes = cut ? m.subarray(0, Math.floor(r() * m.length)) : m;
    cases.push({ what: `--init: mutation ${k}`, argv: grad(['--tokens', tokens(), '--init', file(`m${k}.safetensors`, bytes)]), names: `m${k}.safetensors`, mayRun: !cut });
  }

  cases.push({ what: 'training: --data garbage', argv: ['--data', file('data.safetensors', 'xx'), '--out', join(dir, 'run')], names: 'data.safetensors' });
  cases.push({ what: 'training: --data without rows', argv: ['--data', join(trainer, 'weights.safetensors'), '--out', join(dir, 'run')], names: 'weights.safetensors' });
  cases.push({ what: 'training: --seq longer than the rows', argv: ['--seq', '999', '--out', join(dir, 'run')], names: join(trainer, 'data.safetensors') });
  cases.push({ what: 'training: --resume without a state', argv: ['--resume', dir, '--out', join(dir, 'run')], names: dir });
}, 60_000);

describe('train.py refuses bad input in one line', () => {
  it('every case: exit 1 and one line naming the file, or a run', () => {
    const results = runTrainMains(cases.map((c) => ({ folder: trainer, argv: c.argv })), 100_000);
    expect(results).toHaveLength(cases.length);
    let refused = 0;
    results.forEach((res, i) => {
      const c = cases[i]!;
      if (c.mayRun && (res.rc === 0 || res.rc === null)) return;
      refused++;
      expect(res.rc, `${c.what}: ${res.stderr}`).toBe(1);
      const lines = res.stderr.trim().split('\n');
      expect(lines, c.what).toHaveLength(1);
      expect(lines[0]!.startsWith('train.py: '), c.what).toBe(true);
      expect(lines[0], c.what).toContain(c.names);
    });
    expect(refused).toBeGreaterThan(cases.length / 2);
  }, 120_000);
});
