// Real kernels on the swiftshader adapter (see adapter-suite.ts). A missing adapter fails, never skips.
import { adapterSuite } from './adapter-suite.ts';

adapterSuite('swiftshader');
