// The surface syntax, construct by construct: what each piece of text parses to.
import { describe, expect, it } from 'vitest';
import type * as ast from '../../grammar/ast.ts';
import { parse, printAst } from '../../grammar/index.ts';

function clean(text: string): ast.SourceFile {
  const { file, diagnostics } = parse(text, 'test.peft');
  expect(diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return file;
}

/** `<expr>` as the AST printer writes it, on one line and without ranges. */
function expr(source: string): string {
  const lines = printAst(clean(`config { x = ${source} }`)).trim().split('\n');
  // Lines 0-2 open the file, the config and the entry; the last line closes all three.
  const inner = lines.slice(3).map((line) => line.trim().replace(/ @[\d:-]+/g, ''));
  return inner.join(' ').slice(0, -')))'.length);
}

describe('expressions', () => {
  it('give * and / precedence over + and -, all left-associative', () => {
    expect(expr('1 + 2 * 3')).toBe('(binary + (number 1) (binary * (number 2) (number 3)))');
    expect(expr('a - b - c')).toBe('(binary - (binary - (ident a) (ident b)) (ident c))');
    expect(expr('a / b * c')).toBe('(binary * (binary / (ident a) (ident b)) (ident c))');
    expect(expr('(a + b) * c')).toBe('(binary * (binary + (ident a) (ident b)) (ident c))');
  });

  it('bind unary minus tighter than binary operators', () => {
    expect(expr('-a * b')).toBe('(binary * (unary - (ident a)) (ident b))');
    expect(expr('- -1')).toBe('(unary - (unary - (number 1)))');
    expect(expr('a--b')).toBe('(binary - (ident a) (unary - (ident b)))');
  });

  it('read numbers as written and as values', () => {
    const values = ['0', '12', '0.02', '1e-5', '2.5E+3', '10e2'].map((text) => {
      const entry = (clean(`config { x = ${text} }`).items[0] as ast.ConfigDecl).entries[0]!;
      return entry.value;
    });
    expect(values.map((v) => (v as ast.NumberLit).value)).toEqual([0, 12, 0.02, 1e-5, 2500, 1000]);
    expect(values.map((v) => (v as ast.NumberLit).text)).toEqual(['0', '12', '0.02', '1e-5', '2.5E+3', '10e2']);
  });

  it('decode the string escapes \\" \\\\ and \\n', () => {
    const entry = (clean(String.raw`config { x = "a\"b\\c\nd" }`).items[0] as ast.ConfigDecl).entries[0]!;
    expect(entry.value).toMatchObject({ kind: 'string', value: 'a"b\\c\nd' });
  });

  it('parse booleans, lists, calls, named arguments and dotted names', () => {
    expect(expr('true')).toBe('(bool true)');
    expect(expr('[1, [a], []]')).toBe('(list (number 1) (list (ident a)) (list))');
    expect(expr('f()')).toBe('(call f)');
    expect(expr('mlp(hidden = 512)')).toBe('(call mlp (arg hidden (number 512)))');
    expect(expr('h.attn.c_attn')).toBe('(ident h.attn.c_attn)');
  });
});

describe('items', () => {
  it('parse an empty file, and comments anywhere', () => {
    expect(clean('').items).toEqual([]);
    expect(clean('# only a comment').items).toEqual([]);
    const file = clean('config { # sizes\n  d = 8 # the width\n} # done');
    expect((file.items[0] as ast.ConfigDecl).entries).toHaveLength(1);
  });

  it('parse imports', () => {
    expect(clean('import "gpt2.peft"').items[0]).toMatchObject({ kind: 'import', path: { value: 'gpt2.peft' } });
  });

  it('parse blocks with default parameters, and blocks without a parameter list', () => {
    const [a, b] = clean('block A(d, heads = 12, eps = 1e-5) { } block B { x = Linear(1, 1) }').items as ast.BlockDecl[];
    expect(a!.params.map((p) => [p.name.name, p.default?.kind])).toEqual([
      ['d', undefined],
      ['heads', 'number'],
      ['eps', 'number'],
    ]);
    expect(b!.params).toEqual([]);
    expect(b!.members.map((m) => m.name.name)).toEqual(['x']);
  });

  it('take `forward` before or after the members', () => {
    const model = clean('model M { forward(t) { return a(t) } a = Linear(1, 1) }').items[0] as ast.ModelDecl;
    expect(model.members.map((m) => m.name.name)).toEqual(['a']);
    expect(model.forward?.params.map((p) => p.name)).toEqual(['t']);
  });

  it('parse inline PEFT methods after `with`', () => {
    const model = clean('model M { c = Linear(1, 1) with lora(rank = 8), adapter(bottleneck = 16) }').items[0] as ast.ModelDecl;
    expect(model.members[0]!.methods.map((c) => c.callee.name)).toEqual(['lora', 'adapter']);
  });

  it('treat names that only begin like keywords, and builtin-looking names, as names', () => {
    const model = clean('model M { modelName = 1 format = 2 self = 3 output = 4 LayerNorm = LayerNorm(1) }').items[0] as ast.ModelDecl;
    expect(model.members.map((m) => m.name.name)).toEqual(['modelName', 'format', 'self', 'output', 'LayerNorm']);
  });

  it('accept \\r\\n line breaks and a byte-order mark', () => {
    expect(clean('\uFEFFconfig {\r\n  d = 8\r\n}\r\n').items).toHaveLength(1);
  });
});

describe('peft rules', () => {
  it('parse targets, several exclude clauses and overrides, in source order', () => {
    const peft = clean(`peft {
      train "score"
      lora(rank = 8) on "a", "b" exclude "c" override "d" (rank = 16) exclude "e", "f" override "g" ()
      prompt(length = 20)
    }`).items[0] as ast.PeftDecl;
    expect(peft.rules.map((r) => r.kind)).toEqual(['train_rule', 'method_rule', 'method_rule']);
    const lora = peft.rules[1] as ast.MethodRule;
    expect(lora.targets.map((s) => s.value)).toEqual(['a', 'b']);
    expect(lora.exclude.map((s) => s.value)).toEqual(['c', 'e', 'f']);
    expect(lora.overrides.map((o) => [o.pattern.value, o.args.length])).toEqual([
      ['d', 1],
      ['g', 0],
    ]);
    expect((peft.rules[2] as ast.MethodRule).targets).toEqual([]);
  });
});

describe('parse()', () => {
  it('never throws, and reports what it cannot read', () => {
    for (const text of ['', '}', '"', '\\', '\u0000', '\uD800', 'model', 'peft { lora( }']) {
      expect(() => parse(text, 'odd.peft')).not.toThrow();
    }
    expect(parse('\u0000', 'odd.peft').diagnostics.map((d) => d.code)).toEqual(['E0103']);
  });

  it('reuses one parser: a file parses the same after a broken one', () => {
    const text = 'config { d = 8 }';
    const before = parse(text, 'a.peft');
    parse('block A( { x = ', 'broken.peft');
    expect(parse(text, 'a.peft')).toEqual(before);
  });
});
