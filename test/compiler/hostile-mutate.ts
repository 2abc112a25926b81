// Hostile changes to .peft programs for the seeded suites (hostile-fuzz.test.ts): byte flips,
// token deletions and duplications, splices of other examples, deep nesting, huge numbers,
// unicode, very long names and lines.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Random } from '../../runtime/cpu/random.ts';
import { EXAMPLES } from '../helpers.ts';

export const FILES = readdirSync(EXAMPLES).filter((f) => f.endsWith('.peft'));
export const TEXTS = new Map(FILES.map((f) => [f, readFileSync(resolve(EXAMPLES, f), 'utf8')]));

/** A mutation adds at most this many characters: hostile, not a test of the machine's memory. */
const MAX_GROWTH = 400_000;

export const pick = <T>(rng: Random, items: readonly T[]): T => items[rng.int(items.length)]!;
const TOKEN = /\d+(?:\.\d+)?(?:e-?\d+)?|[A-Za-z_]\w*|"[^"\n]*"|[^\s\w]/g;
const HUGE = ['1e308', '9007199254740993', '123456789012345678901234567890', '1e-400', '0.0000000001', '4096', '2147483648', '0'];
const UNICODE = ['é', '😀', '\uD83D', '\u0000', '\uFEFF', '\u202E', '\u200B', 'Ω', '\r', '\t'];

/** One hostile change to a program. */
export function mutate(text: string, rng: Random): string {
  const tokens = [...text.matchAll(TOKEN)];
  const at = (m: RegExpMatchArray) => [m.index!, m.index! + m[0].length] as const;
  const some = () => pick(rng, tokens);
  switch (rng.int(9)) {
    case 0: {
      // flip a byte
      const i = rng.int(text.length);
      return text.slice(0, i) + String.fromCharCode(rng.int(0x80)) + text.slice(i + 1);
    }
    case 1: {
      const [a, b] = at(some());
      return text.slice(0, a) + text.slice(b);
    }
    case 2: {
      const m = some();
      const [, b] = at(m);
      return text.slice(0, b) + ' ' + m[0].repeat(1 + rng.int(3)) + text.slice(b);
    }
    case 3: {
      // a piece of another example spliced in
      const other = TEXTS.get(pick(rng, FILES))!;
      const s = rng.int(other.length);
      const i = rng.int(text.length);
      return text.slice(0, i) + other.slice(s, s + 1 + rng.int(400)) + text.slice(i);
    }
    case 4: {
      // nesting around a number
      const nums = tokens.filter((m) => /^\d/.test(m[0]));
      if (!nums.length) return text;
      const [a, b] = at(pick(rng, nums));
      const depth = pick(rng, [20, 127, 129, 300, 2000]);
      const open = pick(rng, ['(', '[', '-', '(-']);
      const close = open === '(' ? ')' : open === '[' ? ']' : open === '(-' ? ')' : '';
      return text.slice(0, a) + open.repeat(depth) + text.slice(a, b) + close.repeat(depth) + text.slice(b);
    }
    case 5: {
      const nums = tokens.filter((m) => /^\d/.test(m[0]));
      if (!nums.length) return text;
      const [a, b] = at(pick(rng, nums));
      return text.slice(0, a) + pick(rng, HUGE) + text.slice(b);
    }
    case 6: {
      const i = rng.int(text.length);
      return text.slice(0, i) + pick(rng, UNICODE).repeat(1 + rng.int(4)) + text.slice(i);
    }
    case 7: {
      // a very long name, or a very long string
      const m = some();
      const [a, b] = at(m);
      const long = m[0].startsWith('"') ? `"${'h.*.'.repeat(1 + rng.int(MAX_GROWTH / 20))}"` : 'x'.repeat(1 + rng.int(MAX_GROWTH / 8));
      return text.slice(0, a) + long + text.slice(b);
    }
    default: {
      // a line many times over on one line
      const lines = text.split('\n');
      const line = pick(rng, lines);
      const times = Math.min(1 + rng.int(3000), Math.floor(MAX_GROWTH / (line.length + 1)));
      return text + '\n' + Array.from({ length: times }, () => line).join(' ');
    }
  }
}

