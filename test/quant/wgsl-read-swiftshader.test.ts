// The WGSL quantized-weight reader on SwiftShader (see wgsl-read.ts). A missing adapter fails, never skips.
import { quantReadSuite } from './wgsl-read.ts';

quantReadSuite('swiftshader');
