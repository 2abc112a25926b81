// Several adapters in one batch on SwiftShader (see multi-suite.ts). A missing adapter fails, never skips.
import { multiSuite } from './multi-suite.ts';

multiSuite('swiftshader');
