// Real kernels on the llvmpipe adapter (see adapter-suite.ts). A missing adapter fails, never skips.
import { adapterSuite } from './adapter-suite.ts';

adapterSuite('llvmpipe');
