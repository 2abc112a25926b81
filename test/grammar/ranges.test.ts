// Source ranges, checked against positions marked in the test input itself:
// `«name:` opens a marked span and `»` closes it; the markers are removed before parsing.
import { describe, expect, it } from 'vitest';
import type * as ast from '../../grammar/ast.ts';
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { parse } from '../../grammar/index.ts';

interface Marked {
  text: string;
  /** Marked spans by name, as [start, end) offsets into `text`. */
  spans: Map<string, [number, number]>;
}

function marked(input: string): Marked {
  const spans = new Map<string, [number, number]>();
  const open: { name: string; start: number }[] = [];
  let text = '';
  for (let i = 0; i < input.length; i++) {
    const opener = /^«(\w+):/.exec(input.slice(i));
    if (opener) {
      open.push({ name: opener[1]!, start: text.length });
      i += opener[0].length - 1;
    } else if (input[i] === '»') {
      const span = open.pop()!;
      spans.set(span.name, [span.start, text.length]);
    } else text += input[i];
  }
  return { text, spans };
}

function parseMarked(input: string) {
  const { text, spans } = marked(input);
  const { file, diagnostics } = parse(text, 'marked.peft');
  const offsets = (r: SourceRange): [number, number] => [r.start.offset, r.end.offset];
  const span = (name: string) => spans.get(name) ?? expect.fail(`no span ${name}`);
  return { file, diagnostics, text, offsets, span };
}

describe('source ranges', () => {
  it('cover blocks, members, calls, arguments and operators', () => {
    const { file, offsets, span } = parseMarked(`
«block:block Attention(«d:d», heads) {
  «member:c_attn = «call:«callee:Linear»(d, «times:3 * d», «named:layout = in_out»)» with «lora:lora(rank = 8)»»
  «fwd:forward(x) {
    «assign:q, k, v = split(c_attn(x), 3)»
    «ret:return «paren:(q + k) * v»»
  }»
}»`);
    const block = file.items[0] as ast.BlockDecl;
    expect(offsets(block.range)).toEqual(span('block'));
    expect(offsets(block.params[0]!.range)).toEqual(span('d'));
    const member = block.members[0]!;
    expect(offsets(member.range)).toEqual(span('member'));
    const call = member.value as ast.Call;
    expect(offsets(call.range)).toEqual(span('call'));
    expect(offsets(call.callee.range)).toEqual(span('callee'));
    expect(offsets(call.args[1]!.range)).toEqual(span('times'));
    expect(offsets(call.args[2]!.range)).toEqual(span('named'));
    expect(offsets(member.methods[0]!.range)).toEqual(span('lora'));
    const forward = block.forward!;
    expect(offsets(forward.range)).toEqual(span('fwd'));
    expect(offsets(forward.body[0]!.range)).toEqual(span('assign'));
    const ret = forward.body[1] as ast.Return;
    expect(offsets(ret.range)).toEqual(span('ret'));
    // A product whose left operand is in parentheses includes them.
    expect(offsets(ret.value.range)).toEqual(span('paren'));
  });

  it('cover peft rules, patterns and overrides', () => {
    const { file, offsets, span } = parseMarked(`peft {
  «rule:lora(rank = 8) on «c_attn:"c_attn"», "c_fc"
    exclude «h0:"h.0.*"»
    «override:override "h.1.*" (rank = 16)»»
  «train:train "score"»
}`);
    const [rule, train] = (file.items[0] as ast.PeftDecl).rules as [ast.MethodRule, ast.TrainRule];
    expect(offsets(rule.range)).toEqual(span('rule'));
    expect(offsets(rule.targets[0]!.range)).toEqual(span('c_attn'));
    expect(offsets(rule.exclude[0]!.range)).toEqual(span('h0'));
    expect(offsets(rule.overrides[0]!.range)).toEqual(span('override'));
    expect(offsets(train.range)).toEqual(span('train'));
  });

  it('give dotted names one range', () => {
    const { file, offsets, span } = parseMarked('model M { forward(x) { return «callee:h.attn»(x) } }');
    const ret = (file.items[0] as ast.ModelDecl).forward!.body[0] as ast.Return;
    const call = ret.value as ast.Call;
    expect(call.callee.name).toBe('h.attn');
    expect(offsets(call.callee.range)).toEqual(span('callee'));
  });

  it('count lines and columns from 1, with \\n, \\r\\n and tabs', () => {
    const text = 'config {\r\n\tx = 1\r\n  y = "é"\n}\n';
    const { file } = parse(text, 'lines.peft');
    const [x, y] = (file.items[0] as ast.ConfigDecl).entries;
    expect(x!.range.start).toEqual({ line: 2, col: 2, offset: 11 });
    expect(y!.value.range.start).toMatchObject({ line: 3, col: 7 });
    expect(y!.value.range.end).toMatchObject({ line: 3, col: 10 });
    expect(file.range.end).toEqual({ line: 5, col: 1, offset: text.length });
  });

  it('put a missing expression where it was expected, empty', () => {
    const { file, offsets, span, diagnostics } = parseMarked('config { x =«gap:» }');
    const entry = (file.items[0] as ast.ConfigDecl).entries[0]!;
    expect(entry.value).toMatchObject({ kind: 'ident', name: '<missing>' });
    expect(offsets(entry.value.range)).toEqual(span('gap'));
    expect(diagnostics.map((d) => d.code)).toEqual(['E0101']);
  });

  it('point diagnostics at the offending text', () => {
    const { diagnostics, offsets, span } = parseMarked(
      'model M { x = Linear(«named:layout = in_out», «positional:d») }\nconfig { y = «number:1.2.3» }',
    );
    const [positional, number] = diagnostics;
    expect(positional!.code).toBe('E0104');
    expect(offsets(positional!.range)).toEqual(span('positional'));
    expect(offsets(positional!.related![0]!.range)).toEqual(span('named'));
    expect(number!.code).toBe('E0106');
    expect(offsets(number!.range)).toEqual(span('number'));
  });
});
