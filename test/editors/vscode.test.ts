// The VS Code extension: its .vsix is built by editors/vscode/build.mjs (esbuild, then
// @vscode/vsce, offline) and its manifest checked; the TextMate grammar tokenizes .peft text
// with VS Code's own engine (vscode-textmate on vscode-oniguruma) into the expected scopes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as oniguruma from 'vscode-oniguruma';
import { INITIAL, Registry, type IGrammar } from 'vscode-textmate';
import yauzl from 'yauzl';

const ROOT = resolve(import.meta.dirname, '../..');
const EXT = join(ROOT, 'editors/vscode');

/** The files of a zip archive and their contents. */
function unzip(path: string): Promise<Map<string, Buffer>> {
  return new Promise((done, fail) => {
    yauzl.open(path, { lazyEntries: true }, (err, zip) => {
      if (err) return fail(err);
      const files = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e) return fail(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => (files.set(entry.fileName, Buffer.concat(chunks)), zip.readEntry()));
        });
      });
      zip.on('end', () => done(files));
      zip.on('error', fail);
      zip.readEntry();
    });
  });
}

describe('the VS Code extension package', () => {
  let files: Map<string, Buffer>;

  beforeAll(async () => {
    const vsix = join(mkdtempSync(join(tmpdir(), 'peftc-vsix-')), 'peft.vsix');
    const r = spawnSync(process.execPath, [join(EXT, 'build.mjs'), '-o', vsix], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    files = await unzip(vsix);
  }, 150_000);

  it('holds the manifest, the bundle, the grammar and the language configuration, and not the sources', () => {
    expect([...files.keys()].sort()).toEqual([
      '[Content_Types].xml',
      'extension.vsixmanifest',
      'extension/LICENSE.txt',
      'extension/dist/extension.js',
      'extension/language-configuration.json',
      'extension/package.json',
      'extension/readme.md',
      'extension/syntaxes/peft.tmLanguage.json',
    ]);
    const vsixManifest = files.get('extension.vsixmanifest')!.toString();
    expect(vsixManifest).toContain('<Identity Language="en-US" Id="peft-language" Version="0.1.0" Publisher="peftc"');
    expect(vsixManifest).toContain('<Property Id="Microsoft.VisualStudio.Code.Engine" Value="^1.91.0" />');
  });

  it('declares the peft language for .peft files with its grammar, and the settings the client reads', () => {
    const manifest = JSON.parse(files.get('extension/package.json')!.toString());
    expect(manifest.main).toBe('./dist/extension.js');
    expect(manifest.contributes.languages).toEqual([{ id: 'peft', aliases: ['peft', 'PEFT'], extensions: ['.peft'], configuration: './language-configuration.json' }]);
    expect(manifest.contributes.grammars).toEqual([{ language: 'peft', scopeName: 'source.peft', path: './syntaxes/peft.tmLanguage.json' }]);
    expect(Object.keys(manifest.contributes.configuration.properties)).toEqual(['peftc.path', 'peftc.set']);
    // The client library's own engine requirement is what the extension declares.
    const client = JSON.parse(readFileSync(join(ROOT, 'node_modules/vscode-languageclient/package.json'), 'utf8'));
    expect(manifest.engines.vscode).toBe(client.engines.vscode);
    const langConfig = JSON.parse(files.get('extension/language-configuration.json')!.toString());
    expect(langConfig.comments).toEqual({ lineComment: '#' });
  });

  it('bundles the language client: the extension needs only vscode and Node\'s own modules', () => {
    const bundle = files.get('extension/dist/extension.js')!.toString();
    const required = new Set([...bundle.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!));
    expect([...required].filter((m) => m !== 'vscode' && !builtinModules.includes(m.replace(/^node:/, '')))).toEqual([]);
    expect(required.has('vscode')).toBe(true);
    // It starts the server as `peftc lsp --stdio`.
    expect(bundle).toContain('"lsp","--stdio"');
  });
});

describe('the TextMate grammar', () => {
  let grammar: IGrammar;

  beforeAll(async () => {
    const require = createRequire(import.meta.url);
    const wasm = readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
    await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
    const registry = new Registry({
      onigLib: Promise.resolve({ createOnigScanner: (p) => new oniguruma.OnigScanner(p), createOnigString: (s) => new oniguruma.OnigString(s) }),
      loadGrammar: async () => JSON.parse(readFileSync(join(EXT, 'syntaxes/peft.tmLanguage.json'), 'utf8')),
    });
    grammar = (await registry.loadGrammar('source.peft'))!;
  });

  /** Each non-blank piece of `line` with its innermost scope. */
  const scopes = (line: string) =>
    grammar
      .tokenizeLine(line, INITIAL)
      .tokens.map((t) => [line.slice(t.startIndex, t.endIndex).trim(), t.scopes[t.scopes.length - 1]!] as const)
      .filter(([text]) => text !== '');

  it('scopes a PEFT rule: method, setting names, numbers, keywords, target strings with their globs, a comment', () => {
    expect(scopes('  lora(rank = 8, rslora = true) on "h.*.attn"  # LoRA')).toEqual([
      ['lora', 'support.function.method.peft'],
      ['(', 'punctuation.bracket.peft'],
      ['rank', 'variable.parameter.peft'],
      ['=', 'keyword.operator.peft'],
      ['8', 'constant.numeric.peft'],
      [',', 'punctuation.separator.comma.peft'],
      ['rslora', 'variable.parameter.peft'],
      ['=', 'keyword.operator.peft'],
      ['true', 'constant.language.boolean.peft'],
      [')', 'punctuation.bracket.peft'],
      ['on', 'keyword.other.peft'],
      ['"', 'punctuation.definition.string.begin.peft'],
      ['h.', 'string.quoted.double.peft'],
      ['*', 'keyword.operator.glob.peft'],
      ['.attn', 'string.quoted.double.peft'],
      ['"', 'punctuation.definition.string.end.peft'],
      ['# LoRA', 'comment.line.number-sign.peft'],
    ]);
  });

  it('scopes declarations, members, layers and calls', () => {
    expect(scopes('block Attention(d, heads) {')).toEqual([
      ['block', 'keyword.declaration.peft'],
      ['Attention', 'entity.name.type.peft'],
      ['(', 'punctuation.bracket.peft'],
      ['d', 'source.peft'],
      [',', 'punctuation.separator.comma.peft'],
      ['heads', 'source.peft'],
      [')', 'punctuation.bracket.peft'],
      ['{', 'punctuation.bracket.peft'],
    ]);
    expect(scopes('  c_attn = Linear(d, 3 * d, layout = in_out)').slice(0, 4)).toEqual([
      ['c_attn', 'variable.other.definition.peft'],
      ['=', 'keyword.operator.peft'],
      ['Linear', 'support.class.peft'],
      ['(', 'punctuation.bracket.peft'],
    ]);
    expect(scopes('    return dropout(c_proj(a), resid_pdrop)').slice(0, 2)).toEqual([
      ['return', 'keyword.control.peft'],
      ['dropout', 'entity.name.function.peft'],
    ]);
  });

  it('tokenizes every example, every comment line as a comment', () => {
    const dir = join(ROOT, 'examples');
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.peft'))) {
      let state = INITIAL;
      for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
        const r = grammar.tokenizeLine(line, state);
        state = r.ruleStack;
        if (line.trimStart().startsWith('#')) expect(r.tokens.at(-1)!.scopes.at(-1), `${name}: ${line}`).toBe('comment.line.number-sign.peft');
      }
    }
  });
});
