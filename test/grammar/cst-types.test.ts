// grammar/cst-types.ts is generated from the grammar; this test keeps it in step.
// Regenerate with: UPDATE_GOLDEN=1 npx vitest run test/grammar/cst-types.test.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { generateCstDts } from 'chevrotain';
import { describe, expect, it } from 'vitest';
import { peftParser } from '../../grammar/parser.ts';

const path = new URL('../../grammar/cst-types.ts', import.meta.url);

const header = `// GENERATED from grammar/parser.ts by test/grammar/cst-types.test.ts; do not edit.
// Regenerate with: UPDATE_GOLDEN=1 npx vitest run test/grammar/cst-types.test.ts
// Every child is optional: after error recovery a node may lack any of its parts.
`;

function generateCstTypes(): string {
  const dts = generateCstDts(peftParser.getGAstProductions(), { includeVisitorInterface: false });
  const optional = (body: string) => body.replace(/^( {2}\w+): /gm, '$1?: ');
  return header + dts.replace(/(CstChildren = \{\n)([\s\S]*?)(\n\};)/g, (_, open, body, close) => open + optional(body) + close);
}

describe('CST types', () => {
  it('grammar/cst-types.ts matches the grammar', () => {
    const expected = generateCstTypes();
    if (process.env.UPDATE_GOLDEN) writeFileSync(path, expected);
    expect(readFileSync(path, 'utf8')).toBe(expected);
  });
});
