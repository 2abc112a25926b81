// Prompt-template field names that are also Object property names ({__proto__}, {constructor},
// {toString}) are plain names: read from a JSONL line's own properties only, and kept in a
// table with no prototype.
import { describe, expect, it } from 'vitest';
import { parseTemplate, type PromptTemplate } from '../../compiler/peft/template.ts';
import { buildDataset } from '../../runtime/data/dataset.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';

const byte = tokenizerByName('byte');
const tpl = (s: string) => parseTemplate(s) as PromptTemplate;
const codes = (s: string) => [...s].map((c) => c.charCodeAt(0));

function rows(template: string, text: string, task: 'causal_lm' | 'classification' = 'classification') {
  return buildDataset({ name: 'd.jsonl', format: 'jsonl', text }, { task, tokenizer: byte, seqLen: 24, validFraction: 0, template: { template: tpl(template), base: 256 } });
}

describe('template field names that are Object property names', () => {
  for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    it(`{${name}} reads the line's own "${name}" into the row`, () => {
      const d = rows(`[P:1] {${name}} [P:1] {b}`, `${JSON.stringify({ [name]: 'xy', b: 'z', label: 0 })}\n`);
      expect(Array.from(d.train[0]!.tokens)).toEqual([256, ...codes('xy'), 257, ...codes('z')]);
    });

    it(`a line without "${name}" is told it is missing, not that an inherited value is not a string`, () => {
      expect(() => rows(`[P:1] {${name}}`, '{"label": 0}\n')).toThrow(new RegExp(`^d\\.jsonl:1: missing "${name}"`));
    });
  }

  it('a one-field language-modelling template named {__proto__} is cut into rows of its own tokens', () => {
    const d = rows('[P:2] {__proto__}', `${JSON.stringify({ ['__proto__']: 'a'.repeat(30) })}\n`, 'causal_lm');
    expect(d.train.length).toBeGreaterThan(1);
    expect(Array.from(d.train[0]!.tokens.subarray(0, 4))).toEqual([256, 257, 97, 97]);
  });

  it('an inherited "label" is not a label', () => {
    expect(() => rows('[P:1] {toString}', '{"toString": "a"}\n')).toThrow(/d\.jsonl:1: missing "label"/);
  });
});
