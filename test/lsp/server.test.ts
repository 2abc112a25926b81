// The language server through a real client over stdio: initialize, diagnostics on open and
// change (ranges, related locations, across imports), hover, completion of module paths,
// definition, references, rename, code actions and formatting.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CodeActionRequest,
  CompletionRequest,
  DefinitionRequest,
  DidChangeConfigurationNotification,
  DocumentFormattingRequest,
  DocumentSymbolRequest,
  HoverRequest,
  PrepareRenameRequest,
  ReferencesRequest,
  RenameRequest,
  type CompletionItem,
  type CompletionList,
  type DocumentSymbol,
  type Hover,
  type Location,
  type TextEdit,
  type WorkspaceEdit,
} from 'vscode-languageserver-protocol/node';
import { EXAMPLES } from '../helpers.ts';
import { TestClient } from './client.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-lsp-'));
copyFileSync(join(EXAMPLES, 'gpt2.peft'), join(dir, 'gpt2.peft'));
writeFileSync(join(dir, 'broken.peft'), 'config {\n  width = 8 +\n}\n');

const FINE = ['import "gpt2.peft"', '', 'config {', '  r = 8', '  a = 2 * r', '}', '', 'peft {', '  lora(rank = r, alpha = a) on "h.*.attn.c_attn"', '}', ''].join('\n');

let client: TestClient;
let fine: string;

/** The protocol position of the `nth` occurrence of `needle` in `text`, `plus` characters in. */
function pos(text: string, needle: string, plus = 0, nth = 0) {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`no ${needle}`);
  const before = text.slice(0, at + plus).split('\n');
  return { line: before.length - 1, character: before[before.length - 1]!.length };
}

const hover = async (uri: string, text: string, needle: string, plus = 1, nth = 0) =>
  ((await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: pos(text, needle, plus, nth) })) as Hover | null)?.contents as { value: string } | undefined;

beforeAll(async () => {
  client = new TestClient();
  const init = await client.initialize();
  expect(init.capabilities.hoverProvider).toBe(true);
  expect(init.capabilities.documentFormattingProvider).toBe(true);
  expect(init.capabilities.renameProvider).toEqual({ prepareProvider: true });
  fine = await client.open(join(dir, 'fine.peft'), FINE);
}, 30_000);

afterAll(async () => {
  expect(await client.close()).toBe(0);
});

describe('peftc lsp', () => {
  it('publishes no diagnostics for a good file, then an error with its range on a change, then none once fixed', async () => {
    expect(await client.diagnosticsOf(fine)).toEqual([]);
    const typo = FINE.replace('2 * r', '2 * rr');
    const version = await client.change(fine, typo);
    const [d, ...rest] = await client.diagnosticsOf(fine, (p) => p.version === version);
    expect(rest).toEqual([]);
    expect(d!.code).toBe('E0201');
    expect(d!.message).toBe('unknown name `rr`. Did you mean `r`?');
    expect(d!.range).toEqual({ start: pos(typo, 'rr'), end: pos(typo, 'rr', 2) });

    const actions = (await client.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri: fine }, range: d!.range, context: { diagnostics: [d!] } })) as { title: string; edit: WorkspaceEdit }[];
    expect(actions.map((a) => a.title)).toEqual(['Change `rr` to `r`']);
    expect(actions[0]!.edit.changes![fine]).toEqual([{ range: d!.range, newText: 'r' }]);

    const fixed = await client.change(fine, FINE);
    expect(await client.diagnosticsOf(fine, (p) => p.version === fixed)).toEqual([]);
  });

  it('offers the nearest module paths for a target that matches nothing', async () => {
    const typo = FINE.replace('"h.*.attn.c_attn"', '"h.*.attn.c_atn"');
    const version = await client.change(fine, typo);
    const [d] = await client.diagnosticsOf(fine, (p) => p.version === version);
    expect(d!.code).toBe('E0401');
    expect(d!.range).toEqual({ start: pos(typo, '"h.*'), end: pos(typo, '"h.*', '"h.*.attn.c_atn"'.length) });
    const actions = (await client.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri: fine }, range: d!.range, context: { diagnostics: [d!] } })) as { title: string; edit: WorkspaceEdit }[];
    expect(actions[0]!.title).toBe('Target `h.*.attn.c_attn`');
    expect(actions[0]!.edit.changes![fine]).toEqual([{ range: d!.range, newText: '"h.*.attn.c_attn"' }]);
    const fixed = await client.change(fine, FINE);
    await client.diagnosticsOf(fine, (p) => p.version === fixed);
  });

  it('debounces: a burst of edits is compiled and published once, for the last version', async () => {
    const before = client.publications.get(fine) ?? 0;
    let last = 0;
    for (let i = 0; i < 5; i++) last = await client.change(fine, FINE.replace('r = 8', `r = ${i + 1}`));
    await client.diagnosticsOf(fine, (p) => p.version === last);
    await new Promise((done) => setTimeout(done, 400));
    expect((client.publications.get(fine) ?? 0) - before).toBeLessThanOrEqual(2);
    const restored = await client.change(fine, FINE);
    await client.diagnosticsOf(fine, (p) => p.version === restored);
  });

  it('shows an imported file\'s error on the import, with the real place as related information', async () => {
    const text = 'import "broken.peft"\nimport "gpt2.peft"\n';
    const uri = await client.open(join(dir, 'uses-broken.peft'), text);
    const [d] = await client.diagnosticsOf(uri);
    expect(d!.range).toEqual({ start: pos(text, '"broken'), end: pos(text, '"broken', '"broken.peft"'.length) });
    expect(d!.message).toMatch(/^broken\.peft:3:1: /);
    expect(d!.relatedInformation![0]!.location).toEqual({ uri: pathToFileURL(join(dir, 'broken.peft')).href, range: { start: { line: 2, character: 0 }, end: { line: 2, character: 1 } } });

    // Fixing the imported file in the editor (not on disk) checks its importer again.
    const broken = await client.open(join(dir, 'broken.peft'), 'config {\n  width = 8 +\n}\n');
    await client.diagnosticsOf(broken);
    const before = client.publications.get(uri) ?? 0;
    await client.change(broken, 'config {\n  width = 8\n}\n');
    expect(await client.diagnosticsOf(uri, () => (client.publications.get(uri) ?? 0) > before)).toEqual([]);
  });

  it('hovers: a config constant\'s value, a method\'s settings and modules, a target\'s matches, a member\'s paths and counts', async () => {
    expect((await hover(fine, FINE, 'rank = r', 7))!.value).toBe('**config** `r` = `8`');
    const method = (await hover(fine, FINE, 'lora'))!.value;
    expect(method).toContain('**PEFT method** `lora(rank, alpha = rank, dropout = 0, rslora = false, dora = false, lr_ratio = 1, init = kaiming)`');
    expect(method).toContain('Applied to `h.0.attn.c_attn`, `h.1.attn.c_attn` … `h.11.attn.c_attn` with rank = 8, alpha = 16');
    expect((await hover(fine, FINE, '"h.*'))!.value).toBe('**target** `"h.*.attn.c_attn"` matches 12 modules: `h.0.attn.c_attn`, `h.1.attn.c_attn` … `h.11.attn.c_attn` (in fine.peft)');

    const gpt2Text = (await import('node:fs')).readFileSync(join(dir, 'gpt2.peft'), 'utf8');
    const gpt2 = await client.open(join(dir, 'gpt2.peft'), gpt2Text);
    const member = (await hover(gpt2, gpt2Text, 'c_attn = '))!.value;
    expect(member).toContain('**member** `c_attn` of `Attention`');
    expect(member).toContain('12 modules: `h.0.attn.c_attn`, `h.1.attn.c_attn` … `h.11.attn.c_attn`');
    expect(member).toContain('Linear: weight [768, 2304], bias [2304]');
    expect(member).toContain('params: 21,261,312 · trainable: 21,261,312 (100.00%)');
    const layer = (await hover(gpt2, gpt2Text, 'LayerNorm(d'))!.value;
    expect(layer).toContain('**layer** `LayerNorm(dim, eps = 0.00001, affine = true)`');
  });

  it('takes --set values from the peftc.set setting', async () => {
    await client.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { peftc: { set: ['r=4'] } } });
    expect((await hover(fine, FINE, 'r = 8'))!.value).toBe('**config** `r` = `4` (from the `peftc.set` setting)');
    await client.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { peftc: { set: [] } } });
    expect((await hover(fine, FINE, 'r = 8'))!.value).toBe('**config** `r` = `8`');
  });

  it('completes module paths inside a target string, and settings inside a method call', async () => {
    const typing = FINE.replace('"h.*.attn.c_attn"', '"h.*.attn.');
    const version = await client.change(fine, typing);
    await client.diagnosticsOf(fine, (p) => p.version === version);
    const items = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri: fine }, position: pos(typing, 'attn.', 5) })) as CompletionItem[] | CompletionList;
    const labels = (Array.isArray(items) ? items : items.items).map((i) => i.label);
    expect(labels.sort()).toEqual(['c_attn', 'c_proj']);

    const layers = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri: fine }, position: pos(typing, '"h.', 3) })) as CompletionItem[];
    expect(layers.map((i) => i.label)).toEqual(expect.arrayContaining(['0', '11', '*']));

    const inCall = FINE.replace('rank = r, alpha = a', 'rank = r, ');
    await client.change(fine, inCall);
    const settings = (await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri: fine }, position: pos(inCall, 'rank = r, ', 10) })) as CompletionItem[];
    expect(settings.filter((i) => i.label.endsWith(' =')).map((i) => i.label)).toEqual(['rank =', 'alpha =', 'dropout =', 'rslora =', 'dora =', 'lr_ratio =', 'init =']);
    const version2 = await client.change(fine, FINE);
    await client.diagnosticsOf(fine, (p) => p.version === version2);
  });

  it('goes to definitions (a constant, an imported file) and finds references', async () => {
    const def = (await client.connection.sendRequest(DefinitionRequest.type, { textDocument: { uri: fine }, position: pos(FINE, 'rank = r', 7) })) as Location;
    expect(def).toEqual({ uri: fine, range: { start: pos(FINE, 'r = 8'), end: pos(FINE, 'r = 8', 1) } });
    const file = (await client.connection.sendRequest(DefinitionRequest.type, { textDocument: { uri: fine }, position: pos(FINE, 'gpt2', 1) })) as Location;
    expect(file.uri).toBe(pathToFileURL(join(dir, 'gpt2.peft')).href);

    const refs = (await client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri: fine }, position: pos(FINE, 'r = 8'), context: { includeDeclaration: true } })) as Location[];
    expect(refs.map((l) => l.range.start)).toEqual([pos(FINE, 'r = 8'), pos(FINE, '2 * r', 4), pos(FINE, 'rank = r', 7)]);
    // An imported file's references: every open file's import of it.
    const imports = (await client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri: fine }, position: pos(FINE, 'gpt2', 1), context: { includeDeclaration: true } })) as Location[];
    expect(imports.map((l) => l.uri).sort()).toEqual([fine, pathToFileURL(join(dir, 'uses-broken.peft')).href].sort());
  });

  it('renames a constant everywhere, refuses to rename a member or to a keyword', async () => {
    const edit = (await client.connection.sendRequest(RenameRequest.type, { textDocument: { uri: fine }, position: pos(FINE, 'r = 8'), newName: 'lora_rank' })) as WorkspaceEdit;
    expect(edit.changes![fine]!.map((e) => [e.range.start, e.newText])).toEqual([
      [pos(FINE, 'r = 8'), 'lora_rank'],
      [pos(FINE, '2 * r', 4), 'lora_rank'],
      [pos(FINE, 'rank = r', 7), 'lora_rank'],
    ]);
    // n_embd is declared in gpt2.peft and used in another open file that imports it: both are edited.
    const gpt2 = pathToFileURL(join(dir, 'gpt2.peft')).href;
    const gpt2Text = (await import('node:fs')).readFileSync(join(dir, 'gpt2.peft'), 'utf8');
    const user = await client.open(join(dir, 'uses-n-embd.peft'), 'import "gpt2.peft"\nconfig {\n  half = n_embd / 2\n}\n');
    const across = (await client.connection.sendRequest(RenameRequest.type, { textDocument: { uri: gpt2 }, position: pos(gpt2Text, 'n_embd = '), newName: 'width' })) as WorkspaceEdit;
    expect(across.changes![gpt2]!.length).toBe((gpt2Text.match(/\bn_embd\b/g) ?? []).length);
    expect(across.changes![user]).toEqual([{ range: { start: { line: 2, character: 9 }, end: { line: 2, character: 15 } }, newText: 'width' }]);

    await expect(client.connection.sendRequest(PrepareRenameRequest.type, { textDocument: { uri: gpt2 }, position: pos(gpt2Text, 'c_attn = ') })).rejects.toThrow(/part of its parameters' paths/);
    await expect(client.connection.sendRequest(RenameRequest.type, { textDocument: { uri: fine }, position: pos(FINE, 'r = 8'), newName: 'peft' })).rejects.toThrow('`peft` is a keyword');
  });

  it('outlines the document', async () => {
    const symbols = (await client.connection.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri: fine } })) as DocumentSymbol[];
    expect(symbols.map((s) => s.name)).toEqual(['import "gpt2.peft"', 'config', 'peft']);
    expect(symbols[1]!.children!.map((s) => s.name)).toEqual(['r', 'a']);
    expect(symbols[2]!.children!.map((s) => s.name)).toEqual(['lora on "h.*.attn.c_attn"']);
  });

  it('formats a document as peftc fmt does, and leaves a file with syntax errors alone', async () => {
    const messy = 'import "gpt2.peft"\nconfig { r=8 }\npeft {\n    lora(rank=r,alpha=16) on "h.*.attn.c_attn"\n}';
    await client.change(fine, messy);
    const edits = (await client.connection.sendRequest(DocumentFormattingRequest.type, { textDocument: { uri: fine }, options: { tabSize: 2, insertSpaces: true } })) as TextEdit[];
    expect(edits).toEqual([{ range: { start: { line: 0, character: 0 }, end: { line: 4, character: 1 } }, newText: 'import "gpt2.peft"\nconfig {\n  r = 8\n}\npeft {\n  lora(rank = r, alpha = 16) on "h.*.attn.c_attn"\n}\n' }]);
    await client.change(fine, 'config { r = }');
    expect(await client.connection.sendRequest(DocumentFormattingRequest.type, { textDocument: { uri: fine }, options: { tabSize: 2, insertSpaces: true } })).toEqual([]);
  });
});
