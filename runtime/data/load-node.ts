// One call for the CLI: `--data` (and `--valid`) specs to a Dataset.
import { resolveData } from './corpora-node.ts';
import { buildDataset, type Dataset, type DatasetOptions } from './dataset.ts';

export interface LoadOptions extends DatasetOptions {
  /** A corpus name or a file path (see resolveData). */
  data: string;
  /** A separate validation source; without it the last validFraction of `data` is held out. */
  valid?: string;
}

export function loadDataset(opts: LoadOptions): Dataset {
  return buildDataset(resolveData(opts.data), opts, opts.valid === undefined ? undefined : resolveData(opts.valid));
}
