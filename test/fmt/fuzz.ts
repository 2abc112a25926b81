// Seeded mutations of .peft programs for the formatter's tests: changes of layout (blanks,
// line breaks, comments and blank lines between tokens) that keep a program parsing, and the
// lexeme edits of test/grammar/fuzz.test.ts that mostly break it.
import { mulberry32 } from '../prng.ts';

export const prng = mulberry32;

type Random = () => number;
const pick = <T>(rand: Random, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const below = (rand: Random, n: number): number => Math.floor(rand() * n);

/** Lexemes as a reader would see them: blanks, comments, strings, words, single characters. */
const lexeme = /[ \t]+|\r\n|\n|#[^\n]*|"(?:[^"\\\n]|\\.)*"?|\w+|./gsu;
const blanks = [' ', '   ', '\t', '\n', '\n\n\n', '\r\n', ' # note\n', '\n# a comment line\n', '  #\n', ''];
const fragments = ['(', ')', '{', '}', ',', '=', '-', '*', 'x', '1', '"h.*"', 'on', 'with', 'lora(rank = 2)', '\n'];

/** Replaces the blanks between two lexemes, or puts some where there were none (between words only if they stay apart). */
function relayout(text: string, rand: Random): string {
  const ls = text.match(lexeme) ?? [];
  const n = 1 + below(rand, 6);
  for (let k = 0; k < n && ls.length > 1; k++) {
    const i = below(rand, ls.length);
    const blank = pick(rand, blanks);
    if (/^\s+$/.test(ls[i]!)) ls[i] = blank || ' ';
    else ls.splice(i + 1, 0, /^\w/.test(ls[i + 1] ?? '') || /\w$/.test(ls[i]!) ? blank || ' ' : blank);
  }
  return ls.join('');
}

function editLexemes(text: string, rand: Random): string {
  const ls = text.match(lexeme) ?? [];
  if (ls.length === 0) return text;
  const i = below(rand, ls.length);
  const r = rand();
  if (r < 0.4) ls.splice(i, 1);
  else if (r < 0.7) ls.splice(i, 0, ` ${pick(rand, fragments)} `);
  else ls.splice(i, 0, ls[i]!);
  return ls.join('');
}

/** One mutant of `text`: mostly layout changes, sometimes an edit of the tokens too. */
export function mutate(text: string, rand: Random): string {
  let out = relayout(text, rand);
  if (rand() < 0.3) out = editLexemes(out, rand);
  return out;
}
