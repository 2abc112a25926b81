// Run by memory.test.ts in a child process with a small heap: loads a data file as `peftc train`
// does and prints the peak resident memory.
import { loadDataset } from '../../runtime/data/load-node.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';

const data = loadDataset({ data: process.argv[2]!, task: 'causal_lm', tokenizer: tokenizerByName('byte'), seqLen: 128 });
const tokens = data.stats.train.tokens + data.stats.valid.tokens;
process.stdout.write(JSON.stringify({ tokens, maxRss: process.resourceUsage().maxRSS * 1024 }) + '\n');
