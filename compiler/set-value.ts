// The value of one `--set key=value`: `true`, `false`, a decimal number (`12`, `-0.5`,
// `1e-5`), a quoted string, or a bare word (a string). Anything that starts like a number
// but is not a decimal one (`0x2`, `0b10`, `1_0`, `1e999`) is refused, not read the way
// JavaScript's Number() would.
import { elide } from '../grammar/elide.ts';

export type SetValue = number | boolean | string;

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const NUMBER_LIKE = /^[+-]?[.\d]/;

/** The value, or what is wrong with the text. */
export function parseSetValue(text: string): SetValue | { problem: string } {
  if (text === '') return { problem: 'no value after `=`; write key=value' };
  if (text === 'true') return true;
  if (text === 'false') return false;
  const quoted = /^"(.*)"$/s.exec(text);
  if (quoted) return quoted[1]!;
  if (DECIMAL.test(text)) {
    const n = Number(text);
    return Number.isFinite(n) ? n : { problem: `\`${elide(text, 40)}\` is too large to be a number` };
  }
  if (NUMBER_LIKE.test(text)) return { problem: `\`${elide(text, 40)}\` is not a number (use decimal${example(text)})` };
  return text;
}

/** `, e.g. 2` for `0x2`: what the user probably meant, written in decimal. */
function example(text: string): string {
  for (const guess of [Number(text), Number(text.replace(/_/g, ''))]) {
    if (Number.isFinite(guess)) return `, e.g. ${guess}`;
  }
  return ', e.g. 12 or 1e-5';
}
