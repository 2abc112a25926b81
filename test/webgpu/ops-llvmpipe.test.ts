// The WGSL op kernels on the llvmpipe adapter (see op-suite.ts). A missing adapter fails, never skips.
import { opSuite } from './op-suite.ts';

opSuite('llvmpipe');
