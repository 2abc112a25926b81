// The WGSL quantized-weight reader on llvmpipe (see wgsl-read.ts). A missing adapter fails, never skips.
import { quantReadSuite } from './wgsl-read.ts';

quantReadSuite('llvmpipe');
