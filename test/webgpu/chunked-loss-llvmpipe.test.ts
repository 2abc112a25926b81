// The chunked loss on the llvmpipe adapter (chunked-loss-suite.ts). A missing adapter fails, never skips.
import { chunkedLossSuite } from './chunked-loss-suite.ts';

chunkedLossSuite('llvmpipe');
