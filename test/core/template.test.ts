// Prompt templates: parsing, the graph (soft_embedding over the groups' tables), the token rows
// and targets the data side builds, the equivalence of "[P:n] {text}" with prompt(length = n),
// training, and export.
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { parseTemplate, prefixedLength, promptTemplateOf, type PromptTemplate } from '../../compiler/peft/template.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuBackend } from '../../runtime/backend.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { Batcher } from '../../runtime/data/batches.ts';
import { baseline } from '../../runtime/data/bigram.ts';
import { buildDataset } from '../../runtime/data/dataset.ts';
import { chunkRows, composeRow } from '../../runtime/data/template.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';
import { initParams } from '../../runtime/init.ts';
import { planExport } from '../../runtime/interop/hf-peft.ts';
import { hfNameMap } from '../../runtime/interop/names.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { compileText, graphOfText } from '../helpers.ts';

const TINY = 'vocab_size=256,n_positions=64,n_embd=16,n_layer=2,n_head=2';
const byte = tokenizerByName('byte');
const tpl = (s: string) => parseTemplate(s) as PromptTemplate;

describe('template syntax', () => {
  it('splits virtual-token groups, fields and literal text', () => {
    const t = tpl('[P:4] {sentence} [P:2] It was');
    expect(t.pieces).toEqual([
      { kind: 'soft', group: 0, length: 4, start: 0 },
      { kind: 'field', name: 'sentence' },
      { kind: 'soft', group: 1, length: 2, start: 4 },
      { kind: 'text', text: 'It was' },
    ]);
    expect([t.groups, t.virtual, t.fields]).toEqual([[4, 2], 6, ['sentence']]);
  });

  it('keeps spaces that belong to literal text, drops those next to markers', () => {
    expect(tpl('{premise} Question: {hypothesis}?[P:3]').pieces).toEqual([
      { kind: 'field', name: 'premise' },
      { kind: 'text', text: ' Question: ' },
      { kind: 'field', name: 'hypothesis' },
      { kind: 'text', text: '?' },
      { kind: 'soft', group: 0, length: 3, start: 0 },
    ]);
  });

  it('knows the prefixed form that Hugging Face PEFT can hold', () => {
    expect(prefixedLength(tpl('[P:8] {text}'))).toBe(8);
    expect(prefixedLength(tpl('[P:8]{text}'))).toBe(8);
    expect(prefixedLength(tpl('[P:4] [P:4] {text}'))).toBeNull();
    expect(prefixedLength(tpl('[P:8] {text} .'))).toBeNull();
    expect(prefixedLength(tpl('{text} [P:8]'))).toBeNull();
  });

  it('says what is wrong', () => {
    expect(parseTemplate('{text}')).toMatch(/no virtual tokens/);
    expect(parseTemplate('[P:4] hello')).toMatch(/names no field/);
    expect(parseTemplate('[P:0] {text}')).toMatch(/n ≥ 1/);
    expect(parseTemplate('[P:4] {text} {oops')).toMatch(/brace/);
    expect(parseTemplate('[P:4] {1st}')).toMatch(/brace/);
    expect(parseTemplate('[P:x] {text}')).toMatch(/malformed virtual-token marker/);
  });

  it('reports template errors and length/template conflicts as diagnostics', () => {
    const msg = (rule: string) => compileText(`import "gpt2.peft"\npeft { ${rule} }`, [TINY]).diagnostics.map((d) => `${d.code} ${d.message}`).join('\n');
    expect(msg('prompt(template = "{text}") on "wte"')).toMatch(/E0404 prompt template "\{text\}": it places no virtual tokens/);
    expect(msg('prompt(length = 4, template = "[P:4] {text}") on "wte"')).toMatch(/exactly one of `length`/);
    expect(msg('prompt() on "wte"')).toMatch(/exactly one of `length`/);
    expect(msg('prompt(template = 4) on "wte"')).toMatch(/must be a string/);
  });
});

describe('the template in the graph', () => {
  it('gives each group its own table and looks the rows up with soft_embedding', () => {
    const g = graphOfText('import "gpt2.peft"\npeft { prompt(template = "[P:4] {text} [P:2] It was", init = vocab) on "wte" }', [TINY]);
    expect(g.params.filter((p) => p.origin === 'prompt').map((p) => [p.path, p.shape, p.partition])).toEqual([
      ['prompt_embeddings.0', [4, 16], 'trainable'],
      ['prompt_embeddings.1', [2, 16], 'trainable'],
    ]);
    const soft = g.nodes.find((n) => n.op === 'soft_embedding')!;
    expect(g.nodes[soft.inputs[2]!]!.op).toBe('input');
    expect(soft.shape).toEqual(['B', 'T', 16]);
    expect(g.promptLength).toBe(0);
    expect(g.nodes[g.outputs.logits]!.shape).toEqual(['B', 'T', 256]);
    expect(promptTemplateOf(g)!.base).toBe(256);
    // Prompt tuning's backward: activation gradients everywhere, weight gradients for the soft tokens only.
    const t = buildTrainingGraph(g);
    expect(t.grads.map((x) => x.path)).toEqual(['prompt_embeddings.0', 'prompt_embeddings.1']);
    expect(t.graph.nodes.slice(t.forwardEnd).filter((n) => n.op === 'soft_embedding_grad').map((n) => n.attrs)).toEqual([{ offset: 256, rows: 6 }]);
  });
});

describe('template rows', () => {
  const spec = { template: tpl('[P:2] {text} [P:1] ok'), base: 256 };

  it('places virtual ids past the vocabulary, the field and the literal text; the loss is on the field', () => {
    const row = composeRow(spec, byte, { text: [104, 105] }, 16, 'text', 'x')!;
    expect(Array.from(row.tokens)).toEqual([256, 257, 104, 105, 258, 111, 107]);
    expect(Array.from(row.lossMask)).toEqual([0, 0, 1, 1, 0, 0, 0]);
  });

  it('cuts the field to fit T, and drops an example with nothing left to learn', () => {
    const row = composeRow(spec, byte, { text: [1, 2, 3, 4, 5, 6] }, 8, 'text', 'x')!;
    expect(Array.from(row.tokens)).toEqual([256, 257, 1, 2, 3, 258, 111, 107]);
    expect(() => composeRow(spec, byte, { text: [1] }, 5, 'text', 'data.jsonl:3')).toThrow(/data.jsonl:3: the prompt template alone takes 5 of the 5 tokens/);
    // The last field is cut first (as a completion is), then the ones before it.
    const two = { template: tpl('{a} [P:1] {b}'), base: 256 };
    expect(Array.from(composeRow(two, byte, { a: [1, 2, 3], b: [4, 5] }, 5, 'b', 'x')!.tokens)).toEqual([1, 2, 3, 256, 4]);
    expect(composeRow(two, byte, { a: [1, 2, 3], b: [4, 5] }, 4, 'b', 'x')).toBeNull();
    expect(Array.from(composeRow(two, byte, { a: [1, 2, 3], b: [4, 5] }, 3, undefined, 'x')!.tokens)).toEqual([1, 2, 256]);
  });

  it('cuts a long text into several rows, each in the template', () => {
    const rows = chunkRows(spec, byte, 'text', [1, 2, 3, 4, 5, 6, 7], 8, true, 'x');
    expect(rows.map((r) => Array.from(r.tokens))).toEqual([
      [256, 257, 1, 2, 3, 258, 111, 107],
      [256, 257, 4, 5, 6, 258, 111, 107],
      [256, 257, 7, 258, 111, 107],
    ]);
  });

  it('refuses text past the vocabulary', () => {
    expect(() => composeRow({ template: tpl('[P:1] {text}'), base: 100 }, byte, { text: [120] }, 8, 'text', 'f:2')).toThrow(/f:2: field "text": token id 120 is outside the model's vocabulary of 100/);
  });

  it('builds language-modelling batches whose targets skip the virtual tokens and the literal text', () => {
    const data = buildDataset({ name: 'd.jsonl', format: 'jsonl', text: '{"text": "abc"}\n{"text": "de"}\n' }, { task: 'causal_lm', tokenizer: byte, seqLen: 10, validFraction: 0, template: spec });
    const b = new Batcher(data, { batchSize: 2, shuffle: false }).batch(0);
    expect(Array.from(b.tokens.data.subarray(0, 10))).toEqual([256, 257, 97, 98, 99, 258, 111, 107, 0, 0]);
    // position t predicts token t+1 when that is a field token: the last virtual token predicts 'a'.
    expect(Array.from(b.targets.data.subarray(0, 10))).toEqual([-100, 97, 98, 99, -100, -100, -100, -100, -100, -100]);
  });

  it('reads the template\'s fields from JSONL for classification, and plain text as {text}', () => {
    const cls = buildDataset(
      { name: 'c.jsonl', format: 'jsonl', text: '{"sentence": "good", "label": "pos"}\n{"sentence": "bad", "label": "neg"}\n' },
      { task: 'classification', tokenizer: byte, seqLen: 16, validFraction: 0, template: { template: tpl('[P:2] {sentence} [P:1] It was'), base: 256 } },
    );
    expect(Array.from(cls.train[0]!.tokens)).toEqual([256, 257, ...[...'good'].map((c) => c.charCodeAt(0)), 258, ...[...'It was'].map((c) => c.charCodeAt(0))]);
    expect(cls.train.map((r) => r.label)).toEqual([0, 1]);
    expect(() => buildDataset({ name: 'c.jsonl', format: 'jsonl', text: '{"text": "good", "label": 1}\n' }, { task: 'classification', tokenizer: byte, seqLen: 16, validFraction: 0, template: { template: tpl('[P:2] {sentence}'), base: 256 } })).toThrow(
      /c.jsonl:1: missing "sentence" \(this prompt template reads \{sentence\} from each line\)/,
    );
    const txt = buildDataset({ name: 't.txt', format: 'text', text: 'x'.repeat(20) }, { task: 'causal_lm', tokenizer: byte, seqLen: 8, validFraction: 0, template: { template: tpl('[P:3] {text}'), base: 256 } });
    expect(txt.train.map((r) => r.tokens.length)).toEqual([8, 8, 8, 8]);
    expect(() => buildDataset({ name: 't.txt', format: 'text', text: 'hello' }, { task: 'causal_lm', tokenizer: byte, seqLen: 8, validFraction: 0, template: { template: tpl('[P:3] {body}'), base: 256 } })).toThrow(/plain text fills the field \{text\}/);
  });

  it('gives a bigram baseline over the same positions (virtual tokens have no bigram)', () => {
    const data = buildDataset({ name: 't.txt', format: 'text', text: 'abcabcabcabcabcabcabc' }, { task: 'causal_lm', tokenizer: byte, seqLen: 8, validFraction: 0.3, template: { template: tpl('[P:2] {text}'), base: 256 } });
    const b = baseline(new Batcher(data, { batchSize: 2 }));
    expect(b.kind).toBe('bigram');
    expect(Number.isFinite(b.nats)).toBe(true);
  });
});

describe('"[P:n] {text}" is prompt tuning', () => {
  it('gives the loss, logits and gradient of prompt(length = n) with the same soft tokens', () => {
    const byLength = graphOfText('import "gpt2.peft"\npeft { prompt(length = 3) on "wte" }', [TINY]);
    const byTemplate = graphOfText('import "gpt2.peft"\npeft { prompt(template = "[P:3] {text}") on "wte" }', [TINY]);
    const s1 = createStore(byLength, 'f64');
    const s2 = createStore(byTemplate, 'f64');
    initParams(byLength, s1, { seed: 2 });
    initParams(byTemplate, s2, { seed: 2 });
    s2.trainable.view('prompt_embeddings.0').set(s1.trainable.view('prompt_embeddings'));
    const text = [72, 101, 108, 108, 111, 33, 10, 65, 98, 99];
    const tokens = { shape: [2, 5], data: Int32Array.from(text) };
    const rows = { shape: [2, 8], data: Int32Array.from([256, 257, 258, ...text.slice(0, 5), 256, 257, 258, ...text.slice(5)]) };
    const mask = [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1];
    const opts = { precision: 'f64' as const, training: true, step: 0 };
    const a = new CpuExecutor(buildTrainingGraph(byLength)).run(s1, { tokens, targets: lmTargets(tokens, 3) }, opts);
    const b = new CpuExecutor(buildTrainingGraph(byTemplate)).run(s2, { tokens: rows, targets: lmTargets(rows, 0, undefined, mask) }, opts);
    expect(Array.from(lmTargets(rows, 0, undefined, mask).data)).toEqual(Array.from(lmTargets(tokens, 3).data));
    expect(b.loss).toBeCloseTo(a.loss, 12);
    b.logits.data.forEach((v, i) => expect(v).toBeCloseTo(a.logits.data[i]!, 12));
    b.grads.get('prompt_embeddings.0')!.data.forEach((v, i) => expect(v).toBeCloseTo(a.grads.get('prompt_embeddings')!.data[i]!, 12));
  });
});

describe('training a template and exporting it', () => {
  it('lowers the loss on a small text', async () => {
    const g = graphOfText('import "gpt2.peft"\npeft { prompt(template = "[P:2] {text} [P:2] .", init = vocab) on "wte" }', [TINY, 'initializer_range=0.5']);
    const store = createStore(g, 'f32');
    initParams(g, store, { seed: 1 });
    const data = buildDataset({ name: 't.txt', format: 'text', text: 'the cat sat on the mat. '.repeat(8) }, { task: 'causal_lm', tokenizer: byte, seqLen: 16, validFraction: 0, template: promptTemplateOf(g)! });
    const batcher = new Batcher(data, { batchSize: 4, seed: 0 });
    const backend = new CpuBackend(buildTrainingGraph(g, { kind: 'adamw', lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, momentum: 0, clipNorm: 1 }), store);
    const losses: number[] = [];
    for (let s = 0; s < 60; s++) losses.push((await backend.step(batcher.batch(s), 0.1)).loss);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(losses.slice(-5))).toBeLessThan(0.95 * mean(losses.slice(0, 5)));
  });

  it('exports "[P:n] {text}" as PROMPT_TUNING and says why another template does not export', () => {
    const prefixed = graphOfText('import "gpt2.peft"\npeft { prompt(template = "[P:3] {text}") on "wte" }', [TINY], false);
    const plan = planExport(prefixed, hfNameMap(prefixed), { baseModel: null });
    expect(plan.parts.map((p) => [p.config.peft_type, p.config.num_virtual_tokens, p.entries.map((e) => [e.key, e.path, e.shape])])).toEqual([
      ['PROMPT_TUNING', 3, [['prompt_embeddings', 'prompt_embeddings.0', [3, 16]]]],
    ]);
    const other = graphOfText('import "gpt2.peft"\npeft { prompt(template = "[P:3] {text} [P:1]") on "wte" }', [TINY]);
    const skipped = planExport(other, hfNameMap(other), { baseModel: null });
    expect(skipped.parts).toEqual([]);
    expect(skipped.skipped.join()).toMatch(/only a template "\[P:n\] \{field\}" exports/);
  });
});
