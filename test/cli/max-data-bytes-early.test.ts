// A bad --max-data-bytes is reported with the other flag errors, before anything slow: the model
// (here a .peft file that does not exist) is never opened, so its error cannot come first.
import { describe, expect, it } from 'vitest';
import { peftc } from './peftc.ts';

const BAD = '--max-data-bytes: expected a size in bytes like 1073741824, 512M or 2GiB, got "12Q"';

describe('--max-data-bytes is checked before the model opens', () => {
  it.each([
    ['train', ['train', 'no-such-model.peft', '--data', 'd.txt']],
    ['eval', ['eval', 'no-such-model.peft', '--data', 'd.txt']],
    ['eval with named adapters', ['eval', 'no-such-model.peft', '--data', 'd.txt', '--adapter', 'a=no-such-dir', '--adapter', 'b=no-such-dir']],
  ])('%s', (_what, args) => {
    const r = peftc(...args, '--max-data-bytes', '12Q');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`peftc: ${BAD}\n`);
  });
});
