// A quantized frozen base (int8, nf4, nf4dq) on the llvmpipe adapter against the CPU reference (see quant-suite.ts).
// A missing adapter fails, never skips.
import { quantSuite } from './quant-suite.ts';

quantSuite('llvmpipe');
