// Golden files: expected output kept next to the tests, compared as text.
// Run with UPDATE_GOLDEN=1 to rewrite them from the current output (then review the diff).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';

export const updating = Boolean(process.env.UPDATE_GOLDEN);

export function expectGolden(file: URL, actual: string): void {
  if (updating) writeFileSync(file, actual);
  expect(existsSync(file), `${file.pathname} is missing; run with UPDATE_GOLDEN=1`).toBe(true);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}
