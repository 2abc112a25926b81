// --tokenizer NAME|PATH on Node: a built-in name (byte, gpt2, llama), or a Hugging Face
// tokenizer.json — the file, or a directory holding it (and its tokenizer_config.json).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DataError } from '../source.ts';
import { TOKENIZER_NAMES, tokenizerByName, type Tokenizer, type TokenizerName } from '../tokenizer.ts';
import { HfJsonTokenizer } from './hf-json.ts';

/** tokenizer.json files larger than this are refused (the largest on the Hub are ~20 MB). */
export const MAX_TOKENIZER_BYTES = 256 * 1024 * 1024;

const loaded = new Map<string, Tokenizer>();

export function loadTokenizer(nameOrPath: string): Tokenizer {
  if (TOKENIZER_NAMES.includes(nameOrPath as TokenizerName)) return tokenizerByName(nameOrPath);
  if (!existsSync(nameOrPath)) {
    throw new DataError(`unknown tokenizer \`${nameOrPath}\`: not one of ${TOKENIZER_NAMES.join(', ')}, and no such file or directory`);
  }
  const file = statSync(nameOrPath).isDirectory() ? join(nameOrPath, 'tokenizer.json') : nameOrPath;
  let tok = loaded.get(file);
  if (!tok) loaded.set(file, (tok = new HfJsonTokenizer(file, readJson(file), configBeside(file))));
  return tok;
}

/** tokenizer_config.json next to a tokenizer.json (its eos and pad tokens), if there is one. */
function configBeside(file: string): Record<string, unknown> {
  const config = join(dirname(file), 'tokenizer_config.json');
  if (basename(file) === 'tokenizer_config.json' || !existsSync(config)) return {};
  const json = readJson(config);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new DataError(`${config}: not a JSON object`);
  return json as Record<string, unknown>;
}

function readJson(file: string): unknown {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new DataError(`${file}: not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (size > MAX_TOKENIZER_BYTES) throw new DataError(`${file}: ${size} bytes is larger than a tokenizer file may be (${MAX_TOKENIZER_BYTES})`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(`${file}: not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}
