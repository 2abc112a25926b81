// Whole training plans on the llvmpipe adapter against the CPU reference (see plan-suite.ts).
// A missing adapter fails, never skips.
import { planSuite } from './plan-suite.ts';

planSuite('llvmpipe');
