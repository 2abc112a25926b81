// Target patterns over module paths, as Hugging Face PEFT reads a `target_modules` list
// (`check_target_module_exists`: the key equals the target or ends with "." + target): a
// pattern matches a module whose whole path it matches, or the part of the path after any
// dot. So `"c_attn"` and `"attn.c_attn"` both match every `h.N.attn.c_attn`. Patterns are
// globs: `*` matches within one segment, `?` one character of a segment, `**` anything,
// dots included.
//
// Matching is a dynamic programme over pattern × path, not a regular expression: time is
// linear in each length whatever the pattern (no catastrophic backtracking), and no
// pattern is too large to compile.
import { editDistance } from '../suggest.ts';

/** Longer patterns are refused: module paths are a few dozen characters. */
export const MAX_PATTERN_LENGTH = 1000;

export interface PathPattern {
  text: string;
  matches(path: string): boolean;
}

type Piece = { kind: 'char'; c: number } | { kind: 'one' } | { kind: 'star' } | { kind: 'globstar' };

const DOT = 46;

export function compilePattern(text: string): PathPattern {
  const pieces = parsePieces(text);
  return { text, matches: (path) => matchesPieces(pieces, path) };
}

function parsePieces(text: string): Piece[] {
  const pieces: Piece[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '*' && text[i + 1] === '*') {
      // `***…` is one `**`.
      while (text[i + 1] === '*') i++;
      pieces.push({ kind: 'globstar' });
    } else if (c === '*') pieces.push({ kind: 'star' });
    else if (c === '?') pieces.push({ kind: 'one' });
    else pieces.push({ kind: 'char', c: text.charCodeAt(i) });
  }
  return pieces;
}

/**
 * reach[j]: the pieces so far match path[s, j) for some start s at the beginning of the path
 * or just after a dot (the suffix rule).
 */
function matchesPieces(pieces: Piece[], path: string): boolean {
  const n = path.length;
  let reach = new Uint8Array(n + 1);
  for (let j = 0; j <= n; j++) reach[j] = j === 0 || path.charCodeAt(j - 1) === DOT ? 1 : 0;
  let next = new Uint8Array(n + 1);
  for (const p of pieces) {
    let any = 0;
    for (let j = 0; j <= n; j++) {
      const prev = j > 0 ? path.charCodeAt(j - 1) : -1;
      let v = 0;
      if (p.kind === 'char') v = j > 0 && reach[j - 1] && prev === p.c ? 1 : 0;
      else if (p.kind === 'one') v = j > 0 && reach[j - 1] && prev !== DOT ? 1 : 0;
      else if (p.kind === 'star') v = reach[j] || (j > 0 && next[j - 1] && prev !== DOT) ? 1 : 0;
      else v = reach[j] || (j > 0 && next[j - 1]) ? 1 : 0;
      next[j] = v;
      any |= v;
    }
    if (!any) return false;
    [reach, next] = [next, reach];
  }
  return reach[n] === 1;
}

/**
 * A few module paths nearest to a pattern that matched nothing, by edit distance to the path
 * or to its part after a dot. Paths that differ only in layer numbers count once (the first),
 * so a model with thousands of layers costs no more than one with two.
 */
export function nearestPaths(pattern: string, paths: Iterable<string>, count = 3): string[] {
  const probe = pattern.slice(0, 200);
  const byShape = new Map<string, string>();
  for (const p of paths) {
    const shape = p.replace(/(^|\.)\d+(?=\.|$)/g, '$1#');
    if (!byShape.has(shape)) byShape.set(shape, p);
  }
  return [...byShape.values()]
    .map((path) => ({ path, d: Math.min(...suffixes(path).map((s) => editDistance(probe, s))) }))
    .sort((a, b) => a.d - b.d || a.path.length - b.path.length || a.path.localeCompare(b.path))
    .slice(0, count)
    .map((x) => x.path);
}

/** `h.0.attn` → [`h.0.attn`, `0.attn`, `attn`]. */
function suffixes(path: string): string[] {
  const out = [path];
  for (let i = path.indexOf('.'); i >= 0; i = path.indexOf('.', i + 1)) out.push(path.slice(i + 1));
  return out;
}
