// One call for the CLI: `--data` (and `--valid`) specs to a Dataset.
import { resolveData } from './corpora-node.ts';
import { buildDataset, type Dataset, type DatasetOptions } from './dataset.ts';

export interface LoadOptions extends DatasetOptions {
  /** A corpus name or a file path (see resolveData). */
  data: string;
  /** A separate validation source; without it the last validFraction of `data` is held out. */
  valid?: string;
  /** The largest data file read, in bytes (`--max-data-bytes`; default 1 GiB). */
  maxBytes?: number;
}

export function loadDataset(opts: LoadOptions): Dataset {
  const read = opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes };
  const train = resolveData(opts.data, read);
  // The same spec twice (`peftc eval` evaluates all of --data) is read and tokenized once.
  const valid = opts.valid === undefined ? undefined : opts.valid === opts.data ? train : resolveData(opts.valid, read);
  return buildDataset(train, opts, valid);
}
