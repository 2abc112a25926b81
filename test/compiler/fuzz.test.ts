// Fuzzing the whole front end: thousands of seeded, mostly well-formed mutations of the
// example programs (numbers, names, strings and lines swapped, deleted or duplicated) are
// compiled. Each must end in a graph or in error diagnostics — never a throw, never an
// internal error (E0199, E0900).
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/build.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { EXAMPLES, overlayHost, tinySet } from '../helpers.ts';

const NUMBERS = ['0', '1', '-1', '2.5', '3', '1e9', '4096', '0.5', '7', '1e-30'];
const WORDS = ['x', 'h', 'attn', 'Linear', 'LayerNorm', 'repeat', 'Tied', 'wte', 'lora', 'adapter', 'prefix', 'prompt', 'gelu', 'attention', 'split', 'in_out', 'relu', 'n_embd', 'true', 'heads'];
const STRINGS = ['"**"', '"*"', '"h.0"', '"nothing"', '"c_attn"', '"h.*.attn"', '""', '"wte"'];

function mutate(text: string, rng: Random): string {
  const lines = text.split('\n');
  const tokens = /\d+(?:\.\d+)?(?:e-?\d+)?|[A-Za-z_]\w*|"[^"\n]*"/g;
  const spots = [...text.matchAll(tokens)];
  const kind = rng.int(6);
  if (kind === 0 && lines.length > 1) lines.splice(rng.int(lines.length), 1);
  else if (kind === 1) {
    const i = rng.int(lines.length);
    lines.splice(i, 0, lines[rng.int(lines.length)]!);
  } else if (kind === 2 && lines.length > 1) {
    const [a, b] = [rng.int(lines.length), rng.int(lines.length)];
    [lines[a], lines[b]] = [lines[b]!, lines[a]!];
  } else if (spots.length) {
    const m = spots[rng.int(spots.length)]!;
    const pool = /^\d/.test(m[0]) ? NUMBERS : m[0].startsWith('"') ? STRINGS : WORDS;
    return text.slice(0, m.index) + pool[rng.int(pool.length)]! + text.slice(m.index! + m[0].length);
  }
  return lines.join('\n');
}

describe('compile fuzz', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.peft'));
  it.each(files)('%s: 400 mutations never crash the compiler', (file) => {
    const path = resolve(EXAMPLES, file);
    const original = readFileSync(path, 'utf8');
    const rng = new Random(file.length * 7919 + Number(process.env.FUZZ_SEED ?? 0));
    let compiled = 0;
    for (let i = 0; i < 400; i++) {
      let text = original;
      const n = 1 + rng.int(3);
      for (let k = 0; k < n; k++) text = mutate(text, rng);
      const res = compile(path, overlayHost({ [path]: text }), { set: tinySet(file) });
      const internal = res.diagnostics.filter((d) => d.code === 'E0199' || d.code === 'E0900');
      expect(internal, text).toEqual([]);
      if (res.graph) compiled++;
      else expect(res.diagnostics.some((d) => d.severity === 'error')).toBe(true);
    }
    expect(compiled).toBeGreaterThan(0); // some mutations are harmless and still compile
  });
});
