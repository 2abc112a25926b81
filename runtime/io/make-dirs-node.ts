// Creating a folder with its missing parents, one level at a time. Node's recursive mkdir never
// returns for some paths (under /proc, for one: it keeps retrying a parent it cannot make), which
// would hang the verb; made level by level, the first folder that cannot be made fails at once,
// with an error that names it (code and path, as fs reports them).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) missing.unshift(d);
  // There, but not a folder: the error mkdir gives for it.
  if (!missing.length && !statSync(dir).isDirectory()) throw fsError('EEXIST', 'file already exists', dir);
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      // Made meanwhile by someone else: fine, if it is a folder.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && statSync(d).isDirectory()) continue;
      throw e;
    }
  }
}

/** An error shaped as fs reports one (code, path, and the same message). */
function fsError(code: string, what: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${what}, mkdir '${path}'`), { code, path, syscall: 'mkdir' });
}
