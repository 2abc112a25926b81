// The output folder of a verb that writes one (build, build --target torch, playground): it must
// be new, empty, or one that verb wrote before (whose files it replaces), and it is made one level
// at a time (runtime/io/make-dirs-node.ts), every failure one line naming the folder.
import { existsSync, readdirSync } from 'node:fs';
import { makeDirs } from '../runtime/io/make-dirs-node.ts';
import { UserError } from './errors.ts';

/**
 * Refuses `-o DIR` when it holds something the verb did not write: `isOurs` reads its entries,
 * `why` says what is wrong with one that is not (`the folder exists and is not a built trainer`).
 */
export function checkOutDir(dir: string, isOurs: (entries: string[]) => boolean, why: string): void {
  if (!existsSync(dir)) return;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    throw new UserError(`-o ${dir}: not a folder`);
  }
  if (entries.length > 0 && !isOurs(entries)) throw new UserError(`-o ${dir}: ${why}; give a new or empty folder`);
}

/** Creates `-o DIR` (and its parents); a folder that cannot be made is one line naming it. */
export function outFolder(dir: string): void {
  try {
    makeDirs(dir);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UserError(`-o ${dir}: cannot create ${err.path ?? dir} (${err.code ?? err.message})`);
  }
}
