// The .peft formatter (`peftc fmt`, the language server's formatting): one canonical layout,
// deterministic and idempotent, every comment kept.
//
// It re-emits the file's own tokens, so it only ever changes blanks and line breaks:
//   - two spaces per level of `{ }`, `( )` and `[ ]` opened on an earlier line, or, where a `(`
//     or `[` has more on its line, the column after it (arguments aligned under the first); a
//     statement that goes on over several lines (`adapter(…)` then `on "…"`) indents its later
//     lines by two;
//   - one space around `=` and binary operators and after `,`; none inside brackets, before a
//     call's `(`, around `.` or after a unary `-`;
//   - every member, config entry, statement and rule starts its own line, `{` ends the line that
//     opens it, `}` has a line of its own (`{}` stays as it is);
//   - the line breaks the author chose are kept, runs of blank lines become one, none after `{`
//     or before `}`, none at the start or end; `\n` line ends, one at the end of the file;
//   - a comment keeps its line: alone on it (indented as the code around it) or after the code,
//     as far from it as the author put it (one space at least), with trailing blanks removed.
// A file with syntax errors is not formatted: its errors come back instead. Long lines are not
// wrapped: where a line breaks stays the author's choice.
import type { IToken, TokenType } from 'chevrotain';
import type * as ast from './ast.ts';
import type { Diagnostic } from './diagnostics.ts';
import { lex } from './lexer.ts';
import { parse } from './parse.ts';
import { SourceText } from './source-text.ts';
import * as t from './tokens.ts';

export type FormatResult = { text: string; diagnostics: [] } | { text?: undefined; diagnostics: Diagnostic[] };

const INDENT = 2;

/** `text` in the canonical layout, or the syntax errors that stop it from being formatted. */
export function formatSource(text: string, path: string): FormatResult {
  const parsed = parse(text, path);
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) return { diagnostics: errors };
  const { tokens } = lex(new SourceText(path, text));
  return { text: layout(elementsOf(text, tokens), landmarks(parsed.file)), diagnostics: [] };
}

/** A token, or a comment (no type), with the line breaks between it and the element before it. */
interface Element {
  image: string;
  type?: TokenType;
  offset: number;
  breaks: number;
  /** For a comment after code: the blanks before it in the source. */
  pad?: number;
}

/** The tokens with the comments between them, in order. */
function elementsOf(text: string, tokens: readonly IToken[]): Element[] {
  const out: Element[] = [];
  let from = 0;
  const gap = (to: number): number => {
    // Between two tokens there are only blanks and comments: anything else failed to lex.
    let breaks = 0;
    for (const m of text.slice(from, to).matchAll(/\r\n|\r|\n|#[^\n\r]*/g)) {
      if (!m[0].startsWith('#')) breaks++;
      else {
        const pad = /[ \t\f\v\uFEFF]*$/.exec(text.slice(from, from + m.index))![0].length;
        out.push({ image: m[0].trimEnd(), offset: from + m.index, breaks, pad: Math.max(1, pad) });
        breaks = 0;
      }
    }
    return breaks;
  };
  for (const token of tokens) {
    const breaks = gap(token.startOffset);
    out.push({ image: token.image, type: token.tokenType, offset: token.startOffset, breaks });
    from = token.startOffset + token.image.length;
  }
  gap(text.length);
  return out;
}

/** What the AST knows about layout: where a line must start, and which `-` are unary. */
interface Landmarks {
  lineStarts: Set<number>;
  unary: Set<number>;
}

function landmarks(file: ast.SourceFile): Landmarks {
  const lineStarts = new Set<number>();
  const unary = new Set<number>();
  const at = (node: ast.NodeBase) => lineStarts.add(node.range.start.offset);
  const expr = (e: ast.Expr): void => {
    if (e.kind === 'unary') {
      unary.add(e.range.start.offset);
      expr(e.operand);
    } else if (e.kind === 'binary') {
      expr(e.left);
      expr(e.right);
    } else if (e.kind === 'call') for (const a of e.args) expr(a.value);
    else if (e.kind === 'list') for (const i of e.items) expr(i);
  };
  const body = (b: { members: ast.Member[]; forward?: ast.Forward }) => {
    for (const m of b.members) {
      at(m);
      expr(m.value);
      for (const c of m.methods) expr(c);
    }
    if (!b.forward) return;
    at(b.forward);
    for (const s of b.forward.body) {
      at(s);
      expr(s.value);
    }
  };
  for (const item of file.items) {
    at(item);
    if (item.kind === 'config') for (const e of item.entries) (at(e), expr(e.value));
    else if (item.kind === 'block') {
      for (const p of item.params) if (p.default) expr(p.default);
      body(item);
    } else if (item.kind === 'model') body(item);
    else if (item.kind === 'peft') for (const rule of item.rules) (at(rule), ruleExprs(rule).forEach(expr));
  }
  return { lineStarts, unary };
}

function ruleExprs(rule: ast.Rule): ast.Expr[] {
  if (rule.kind === 'train_rule') return [];
  return [rule.method, ...rule.overrides.flatMap((o) => o.args.map((a) => a.value))];
}

const openers: ReadonlySet<TokenType> = new Set([t.LParen, t.LBracket, t.LCurly]);
const closers: ReadonlySet<TokenType> = new Set([t.RParen, t.RBracket, t.RCurly]);

function layout(elements: readonly Element[], marks: Landmarks): string {
  const lines: string[] = [];
  /** Each open bracket: the indent of its line and the column its contents align to; innermost last. */
  const open: { type: TokenType; indent: number; inner: number }[] = [];
  let line = '';
  let indent = 0;
  let prev: Element | undefined;

  const indentOf = (el: Element): number => {
    const top = open[open.length - 1];
    if (el.type && closers.has(el.type)) return top?.indent ?? 0;
    const base = top?.inner ?? 0;
    // A statement's later lines indent one more step; inside ( ) or [ ] the bracket already did.
    const continues = el.type !== undefined && !marks.lineStarts.has(el.offset) && top?.type !== t.LParen && top?.type !== t.LBracket;
    return base + (continues ? INDENT : 0);
  };

  elements.forEach((el, i) => {
    if (prev && startsLine(prev, el, marks)) {
      lines.push(line);
      const closes = el.type !== undefined && closers.has(el.type);
      if (el.breaks > 1 && !closes && prev.type !== t.LCurly) lines.push('');
      indent = indentOf(el);
      line = ' '.repeat(indent);
    } else if (prev) line += el.type === undefined ? ' '.repeat(el.pad ?? 1) : spaceBetween(prev, el, marks) ? ' ' : '';
    line += el.image;
    if (el.type && closers.has(el.type)) open.pop();
    if (el.type && openers.has(el.type)) {
      const next = elements[i + 1];
      const hangs = el.type === t.LCurly || !next || next.type === undefined || startsLine(el, next, marks);
      open.push({ type: el.type, indent, inner: hangs ? indent + INDENT : line.length });
    }
    prev = el;
  });
  if (prev) lines.push(line);
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** Whether `el` begins a line: where the layout requires it, or where the author broke the line (except before `{`). */
function startsLine(prev: Element, el: Element, marks: Landmarks): boolean {
  if (prev.type === undefined) return true; // a comment runs to the end of its line
  if (el.type === undefined) return el.breaks > 0;
  if (prev.type === t.LCurly) return el.type !== t.RCurly;
  if (el.type === t.RCurly || marks.lineStarts.has(el.offset)) return true;
  return el.breaks > 0 && el.type !== t.LCurly;
}

function spaceBetween(prev: Element, el: Element, marks: Landmarks): boolean {
  const a = prev.type!;
  const b = el.type!;
  if (a === t.LParen || a === t.LBracket || a === t.Dot) return false;
  if (b === t.RParen || b === t.RBracket || b === t.Comma || b === t.Dot) return false;
  if (a === t.Minus && marks.unary.has(prev.offset)) return false;
  if (b === t.LParen) return a !== t.Identifier && a !== t.Forward;
  return true;
}
