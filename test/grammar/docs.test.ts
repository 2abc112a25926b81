// The syntax codes are documented: every code of grammar/codes.ts has a row in docs/diagnostics.md.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SyntaxCode } from '../../grammar/codes.ts';

const doc = readFileSync(new URL('../../docs/diagnostics.md', import.meta.url), 'utf8');

describe('docs/diagnostics.md', () => {
  it.each(Object.entries(SyntaxCode))('documents %s (%s)', (_, code) => {
    expect(doc).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });
});
