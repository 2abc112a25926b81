// The values of literal tokens: numbers and strings as written → their values.
// Problems are returned, not thrown; the AST builder turns them into diagnostics.

/** int, float or exponent: `12`, `0.02`, `1e-5`, `2.5E+3`. */
const numberSyntax = /^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** The value of a number token, or what is wrong with it. */
export function numberValue(text: string): number | 'malformed' | 'too large' {
  if (!numberSyntax.test(text)) return 'malformed';
  const value = Number(text);
  return Number.isFinite(value) ? value : 'too large';
}

export interface BadEscape {
  /** Offset of the backslash within the token text. */
  offset: number;
  /** The escape as written, e.g. `\q`. */
  text: string;
}

export interface StringValue {
  value: string;
  badEscapes: BadEscape[];
}

const escapes: Record<string, string> = { '"': '"', '\\': '\\', n: '\n' };

/**
 * The value of a string token: the text between the quotes with `\"`, `\\` and `\n` decoded.
 * An unterminated string (no closing quote) has everything after its opening quote.
 * An unknown escape is kept as written and reported. The quote is whatever the token opens
 * with, so a (reported) single-quoted string gets its value too.
 */
export function stringValue(image: string): StringValue {
  const closed = image.length >= 2 && image.endsWith(image[0]!) && !endsInEscape(image);
  const body = image.slice(1, closed ? -1 : undefined);
  const badEscapes: BadEscape[] = [];
  let value = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      value += c;
      continue;
    }
    const next = body[i + 1];
    // A backslash at the very end belongs to an unterminated string, reported as such.
    if (next === undefined) {
      value += c;
      break;
    }
    const decoded = escapes[next];
    if (decoded === undefined) {
      badEscapes.push({ offset: i + 1, text: c + next });
      value += c + next;
    } else value += decoded;
    i++;
  }
  return { value, badEscapes };
}

/** `"abc\"` is unterminated: its last quote is escaped. */
function endsInEscape(image: string): boolean {
  let backslashes = 0;
  for (let i = image.length - 2; i > 0 && image[i] === '\\'; i--) backslashes++;
  return backslashes % 2 === 1;
}
