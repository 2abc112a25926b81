// Seeded hostile suites for what a user hands the compiler: mutants of the example programs
// (byte flips, token deletions and duplications, splices of other examples, deep nesting,
// huge numbers, unicode, very long names) through check and params, and `--set` values
// (random text, numbers in every notation, huge, zero and negative sizes, prototype names).
// Each case must end in a model or in error diagnostics, within a time bound, with bounded
// output: never a throw, never an internal error (E0199, E0900). A few cases run the CLI itself.
// FUZZ_SEED=n varies the seeds.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile, type CompileResult } from '../../compiler/build.ts';
import { checkParamsFit, ModelSizeError } from '../../compiler/size.ts';
import { count } from '../../compiler/params.ts';
import { reportText } from '../../cli/common.ts';
import { paramsText } from '../../cli/params.ts';
import { createStore } from '../../runtime/arena.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { EXAMPLES, overlayHost, tinySet } from '../helpers.ts';
import { FILES, mutate, pick, TEXTS } from './hostile-mutate.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0);
/** CPU time one case may take: compiling a 4096-layer mutant fits, a hang does not. */
const CASE_MS = 8000;

/** The invariants of every case: diagnostics with codes and no internal error, bounded output. */
function checkOutcome(res: CompileResult, what: string): void {
  const internal = res.diagnostics.filter((d) => d.code === 'E0199' || d.code === 'E0900');
  expect(internal, what).toEqual([]);
  for (const d of res.diagnostics) expect(d.code, what).toMatch(/^[EW]\d{4}$/);
  if (!res.graph) expect(res.diagnostics.some((d) => d.severity === 'error') || (res.omitted?.errors ?? 0) > 0, what).toBe(true);
  const report = reportText(res);
  expect(report.length, what).toBeLessThan(60_000);
}

function timed<T>(what: string, fn: () => T): T {
  const u0 = process.cpuUsage();
  const v = fn();
  const u = process.cpuUsage(u0);
  expect((u.user + u.system) / 1000, what).toBeLessThan(CASE_MS);
  return v;
}

describe('hostile .peft mutants through check and params', () => {
  it.each(FILES)('%s: 40 seeded mutants end in a model or diagnostics', (file) => {
    const path = resolve(EXAMPLES, file);
    const rng = new Random(file.length * 104_729 + SEED);
    for (let i = 0; i < 40; i++) {
      let text = TEXTS.get(file)!;
      for (let k = 1 + rng.int(2); k > 0; k--) text = mutate(text, rng);
      const what = `${file} mutant ${i} (FUZZ_SEED=${SEED})`;
      const res = timed(what, () => compile(path, overlayHost({ [path]: text }), { set: tinySet(file) }));
      checkOutcome(res, what);
      if (res.graph) {
        const shown = timed(what, () => paramsText(res, {}));
        expect(shown, what).toContain('trainable params: ');
      }
    }
  });
});

describe('hostile --set values', () => {
  const NOTATIONS = ['0x10', '0o7', '0b101', '1_000', '1e3', '1E3', '.5', '5.', '-0', '+3', 'Infinity', '-Infinity', 'NaN', '1e308', '1e309', '1e-320', '00012', '1.2.3', '2x', ' 4 ', '"4"', 'true', 'null', '[]', '{}', '4,', '=4'];
  const SIZES = ['0', '-1', '-64', '0.5', '1', '3', '7', '1e6', '1e9', '65536', '2147483647', '2147483648', '4097'];
  const KEYS = ['n_layer', 'n_embd', 'n_head', 'n_positions', 'vocab_size', 'n_inner', 'layer_norm_epsilon', 'resid_pdrop', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'valueOf', 'n layer', '', 'é', '😀'];

  function randomText(rng: Random): string {
    const alphabet = ['a', 'Z', '0', '9', '_', '.', '-', '+', 'e', 'x', '=', ',', '"', ' ', '\\', '😀', '\u0000', '\n'];
    return Array.from({ length: rng.int(12) }, () => pick(rng, alphabet)).join('');
  }

  it('random keys and values, every notation, huge, zero and negative sizes: a model or E05xx/E03xx diagnostics', () => {
    const rng = new Random(7 + SEED);
    const path = resolve(EXAMPLES, 'tiny-gpt-lora.peft');
    for (let i = 0; i < 400; i++) {
      const key = rng.int(4) === 0 ? randomText(rng) : pick(rng, KEYS);
      const value = pick(rng, [() => pick(rng, NOTATIONS), () => pick(rng, SIZES), () => randomText(rng)])();
      const spec = rng.int(5) === 0 ? `${key}=${value},${pick(rng, KEYS)}=${pick(rng, SIZES)}` : `${key}=${value}`;
      const what = `--set ${JSON.stringify(spec)} (FUZZ_SEED=${SEED})`;
      const res = timed(what, () => compile(path, overlayHost({}), { set: [spec] }));
      checkOutcome(res, what);
      if (!res.graph) continue;
      // Parameters either fit or are a ModelSizeError; small models are really allocated.
      const values = res.graph.params.reduce((a, p) => a + count(p.shape), 0);
      if (values < 5e6) expect(() => createStore(res.graph!, 'f32'), what).not.toThrow();
      else {
        try {
          checkParamsFit(res.graph.params, 4, 'the parameters', res.graph.config);
        } catch (e) {
          expect(e, what).toBeInstanceOf(ModelSizeError);
        }
      }
    }
  });
});

describe('the CLI on hostile input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-hostile-'));
  const run = (...args: string[]) => spawnSync(process.execPath, [resolve(import.meta.dirname, '../../bin/peftc.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const base = `import "${resolve(EXAMPLES, 'tiny-gpt.peft')}"\n`;

  it.each([
    ['a 32,800-character pattern', () => ['check', file('long.peft', `${base}peft { lora(rank = 2) on "${'a'.repeat(32_800)}" }\n`)], 'E0407'],
    ['10,000 rules on one line', () => ['check', file('rules.peft', `${base}peft { ${Array.from({ length: 10_000 }, (_, i) => `lora(rank = 2) on "n${i}"`).join(' ')} }\n`)], '10000 errors'],
    ['--set n_layer=0x2', () => ['params', resolve(EXAMPLES, 'tiny-gpt.peft'), '--set', 'n_layer=0x2'], '--set n_layer=0x2: error E0501: `0x2` is not a number (use decimal, e.g. 2)'],
  ])('%s: one clear report, exit 1', (_, args, expected) => {
    const res = run(...args());
    expect(res.status, res.stderr).toBe(1);
    expect(res.stderr).toContain(expected);
    expect(res.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(res.stderr.length).toBeLessThan(20_000);
  });
});
