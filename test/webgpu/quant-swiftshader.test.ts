// A quantized frozen base (int8, nf4, nf4dq) on the swiftshader adapter against the CPU reference (see quant-suite.ts).
// A missing adapter fails, never skips.
import { quantSuite } from './quant-suite.ts';

quantSuite('swiftshader');
