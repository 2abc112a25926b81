// Go to definition, find references, rename and the outline. A name's occurrences are gathered
// from every open document's analysis, so a constant declared in `gpt2.peft` and used in an
// open `gpt2-lora.peft` is found (and renamed) in both.
import { SymbolKind, type DocumentSymbol, type Location, type TextEdit, type WorkspaceEdit } from 'vscode-languageserver';
import type * as ast from '../../grammar/ast.ts';
import { keywords } from '../../grammar/tokens.ts';
import type { Analysis } from './analysis.ts';
import { pathToUri, toLocation, toRange } from './positions.ts';
import type { Occurrence } from './symbols.ts';

export function definition(a: Analysis, file: string, offset: number): Location | undefined {
  const s = a.index.at(file, offset)?.symbol;
  if (!s) return undefined;
  if (s.kind === 'import') return { uri: pathToUri(s.target!), range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } };
  return s.decl && toLocation(s.decl);
}

/** Every occurrence of the name at the cursor in the open documents' programs, once each. */
export function references(all: Analysis[], a: Analysis, file: string, offset: number, includeDeclaration: boolean): Occurrence[] {
  const s = a.index.at(file, offset)?.symbol;
  if (!s) return [];
  const seen = new Map<string, Occurrence>();
  for (const other of all) {
    for (const o of other.index.occurrencesOf(s.key)) {
      // Scoped names (members, parameters, locals) are the same thing only where declared at the same place.
      if (s.decl && o.symbol.decl && s.kind !== 'import' && (o.symbol.decl.file !== s.decl.file || o.symbol.decl.start.offset !== s.decl.start.offset)) continue;
      const key = `${o.range.file}\u0000${o.range.start.offset}`;
      if (!seen.has(key) && (includeDeclaration || !o.isDecl)) seen.set(key, o);
    }
  }
  return [...seen.values()];
}

/** Why the name at the cursor cannot be renamed, or its range. */
export function renameTarget(a: Analysis, file: string, offset: number): { occ: Occurrence } | { refusal: string } {
  const occ = a.index.at(file, offset);
  if (!occ) return { refusal: 'no name here to rename' };
  const kind = occ.symbol.kind;
  if (kind === 'member') return { refusal: 'a member\'s name is part of its parameters\' paths (the weights\' names): rename it by hand if you mean to' };
  if (kind === 'layer' || kind === 'function' || kind === 'method') return { refusal: `\`${occ.symbol.name}\` is a builtin` };
  if (kind === 'import') return { refusal: 'rename the file instead' };
  return { occ };
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The edits of a rename, or why `newName` cannot be the new name. */
export function rename(all: Analysis[], a: Analysis, file: string, offset: number, newName: string): WorkspaceEdit | string {
  const target = renameTarget(a, file, offset);
  if ('refusal' in target) return target.refusal;
  if (!NAME.test(newName)) return `\`${newName}\` is not a name: letters, digits and _, not starting with a digit`;
  if (keywords.some((k) => k.name.toLowerCase() === newName)) return `\`${newName}\` is a keyword`;
  const changes: Record<string, TextEdit[]> = {};
  for (const o of references(all, a, file, offset, true)) {
    (changes[pathToUri(o.range.file)] ??= []).push({ range: toRange(o.range), newText: newName });
  }
  return { changes };
}

/** The outline of one file: imports, config constants, blocks and the model with their members, peft rules. */
export function documentSymbols(file: ast.SourceFile): DocumentSymbol[] {
  return file.items.map((item) => {
    switch (item.kind) {
      case 'import':
        return symbol(`import "${item.path.value}"`, SymbolKind.File, item, item.path.range);
      case 'config':
        return symbol('config', SymbolKind.Namespace, item, item.range, item.entries.map((e) => symbol(e.name.name, SymbolKind.Constant, e, e.name.range)));
      case 'block':
      case 'model': {
        const children = item.members.map((m) => symbol(m.name.name, SymbolKind.Field, m, m.name.range));
        if (item.forward) children.push(symbol('forward', SymbolKind.Method, item.forward, item.forward.range));
        return symbol(item.name.name, item.kind === 'model' ? SymbolKind.Module : SymbolKind.Class, item, item.name.range, children);
      }
      case 'peft':
        return symbol('peft', SymbolKind.Namespace, item, item.range, item.rules.map((r) => symbol(ruleName(r), SymbolKind.Event, r, r.range)));
    }
  });
}

function ruleName(r: ast.Rule): string {
  const targets = (r.kind === 'train_rule' ? r.targets : r.targets).map((t) => `"${t.value}"`).join(', ');
  return r.kind === 'train_rule' ? `train ${targets}` : `${r.method.callee.name}${targets ? ` on ${targets}` : ''}`;
}

function symbol(name: string, kind: SymbolKind, node: ast.NodeBase, selection: ast.NodeBase['range'], children?: DocumentSymbol[]): DocumentSymbol {
  return { name: name || '?', kind, range: toRange(node.range), selectionRange: toRange(selection), ...(children?.length ? { children } : {}) };
}
