// Real kernels on the swiftshader adapter (see gpu-suite.ts). A missing adapter fails, never skips.
import { gpuSuite } from './gpu-suite.ts';

gpuSuite('swiftshader');
