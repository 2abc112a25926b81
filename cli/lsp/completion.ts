// Completion: module paths inside the target strings of `peft` rules (after `"h.*.attn.` the
// children `c_attn`, `c_proj`), argument and setting names inside a call's parentheses, and
// otherwise the names that fit where the cursor is: PEFT methods in a `peft` section; layers,
// blocks, builtin functions, members, parameters and constants in a block or model; the item
// keywords at the top level.
import { CompletionItemKind, InsertTextFormat, type CompletionItem } from 'vscode-languageserver';
import type * as ast from '../../grammar/ast.ts';
import { FUNCTIONS } from '../../compiler/functions.ts';
import { LAYERS } from '../../compiler/layers.ts';
import { walk, type ModuleInst } from '../../compiler/modules.ts';
import { compilePattern } from '../../compiler/peft/patterns.ts';
import { METHODS } from '../../compiler/peft/methods.ts';
import type { Analysis } from './analysis.ts';
import { functionBuiltin, layerBuiltin, methodBuiltin, type Builtin } from './signatures.ts';

const ITEM_KEYWORDS = ['import', 'config', 'block', 'model', 'peft'];
const RULE_KEYWORDS = ['on', 'exclude', 'override', 'train'];

/**
 * @param a the document's analysis (names, sections)
 * @param tree an analysis with a module tree (the latest that had one), for module paths
 */
export function complete(text: string, offset: number, a: Analysis, tree: Analysis | undefined): CompletionItem[] {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const before = text.slice(lineStart, offset);
  const target = targetPrefix(before);
  const root = tree?.result.root;
  if (target !== undefined) return root ? modulePaths(target, root) : [];
  const item = enclosingItem(a, offset);
  const out: CompletionItem[] = [];
  const callee = openCall(text, offset, lineStartOfItem(text, item, lineStart));
  if (callee) out.push(...argumentNames(callee, a));
  if (!item) return [...out, ...ITEM_KEYWORDS.map((k) => keyword(k))];
  if (item.kind === 'peft') return [...out, ...methods(), ...RULE_KEYWORDS.map((k) => keyword(k)), ...constants(a)];
  if (item.kind === 'config') return [...out, ...constants(a)];
  if (item.kind === 'block' || item.kind === 'model') return [...out, ...bodyNames(item, a), ...methods(), keyword('forward'), keyword('return'), keyword('with')];
  return out;
}

/** The part of a target string before the cursor, if the cursor is inside one. */
function targetPrefix(before: string): string | undefined {
  const quotes = (before.match(/(?<!\\)"/g) ?? []).length;
  if (quotes % 2 === 0) return undefined;
  const open = before.lastIndexOf('"');
  const head = before.slice(0, open);
  const inRule = /\b(on|exclude|override|train)\b/.test(head) || /^\s*(,|")/.test(before) || /,\s*$/.test(head);
  return inRule && !/^\s*import\b/.test(head) ? before.slice(open + 1) : undefined;
}

/** The names that can follow `prefix` in a module path (Hugging Face's suffix rule applies). */
function modulePaths(prefix: string, root: ModuleInst): CompletionItem[] {
  const dot = prefix.lastIndexOf('.');
  const parent = dot < 0 ? '' : prefix.slice(0, dot);
  const names = new Map<string, string>();
  const pattern = parent ? compilePattern(parent) : undefined;
  for (const m of walk(root)) {
    if (!m.path) continue;
    if (pattern ? pattern.matches(m.path) : true) {
      for (const c of pattern ? m.children : [m]) if (!names.has(c.name)) names.set(c.name, c.path);
    }
  }
  if (!pattern) for (const c of root.children) names.set(c.name, c.path);
  const items: CompletionItem[] = [...names].map(([name, example], i) => ({
    label: name,
    kind: CompletionItemKind.Module,
    detail: example,
    sortText: /^\d+$/.test(name) ? `1${name.padStart(8, '0')}` : `0${String(i).padStart(6, '0')}`,
  }));
  if ([...names.keys()].some((n) => /^\d+$/.test(n))) items.push({ label: '*', kind: CompletionItemKind.Operator, detail: 'every layer', sortText: '0' });
  return items;
}

function enclosingItem(a: Analysis, offset: number): ast.Item | undefined {
  const file = a.result.files.find((f) => f.path === a.entry);
  return file?.items.find((i) => i.range.start.offset <= offset && offset <= i.range.end.offset);
}

function lineStartOfItem(text: string, item: ast.Item | undefined, fallback: number): number {
  return item ? item.range.start.offset : Math.max(0, fallback - 2000);
}

/** The name before the innermost `(` still open at `offset` (scanning back no further than `from`). */
function openCall(text: string, offset: number, from: number): string | undefined {
  let depth = 0;
  for (let i = offset - 1; i >= from; i--) {
    const c = text[i];
    if (c === ')') depth++;
    else if (c === '(') {
      if (depth === 0) return /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(text.slice(Math.max(from, i - 100), i))?.[1];
      depth--;
    } else if (c === '{' || c === '}') return undefined;
  }
  return undefined;
}

function argumentNames(callee: string, a: Analysis): CompletionItem[] {
  const builtin = methodBuiltin(callee) ?? layerBuiltin(callee) ?? functionBuiltin(callee);
  const block = a.result.files.flatMap((f) => f.items).find((i): i is ast.BlockDecl => i.kind === 'block' && i.name.name === callee);
  const names = builtin?.params ?? block?.params.map((p) => p.name.name) ?? [];
  return names.map((n) => ({
    label: `${n} =`,
    kind: CompletionItemKind.Property,
    insertText: `${n} = `,
    detail: builtin?.signature ?? `block ${callee}`,
    sortText: `0${n}`,
  }));
}

function methods(): CompletionItem[] {
  return Object.keys(METHODS).map((name) => builtinItem(name, methodBuiltin(name)!, CompletionItemKind.Function));
}

function constants(a: Analysis): CompletionItem[] {
  return [...a.index.constants.keys()].map((name) => ({
    label: name,
    kind: CompletionItemKind.Constant,
    detail: a.config[name] === undefined ? 'config constant' : `= ${String(a.config[name])}`,
    sortText: `2${name}`,
  }));
}

function bodyNames(item: ast.BlockDecl | ast.ModelDecl, a: Analysis): CompletionItem[] {
  const out: CompletionItem[] = [];
  for (const name of ['repeat', 'Tied', ...Object.keys(LAYERS)]) out.push(builtinItem(name, layerBuiltin(name)!, CompletionItemKind.Class));
  for (const name of a.index.blocks.keys()) out.push({ label: name, kind: CompletionItemKind.Class, detail: 'block', sortText: `1${name}` });
  for (const name of Object.keys(FUNCTIONS)) out.push(builtinItem(name, functionBuiltin(name)!, CompletionItemKind.Function));
  for (const m of item.members) out.push({ label: m.name.name, kind: CompletionItemKind.Field, detail: `member of ${item.name.name}`, sortText: `0${m.name.name}` });
  if (item.kind === 'block') for (const p of item.params) out.push({ label: p.name.name, kind: CompletionItemKind.Variable, detail: `parameter of ${item.name.name}`, sortText: `0${p.name.name}` });
  return [...out, ...constants(a)];
}

function builtinItem(name: string, b: Builtin, kind: CompletionItemKind): CompletionItem {
  const required = b.signature.slice(name.length + 1, -1).split(', ').filter((p) => p && !p.includes('='));
  const snippet = required.length ? `${name}(${required.map((p, i) => `\${${i + 1}:${p}}`).join(', ')})` : `${name}($1)`;
  return {
    label: name,
    kind,
    detail: b.signature,
    documentation: b.doc,
    insertText: snippet,
    insertTextFormat: InsertTextFormat.Snippet,
    sortText: `1${name}`,
  };
}

function keyword(word: string): CompletionItem {
  return { label: word, kind: CompletionItemKind.Keyword, sortText: `3${word}` };
}
