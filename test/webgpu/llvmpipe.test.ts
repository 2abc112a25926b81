// Real kernels on the llvmpipe adapter (see gpu-suite.ts). A missing adapter fails, never skips.
import { gpuSuite } from './gpu-suite.ts';

gpuSuite('llvmpipe');
