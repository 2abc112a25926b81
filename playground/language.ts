// Highlighting of `.peft` text in CodeMirror: a stream tokenizer over the compiler's own
// vocabulary (its keyword tokens, its layers, builtin functions and PEFT methods), so a word the
// compiler gains is highlighted without a second list to keep.
import { StreamLanguage, type StreamParser } from '@codemirror/language';
import { keywords } from '../grammar/tokens.ts';
import { FUNCTIONS } from '../compiler/functions.ts';
import { LAYERS } from '../compiler/layers.ts';
import { METHODS } from '../compiler/peft/methods.ts';

const KEYWORDS = new Set(keywords.map((k) => (k.PATTERN as RegExp).source));
const BUILTINS = new Set([...Object.keys(LAYERS), ...Object.keys(FUNCTIONS)]);
const METHOD_NAMES = new Set(Object.keys(METHODS));

const parser: StreamParser<null> = {
  name: 'peft',
  token(stream) {
    if (stream.eatSpace()) return null;
    if (stream.match(/^#.*/)) return 'comment';
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return 'string';
    if (stream.match(/^'(?:[^'\\]|\\.)*'?/)) return 'string';
    if (stream.match(/^\d(?:[eE][+-]\d|[A-Za-z0-9_.])*/)) return 'number';
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (word) {
      const w = word[0];
      if (w === 'true' || w === 'false') return 'bool';
      if (KEYWORDS.has(w)) return 'keyword';
      if (METHOD_NAMES.has(w)) return 'macroName';
      if (BUILTINS.has(w)) return 'typeName';
      return /^[A-Z]/.test(w) ? 'className' : 'variableName';
    }
    if (stream.match(/^[-+*/=<>!]+/)) return 'operator';
    stream.next();
    return 'punctuation';
  },
  languageData: { commentTokens: { line: '#' }, closeBrackets: { brackets: ['(', '[', '{', '"'] } },
};

export const peftLanguage = StreamLanguage.define(parser);
