// The compiler's file access in Node: paths relative to the importing file.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SourceHost } from '../compiler/load.ts';

export const nodeHost: SourceHost = {
  read(path) {
    try {
      return existsSync(path) && statSync(path).isFile() ? readFileSync(path, 'utf8') : undefined;
    } catch {
      return undefined;
    }
  },
  resolve: (from, spec) => resolve(dirname(from), spec),
};
